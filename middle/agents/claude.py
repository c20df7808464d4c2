"""Claude Code, interactive, driven through its hooks and its terminal.

middle writes the hooks into the worktree's `.claude/settings.local.json` (Claude's
untracked local settings, so a repo's own `.claude/settings.json` is never touched); they
fire without an approval dialog. The prompt is the whole brief, pasted, and its delivery
is confirmed by `UserPromptSubmit`. A turn ends with `Stop`, `StopFailure` (an API error:
`rate_limit`, `billing_error`, ...) or `SessionEnd`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.base import BaseAdapter, Screen, Signal
from middle.agents.screens import Dialog, Menu, read_dialog, trailing_menu
from middle.config import middle_home
from middle.errors import UNREADABLE_JSON
from middle.system.files import replace_file
from middle.system.hooks import Hook, install_hook_script
from middle.system.worktree import pr_ready_script

HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "Notification",
    "Stop",
    "StopFailure",
    "SessionEnd",
)

# The blocking `gh pr ready` check (`middle.app.pr_ready_hook`), run as `python -I`. If
# middle cannot be imported, a `gh pr ready` is still refused, and nothing else.
PR_READY_SCRIPT = """\
# middle's `gh pr ready` check: Claude Code's PreToolUse hook on Bash (exit 2 blocks).
import re
import sys
from pathlib import Path

try:
    from middle.app.pr_ready_hook import main
except Exception as exc:
    text = sys.stdin.read()
    if re.search(r"\\bgh\\s+pr\\s+ready\\b", text) and "--undo" not in text:
        print(f"middle cannot check gh pr ready ({{exc}}); finish with done.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)
sys.exit(main(Path({worktree!r}), Path({home!r})))
"""

# Claude's own usage-limit text: "Claude AI usage limit reached|<epoch seconds>".
_USAGE_LIMIT = re.compile(r"Claude AI usage limit reached\|(\d{9,11})")

# The input box: a rule, then the prompt character (dialogs' menus use it too, unruled).
_INPUT_BOX = re.compile("^\\s*─{20,}\\s*\\n\\s*\u276f", re.M)  # U+276F: the prompt mark

# Claude's permission prompts, by shape: the menu that ends the screen offers "1. Yes" under
# a question that starts "Do you want to" (Bash: "... proceed?", Write: "... create
# notes.txt?", Edit: "... make this edit to README.md?", WebFetch: "... allow Claude to fetch
# this content?"), which a long file name wraps onto the next lines. Checked before any
# dialog, so a prompt always parks for a human, whatever its command or file holds.
_PERMISSION_QUESTION = "Do you want to "
_QUESTION_LINES = 3  # the most lines a wrapped question is read over
_CONFIRM = "Enter to confirm \u00b7 Esc to cancel"
# The dialogs middle answers, by their whole shape (`middle.agents.screens`), with the
# answer a user who asked middle to run the agent here would give. Read off Claude Code
# 2.1.197 (tests/fixtures/screens); the limit menu from users' reports.
_DIALOGS = (
    Dialog(
        "workspace-trust",
        title="Accessing workspace:",
        options=("Yes, I trust this folder", "No, exit"),
        footer=_CONFIRM,
        answer="Yes, I trust this folder",
    ),
    Dialog(
        "bypass-permissions-warning",
        title="WARNING: Claude Code running in Bypass Permissions mode",
        options=("No, exit", "Yes, I accept"),
        footer=_CONFIRM,
        answer="Yes, I accept",
    ),
    Dialog(
        "rate-limit-options",  # a subscriber login's limit menu
        title="What do you want to do?",
        options=("Stop and wait for limit to reset",),
        footer=_CONFIRM,
        answer="Stop and wait for limit to reset",
        kind="rate-limited",
        more_options=True,
    ),
)


class ClaudeAdapter(BaseAdapter):
    name: ClassVar[str] = "claude"
    defaults: ClassVar[dict[str, Any]] = {"binary": "claude", "permission_mode": "auto"}
    env_allow: ClassVar[tuple[str, ...]] = ("ANTHROPIC_*", "CLAUDE_*", "DISABLE_*", "IS_SANDBOX")
    tested_versions: ClassVar[tuple[str, str] | None] = ("2.1.197", "2.1.197")
    confirms_prompts: ClassVar[bool] = True
    inline_brief: ClassVar[bool] = True
    knows_screens: ClassVar[bool] = True

    def account(self, environ: Mapping[str, str]) -> tuple[bool, str] | None:
        """A key in the environment, or the login Claude Code keeps in its config folder
        (`.credentials.json` on Linux; `oauthAccount` in `.claude.json` wherever the
        credentials live in a keychain)."""
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
            if environ.get(name):
                return True, f"{name} is set"
        home = Path(environ.get("HOME") or Path.home())
        folder = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")
        if (folder / ".credentials.json").is_file():
            return True, f"logged in ({folder / '.credentials.json'})"
        state = folder / ".claude.json" if "CLAUDE_CONFIG_DIR" in environ else home / ".claude.json"
        try:
            logged_in = "oauthAccount" in json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            logged_in = False
        if logged_in:
            return True, f"logged in ({state})"
        return False, "not logged in: run `claude` and /login once, or set ANTHROPIC_API_KEY"

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        argv = [*self.argv(), "--permission-mode", str(self.settings["permission_mode"])]
        return [*argv, "--resume", resume_session] if resume_session else argv

    def prepare(self, worktree: Path) -> None:
        """The hook relay, and every hook event wired to it in the local settings file
        (other keys of that file are kept); and the blocking `gh pr ready` check on Bash."""
        script = shlex.quote(str(install_hook_script(worktree)))
        settings_path = worktree / ".claude" / "settings.local.json"
        settings_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            settings = json.loads(settings_path.read_text())
        except (FileNotFoundError, *UNREADABLE_JSON):
            settings = {}
        settings = settings if isinstance(settings, dict) else {}
        settings["hooks"] = {
            event: [{"hooks": [{"type": "command", "command": f"{script} {event}"}]}]
            for event in HOOK_EVENTS
        }
        settings["hooks"]["PreToolUse"].append(
            {"matcher": "Bash", "hooks": [{"type": "command", "command": pr_ready_hook(worktree)}]}
        )
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")

    def screen(self, pane: str, session_started: bool) -> Screen:
        """A permission prompt first, whatever it asks and whatever it holds; then a dialog;
        both only by their whole shape at the bottom of the screen. A prompt whose shape is
        not known still parks: by the `Notification` hook (`read_hook`)."""
        if permission_prompt(trailing_menu(pane)):
            return Screen("permission")
        dialog = read_dialog(pane, _DIALOGS)
        if dialog is not None and dialog.kind == "rate-limited":
            return replace(dialog, reset=self.usage_limit(pane))
        if dialog is not None:
            return dialog
        if "esc to interrupt" in pane:
            return Screen("busy")
        if session_started and _INPUT_BOX.search(pane):
            return Screen("ready")
        return Screen("starting")

    def read_hook(self, hook: Hook) -> Signal | None:
        """Claude's hooks as the base reads them, and two of its own: `Notification` with
        `notification_type: "permission_prompt"`, which Claude sends when a permission
        prompt has waited about 6 s, whatever the prompt says (none when it was answered
        sooner); and `PreToolUse` of a file or web tool, named by its file or URL."""
        payload = hook.payload
        if hook.event == "Notification":
            if payload.get("notification_type") == "permission_prompt":
                return Signal("permission", str(payload.get("message", "")))
            return None
        if hook.event == "PreToolUse":
            tool, arguments = payload.get("tool_name"), payload.get("tool_input")
            target = _tool_target(arguments, payload.get("cwd"))
            if isinstance(tool, str) and target is not None:
                return Signal("tool", f"{tool}: {target}")
        return super().read_hook(hook)

    def usage_limit(self, text: str) -> str | None:
        found = _USAGE_LIMIT.findall(text)
        return found[-1] if found else None

    def transcript_path(self, worktree: Path, session_start: Mapping[str, Any]) -> Path | None:
        """Where the hook says, else where Claude writes it:
        `~/.claude/projects/<cwd with / as ->/<session_id>.jsonl`."""
        said = super().transcript_path(worktree, session_start)
        session = session_start.get("session_id")
        if said is not None or not isinstance(session, str):
            return said
        return project_dir(Path.home(), worktree) / f"{session}.jsonl"

    def transcript_roots(self, worktree: Path) -> tuple[Path, ...]:
        """The worktree's own session folder, named after its path as given or resolved."""
        paths = (worktree, worktree.resolve())
        return tuple(dict.fromkeys(project_dir(Path.home(), path) for path in paths))


def pr_ready_hook(worktree: Path) -> str:
    """Write the `gh pr ready` check into the worktree; return the hook's command."""
    script = pr_ready_script(worktree)
    script.parent.mkdir(parents=True, exist_ok=True)
    text = PR_READY_SCRIPT.format(worktree=str(worktree), home=str(middle_home()))
    if not script.exists() or script.read_text() != text:
        replace_file(script, text)
    return f"{shlex.quote(sys.executable)} -I {shlex.quote(str(script))}"


def project_dir(user_home: Path, cwd: Path) -> Path:
    """Where Claude Code keeps the sessions of a working directory: its path with every
    character that is not a letter or digit turned into '-'."""
    return user_home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def permission_prompt(menu: Menu | None) -> bool:
    """Whether the menu that ends the screen is Claude's permission prompt: "1. Yes" first,
    under a block that ends in its "Do you want to ...?" question."""
    if menu is None or menu.options[:1] != ("Yes",) or not menu.block:
        return False
    if not menu.block[-1].endswith("?"):
        return False
    return any(line.startswith(_PERMISSION_QUESTION) for line in menu.block[-_QUESTION_LINES:])


def _tool_target(arguments: Any, cwd: Any) -> str | None:
    """The file (relative to `cwd` when inside it) or URL a tool call is about; None for a
    tool that names neither (Bash names its command, as the base reads it)."""
    if not isinstance(arguments, Mapping):
        return None
    path = arguments.get("file_path") or arguments.get("notebook_path")
    if isinstance(path, str) and path:
        where = Path(os.path.normpath(path))  # "../" spelt out, so it cannot pass as inside
        if isinstance(cwd, str) and cwd and where.is_relative_to(cwd):
            return str(where.relative_to(cwd))
        return str(where)
    url = arguments.get("url")
    return url if isinstance(url, str) and url else None
