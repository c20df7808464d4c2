"""GitHub Copilot CLI, interactive, driven through its hooks, its session log and its screen.

Each worktree gets a Copilot home of its own (`COPILOT_HOME`, under `.middle/homes/`), so
nothing of the user's `~/.copilot` is read or changed: its `config.json` trusts the worktree
(no "Do you trust the files in this folder?" dialog) and hides the banner, and
`hooks/middle.json` sends Copilot's hooks to middle's relay, named in middle's hook
vocabulary (`sessionStart` as `SessionStart`, `agentStop` as `Stop`, ...). Copilot runs
with `--allow-all-tools` by default (`allow_all_tools = false` makes it ask, and a prompt
parks for a human), and `--no-auto-update`.

- A prompt is confirmed by `userPromptSubmitted`, which carries it as typed.
- A turn ends with `agentStop`, once per turn. On an API error no hook ends the turn: the
  session log (`session-state/<id>/events.jsonl`) gets a `session.error`, whose
  `errorType` says a usage limit (`rate_limit`, `quota_exhausted`) from another error.
- A permission prompt sends `notification` (`notification_type: "permission_prompt"`) as it
  is drawn, and is read by its shape too.
- The session id and its log are read off the session folder (Copilot's hooks say
  `sessionId`, and only `agentStop` names the log), and `--resume=<id>` continues it.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.base import BaseAdapter, Screen, Signal, log_entry_since
from middle.agents.screens import Dialog, Menu, read_dialog, trailing_box, trailing_menu
from middle.errors import UNREADABLE_JSON
from middle.system.files import replace_file
from middle.system.hooks import Hook, install_hook_script
from middle.system.worktree import agent_home

# Copilot's hook events (the keys of its hooks file), each as middle's relay names it.
HOOK_EVENTS = {
    "sessionStart": "SessionStart",
    "userPromptSubmitted": "UserPromptSubmit",
    "preToolUse": "PreToolUse",
    "notification": "Notification",
    "agentStop": "Stop",
    "errorOccurred": "ErrorOccurred",
    "sessionEnd": "SessionEnd",
}
HOOKS_FILE = "middle.json"
LIMIT_ERRORS = ("rate_limit", "quota_exhausted")  # `session.error` types that are a limit
_PERMISSION_QUESTION = "Do you want to "
_READY = re.compile("^\u2500{20,}\\n\u276f.*\\n\u2500{20,}\\n.*/ commands \u00b7 \\? help", re.M)
_BUSY = "esc esc interrupt"
_NAVIGATE = "\u2191/\u2193 to navigate \u00b7 enter to select \u00b7 esc to cancel"
# The dialog middle answers, by its whole shape, read off Copilot 1.0.102: the user asked
# middle to run the agent in this worktree. Trusted in config.json, so it should not show.
_DIALOGS = (
    Dialog(
        "workspace-trust",
        title="Confirm folder trust",
        options=("Yes", "Yes, and remember this folder for future sessions", "No (Esc)"),
        footer=_NAVIGATE,
        answer="Yes",
    ),
)


class CopilotAdapter(BaseAdapter):
    name: ClassVar[str] = "copilot"
    defaults: ClassVar[dict[str, Any]] = {"binary": "copilot", "allow_all_tools": True}
    env_allow: ClassVar[tuple[str, ...]] = ("COPILOT_*", "GH_TOKEN")
    tested_versions: ClassVar[tuple[str, str] | None] = ("1.0.102", "1.0.102")
    confirms_prompts: ClassVar[bool] = True
    inline_brief: ClassVar[bool] = True
    knows_screens: ClassVar[bool] = True

    def account(self, environ: Mapping[str, str]) -> tuple[bool, str] | None:
        """A provider of the user's own (BYOK), or a GitHub token Copilot takes."""
        if environ.get("COPILOT_PROVIDER_BASE_URL"):
            return True, f"your own provider at {environ['COPILOT_PROVIDER_BASE_URL']}"
        for name in ("COPILOT_GITHUB_TOKEN", "GH_TOKEN"):
            if environ.get(name):
                return True, f"{name} is set"
        return False, "no token: set COPILOT_GITHUB_TOKEN or GH_TOKEN, or COPILOT_PROVIDER_BASE_URL"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._offsets: dict[Path, int] = {}  # each session log: bytes read so far
        self._scanned = 0.0
        self._since: float | None = None  # the earliest `watch` was asked about: the launch

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        """`env COPILOT_HOME=<the worktree's home> copilot ...`: the home is no secret, and
        it wins over a `COPILOT_HOME` the user's environment passed."""
        flags = ["--no-auto-update"]
        if self.settings.get("allow_all_tools", True):
            flags.append("--allow-all-tools")
        if resume_session:
            flags.append(f"--resume={resume_session}")
        home = f"COPILOT_HOME={copilot_home(worktree)}"
        return ["env", home, *self.argv(), *flags]

    def prepare(self, worktree: Path) -> None:
        """The hook relay, and the worktree's Copilot home: its hooks file, and a config
        that trusts the worktree (other keys of that config, Copilot's own, are kept)."""
        script = shlex.quote(str(install_hook_script(worktree)))
        home = copilot_home(worktree)
        (home / "hooks").mkdir(parents=True, exist_ok=True)
        hooks = {
            event: [{"type": "command", "bash": f"{script} {relayed}", "timeoutSec": 10}]
            for event, relayed in HOOK_EVENTS.items()
        }
        _write_json(home / "hooks" / HOOKS_FILE, {"version": 1, "hooks": hooks})
        config_path = home / "config.json"
        try:
            config = json.loads(config_path.read_text())
        except (FileNotFoundError, *UNREADABLE_JSON):
            config = {}
        config = config if isinstance(config, dict) else {}
        trusted = [str(path) for path in config.get("trustedFolders") or [] if path]
        config["trustedFolders"] = list(dict.fromkeys([*trusted, str(worktree)]))
        config["banner"] = "never"
        _write_json(config_path, config)

    def screen(self, pane: str, session_started: bool) -> Screen:
        """A permission prompt first, whatever it holds; then the trust dialog; each only
        as the box that ends the screen, read by its whole shape."""
        box = trailing_box(pane)
        menu = trailing_menu(box) if box is not None else None
        if permission_prompt(menu):
            return Screen("permission")
        dialog = read_dialog(box, _DIALOGS) if box is not None else None
        if dialog is not None:
            return dialog
        if _BUSY in pane:
            return Screen("busy")
        if _READY.search(pane):
            return Screen("ready")
        return Screen("starting")

    def read_hook(self, hook: Hook) -> Signal | None:
        """Copilot's payloads, in camelCase (`toolName`, `toolArgs`: an object in 1.0.102,
        a JSON string in older versions)."""
        payload = hook.payload
        if hook.event == "UserPromptSubmit":
            prompt = payload.get("prompt")
            return Signal("accepted", prompt if isinstance(prompt, str) else "")
        if hook.event == "Stop":
            return Signal("stop", str(payload.get("stopReason") or ""))
        if hook.event == "SessionEnd":
            return Signal("ended", str(payload.get("reason", "")))
        if hook.event == "Notification":
            if payload.get("notification_type") == "permission_prompt":
                return Signal("permission", str(payload.get("message", "")))
            return None
        if hook.event == "PreToolUse":
            return Signal("tool", describe_copilot_tool(payload))
        return None  # SessionStart, ErrorOccurred: recorded; the session log says more

    def watch(self, worktree: Path, launched_at: float) -> list[Signal]:
        """This worktree's Copilot sessions: each session once (its id and log), then the
        log's `session.error` lines written since `launched_at`. Reads only complete lines
        appended since the last call; looks for new sessions at most once a second. A
        session is looked for since the earliest `launched_at` asked about (the launch;
        later calls pass the prompt's time): its folder is made as Copilot starts."""
        signals: list[Signal] = []
        self._since = launched_at if self._since is None else min(self._since, launched_at)
        if time.monotonic() - self._scanned > 1 or not self._offsets:
            self._scanned = time.monotonic()
            for log in session_logs(worktree, self._since):
                if log not in self._offsets:
                    self._offsets[log] = 0
                    signals.append(Signal("session", log.parent.name, path=str(log)))
        for log, offset in list(self._offsets.items()):
            try:
                with log.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offsets[log] = offset + len(complete)
            for line in complete.decode(errors="replace").splitlines():
                signal = _log_signal(line, launched_at)
                if signal is not None:
                    signals.append(signal)
        return signals

    def transcript_roots(self, worktree: Path) -> tuple[Path, ...]:
        return (copilot_home(worktree) / "session-state",)


def copilot_home(worktree: Path) -> Path:
    return agent_home(worktree, "copilot")


def session_logs(worktree: Path, since: float) -> list[Path]:
    """The session logs of the worktree's Copilot home in use since `since`, oldest first.
    A session is its folder: Copilot 1.0.102 makes it as the session starts, and writes
    `events.jsonl` in it only after the turn's `agentStop` (a quick turn was over before
    its log existed, so its session went unrecorded and the answer started a new one). A
    hidden folder is not a session: Copilot keeps its locks in one."""
    found = []
    for folder in (copilot_home(worktree) / "session-state").glob("*/"):
        if folder.name.startswith("."):  # Copilot's own, e.g. `.session-operation-locks`
            continue
        log = folder / "events.jsonl"
        try:
            modified = max(path.stat().st_mtime for path in (folder, log) if path.exists())
        except (FileNotFoundError, ValueError):  # gone since the listing
            continue
        if modified >= since:
            found.append((modified, log))
    return [log for _, log in sorted(found)]


def tool_arguments(payload: Mapping[str, Any]) -> Any:
    """`toolArgs` as an object: Copilot 1.0.102 sends one, older versions a JSON string."""
    arguments = payload.get("toolArgs")
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except UNREADABLE_JSON:
            return arguments
    return arguments


def describe_copilot_tool(payload: Mapping[str, Any]) -> str:
    """A tool call as a person reads it: `bash: <command>`, or the tool and its input."""
    tool = str(payload.get("toolName") or "a tool")
    arguments = tool_arguments(payload)
    if isinstance(arguments, Mapping):
        command = arguments.get("command")
        if isinstance(command, str):
            return f"{tool}: {command}"
        return f"{tool}: {json.dumps(arguments)[:500]}"
    if isinstance(arguments, str) and arguments:
        return f"{tool}: {arguments[:500]}"
    return tool


def permission_prompt(menu: Menu | None) -> bool:
    """Copilot's permission prompt: "1. Yes" first, under a "Do you want to ...?"
    question that ends its block."""
    if menu is None or menu.options[:1] != ("Yes",) or not menu.block:
        return False
    question = menu.block[-1]
    return question.startswith(_PERMISSION_QUESTION) and question.endswith("?")


def _log_signal(line: str, since: float) -> Signal | None:
    """A `session.error` written since `since`: a usage limit, or another failure."""
    entry = log_entry_since(line, since, ("session.error",))
    if entry is None:
        return None
    data = entry.get("data")
    data = data if isinstance(data, dict) else {}
    kind, message = str(data.get("errorType", "")), str(data.get("message", ""))
    if kind in LIMIT_ERRORS:
        return Signal("rate-limited", message or "usage limit")
    return Signal("failed", f"the agent's API request failed ({kind}) {message}".strip())


def _write_json(path: Path, value: dict[str, Any]) -> None:
    text = json.dumps(value, indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        replace_file(path, text)
