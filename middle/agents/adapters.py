"""The adapters middle ships: Claude Code, Codex, and any interactive command."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from middle.agents.base import AgentAdapter, BaseAdapter
from middle.errors import ConfigError
from middle.hooks import hook_script, install_hook_script
from middle.tmux import Tmux

CLAUDE_HOOK_EVENTS = ("SessionStart", "Stop", "Notification", "SessionEnd")


class ClaudeAdapter(BaseAdapter):
    """Claude Code, interactive, with its hooks in `.claude/settings.local.json` (the
    untracked local settings, so a repo's own `.claude/settings.json` is never touched)."""

    name = "claude"

    def argv(self) -> list[str]:
        mode = str(self.settings.get("permission_mode", "auto"))
        return [str(self.settings.get("binary", "claude")), "--permission-mode", mode]

    def install_hooks(self, worktree: Path) -> None:
        script = shlex.quote(str(install_hook_script(worktree)))
        settings_path = worktree / ".claude" / "settings.local.json"
        settings_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            settings = json.loads(settings_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            settings = {}
        settings["hooks"] = {
            event: [{"hooks": [{"type": "command", "command": f"{script} {event}"}]}]
            for event in CLAUDE_HOOK_EVENTS
        }
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")

    def enter_auto_mode(self, tmux: Tmux, session: str) -> None:
        """Accept the bypass-permissions warning if Claude shows it at start."""
        if "Bypass Permissions mode" in tmux.capture(session):
            tmux.send_keys(session, "Down")
            tmux.send_keys(session, "Enter")


class CodexAdapter(BaseAdapter):
    """Codex CLI: its `notify` hook is set at launch and fires when a turn completes; the
    session begins with the first prompt."""

    name = "codex"
    starts_session_on_first_prompt = True

    def build_launch_command(self, worktree: Path) -> tuple[list[str], dict[str, str]]:
        notify = json.dumps([str(hook_script(worktree)), "Stop"])  # a JSON array is TOML too
        return [*self.argv(), "-c", f"notify={notify}"], {}


class CommandAdapter(BaseAdapter):
    """Any interactive CLI, from `[adapters.command] argv` or `MIDDLE_AGENT_COMMAND`; the
    CLI calls `.middle/hooks/hook.sh` itself."""

    name = "command"

    def argv(self) -> list[str]:
        return [str(part) for part in self.settings.get("argv", [])]


ADAPTERS: dict[str, type[BaseAdapter]] = {
    "claude": ClaudeAdapter,
    "codex": CodexAdapter,
    "command": CommandAdapter,
}


def get_adapter(name: str, config: Mapping[str, Any]) -> AgentAdapter:
    """The adapter called `name`, configured from `[adapters.<name>]`."""
    if name not in ADAPTERS:
        raise ConfigError(f"unknown adapter {name!r}; middle knows {', '.join(sorted(ADAPTERS))}")
    adapter: AgentAdapter = ADAPTERS[name](config.get("adapters", {}).get(name, {}))
    return adapter
