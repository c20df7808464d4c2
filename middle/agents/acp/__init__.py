"""Any agent that speaks the Agent Client Protocol, from `[adapters.acp] argv`.

    [adapters.acp]
    argv = ["opencode", "acp"]        # or ["gemini", "--acp", "--skip-trust"], ["codex-acp"], ...
    mode = "full-access"              # optional: the ACP session mode to set
    env_pass = ["OPENAI_API_KEY"]     # what the agent needs from your environment

middle runs the agent under its supervisor (`middle.agents.acp.supervisor`) in the run's
tmux session: the supervisor speaks JSON-RPC to the agent on its stdio and middle's hook
vocabulary to middle, so a turn is driven, parked, adopted after a crash and resumed like
any CLI's. A turn is a `session/prompt`; its stop reason ends the turn. A permission
request parks the run as a question that lists the agent's own options, and the human's
answer picks one. A later turn continues the conversation with `session/load`.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.acp.rpc import AcpPeer, Incoming
from middle.agents.base import BaseAdapter, Screen, Signal
from middle.errors import AgentError
from middle.system.hooks import Hook

# What the supervisor shows while it waits before loading a session (see its
# `_SESSION_FILE_BY_MINUTE`): a wait it bounds itself, not a hang.
LOAD_WAIT = "cannot load a session in the minute it opened it"

# The agents' own usage-limit messages, as their ACP errors carry them: Claude Code's
# (through claude-code-acp) ends in the reset's epoch; Codex's (codex-acp) names a time.
_CLAUDE_LIMIT = re.compile(r"usage limit reached\|(\d{9,11})")
_CODEX_LIMIT = re.compile(
    r"You[\u2019']ve hit your usage limit\b[^\n]*?(?:try again at ([^\n]+?))?\.?$", re.M | re.I
)


class AcpAdapter(BaseAdapter):
    name: ClassVar[str] = "acp"
    defaults: ClassVar[dict[str, Any]] = {"argv": []}
    # Agents that speak ACP, tested end to end; pins in .ci/install-agent-clis.
    tested_agents: ClassVar[dict[str, str]] = {
        "codex-acp": "0.16.0",
        "claude-code-acp": "0.16.2",
        "gemini": "0.61.0",
    }
    confirms_prompts: ClassVar[bool] = True
    inline_brief: ClassVar[bool] = True  # the supervisor takes a bracketed paste whole

    def agent_argv(self) -> list[str]:
        return [str(part) for part in self.settings.get("argv", [])]

    def argv(self) -> list[str]:
        return self.agent_argv()

    def check_available(self) -> None:
        if not self.agent_argv():
            raise AgentError(
                "the acp adapter has no agent configured; set [adapters.acp] argv in "
                '$MIDDLE_HOME/config.toml, e.g. argv = ["opencode", "acp"]'
            )
        super().check_available()

    def version(self) -> str | None:
        """The version the agent gives in its `initialize` answer (`agentInfo`): the ACP
        bridges (codex-acp, claude-code-acp) have no `--version`."""
        return agent_version(self.agent_command())

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        """The supervisor, with the agent's command after `--`."""
        argv = [sys.executable, "-m", "middle.agents.acp.supervisor"]
        if resume_session:
            argv += ["--resume", resume_session]
        mode = self.settings.get("mode")
        if mode:
            argv += ["--mode", str(mode)]
        return [*argv, "--", *self.agent_command()]

    def agent_command(self) -> list[str]:
        """The agent's command as the supervisor starts it."""
        return self.agent_argv()

    def __post_init__(self) -> None:
        """The versions tested are those of the agent `argv` names (`middle doctor` holds
        it to them), when it is one of `tested_agents`; the class says none."""
        super().__post_init__()
        argv = self.agent_argv()
        tested = self.tested_agents.get(Path(argv[0]).name) if argv else None
        setattr(self, "tested_versions", (tested, tested) if tested else None)  # noqa: B010

    def screen(self, pane: str, session_started: bool) -> Screen:
        """Ready once the supervisor sent SessionStart; waiting while it says it waits
        to load the session (up to a minute), so the launch timeout does not run out."""
        lines = [line for line in pane.splitlines() if line.strip()]
        if not session_started and lines and LOAD_WAIT in lines[-1]:
            return Screen("waiting")
        return super().screen(pane, session_started)

    def permission_keys(self, answer: str) -> tuple[tuple[str, ...], str | None]:
        """No keys: the answer itself is typed to the supervisor, which knows the agent's
        options and picks the one the answer names (or rejects the call and passes the
        words on)."""
        return (), answer

    def read_hook(self, hook: Hook) -> Signal | None:
        if hook.event == "PermissionRequest":
            return Signal("permission", str(hook.payload.get("tool_name", "")))
        if hook.event == "StopFailure" and hook.payload.get("error") == "agent_exited":
            message = str(hook.payload.get("message", ""))
            return Signal("failed", f"the ACP agent exited mid-turn ({message})")
        return super().read_hook(hook)

    def usage_limit(self, text: str) -> str | None:
        claude = _CLAUDE_LIMIT.findall(text)
        if claude:
            return str(claude[-1])
        codex = list(_CODEX_LIMIT.finditer(text))
        return (codex[-1][1] or "").strip() if codex else None


def agent_version(argv: list[str], seconds: float = 20.0) -> str | None:
    """Start the agent, ask `initialize`, and read `agentInfo.version`; None if it does
    not say within `seconds` (or cannot start)."""
    inbox: queue.Queue[Incoming] = queue.Queue()
    with tempfile.TemporaryDirectory() as scratch:
        try:
            peer = AcpPeer(argv, Path(scratch), os.environ, inbox, Path(scratch) / "stderr")
        except OSError:
            return None
        try:
            number = peer.request("initialize", {"protocolVersion": 1, "clientCapabilities": {}})
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    incoming = inbox.get(timeout=left)
                except queue.Empty:
                    break
                if incoming.kind == "exit":
                    break
                if incoming.kind == "response" and incoming.id == number:
                    info = (incoming.result or {}).get("agentInfo") or {}
                    found = re.search(r"\d+\.\d+\.\d+", str(info.get("version", "")))
                    return found[0] if found else None
            return None
        finally:
            peer.stop()
