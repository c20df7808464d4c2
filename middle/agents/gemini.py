"""Gemini CLI, interactive, driven through its hooks and its screen.

Each worktree gets a Gemini home of its own (`GEMINI_CLI_HOME`, under `.middle/homes/`), so
middle changes nothing of the user's `~/.gemini` nor a `.gemini/settings.json` the repo may
track: its `.gemini/settings.json` is the user's own settings (their auth type, model, MCP
servers) with middle's hooks added to theirs and auto-update off, and the user's
credentials (`oauth_creds.json`, `.env`, ...) are linked from `~/.gemini`. Gemini's own
settings file for the system is no place for them: Gemini skips one under a
world-writable folder such as `/tmp`.

Launched with `--skip-trust` (the worktree is trusted for the session: no "Do you trust
the files in this folder?" dialog, and nothing written) and `--approval-mode yolo` by
default (`approval_mode` in config: "default" makes it ask, and a prompt parks).

Gemini's hook payloads are Claude Code's (`session_id`, `transcript_path`, `prompt`,
`tool_name`, `tool_input`), so its events are relayed under middle's names: `SessionStart`
(at launch), `BeforeAgent` as `UserPromptSubmit`, `BeforeTool` as `PreToolUse`,
`AfterAgent` as `Stop` (once per turn), `Notification` (`ToolPermission`) and `SessionEnd`.
A usage limit draws a "Usage limit reached for <model>." menu, which middle answers "Stop".
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.base import BaseAdapter, Screen, Signal
from middle.agents.screens import Menu, trailing_box, trailing_menu
from middle.errors import UNREADABLE_JSON
from middle.system.files import replace_file
from middle.system.hooks import Hook, install_hook_script
from middle.system.worktree import agent_home

# Gemini's hook events, each as middle's relay names it.
HOOK_EVENTS = {
    "SessionStart": "SessionStart",
    "BeforeAgent": "UserPromptSubmit",
    "BeforeTool": "PreToolUse",
    "Notification": "Notification",
    "AfterAgent": "Stop",
    "SessionEnd": "SessionEnd",
}
HOOK_NAME = "middle"
# What a user's `~/.gemini` holds that says who they are, linked into the worktree's home.
CREDENTIALS = (".env", "oauth_creds.json", "google_accounts.json", "installation_id", "user_id")
# Gemini's own words for a used-up quota, on screen once the limit menu is answered.
_USAGE_LIMIT = re.compile(r"You have exhausted your (?:daily )?quota\b")
_LIMIT_TITLE = "Usage limit reached for "
_LIMIT_OPTIONS = ("Keep trying", "Stop")
_PERMISSION_OPTION = "Allow once"
_BUSY = "esc to cancel"
_INPUT = re.compile(r"^ [*>] +Type your message or @path/to/file", re.M)  # the empty input box
# Gemini waits for its SessionStart hooks (about 3 s here, though middle's relay returns at
# once) while it shows this line; an Enter typed meanwhile is lost.
_HOOK_RUNNING = "Executing Hook:"
# How long the empty input box must stay drawn, unchanged, before a prompt is typed: on a
# resume Gemini draws it once before its SessionStart hook returns, then clears the screen
# and draws the conversation, and text pasted before that redraw is lost.
READY_SETTLE_SECONDS = 1.0


class GeminiAdapter(BaseAdapter):
    name: ClassVar[str] = "gemini"
    defaults: ClassVar[dict[str, Any]] = {"binary": "gemini", "approval_mode": "yolo"}
    env_allow: ClassVar[tuple[str, ...]] = ("GEMINI_*", "GOOGLE_*")
    tested_versions: ClassVar[tuple[str, str] | None] = ("0.61.0", "0.61.0")
    confirms_prompts: ClassVar[bool] = True
    inline_brief: ClassVar[bool] = True
    knows_screens: ClassVar[bool] = True

    def account(self, environ: Mapping[str, str]) -> tuple[bool, str] | None:
        """An API key, or the sign-in Gemini CLI keeps in `~/.gemini` (which middle links
        into each worktree's home)."""
        for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            if environ.get(name):
                return True, f"{name} is set"
        creds = Path(environ.get("HOME") or Path.home()) / ".gemini" / "oauth_creds.json"
        if creds.is_file():
            return True, f"signed in ({creds})"
        return False, "not signed in: run `gemini` and sign in once, or set GEMINI_API_KEY"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._input_pane: str | None = None  # the last screen with an empty input box
        self._input_since = 0.0

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        """`env GEMINI_CLI_HOME=<the worktree's home> gemini ...`: the home is no secret."""
        home = f"GEMINI_CLI_HOME={gemini_home(worktree)}"
        mode = str(self.settings.get("approval_mode", "yolo"))
        flags = ["--skip-trust", "--approval-mode", mode]
        if resume_session and has_prompts(worktree, resume_session):
            flags += ["--resume", resume_session]
        return ["env", home, *self.argv(), *flags]

    def prepare(self, worktree: Path) -> None:
        """The hook relay, and the worktree's Gemini home: the user's settings with
        middle's hooks, and links to the user's credentials."""
        script = shlex.quote(str(install_hook_script(worktree)))
        user = Path.home() / ".gemini"
        folder = gemini_home(worktree) / ".gemini"
        folder.mkdir(parents=True, exist_ok=True)
        settings = _read_object(user / "settings.json")
        hooks = _object(settings.get("hooks"))
        for event, relayed in HOOK_EVENTS.items():
            command = {"type": "command", "command": f"{script} {relayed}", "name": HOOK_NAME}
            theirs = hooks.get(event)
            theirs = theirs if isinstance(theirs, list) else []
            hooks[event] = [*theirs, {"hooks": [{**command, "timeout": 10000}]}]
        settings["hooks"] = hooks
        hooks_config = {**_object(settings.get("hooksConfig")), "enabled": True}
        settings["hooksConfig"] = {**hooks_config, "notifications": True}  # "Executing Hook"
        general = {**_object(settings.get("general")), "enableAutoUpdate": False}
        settings["general"] = {**general, "enableAutoUpdateNotification": False}
        text = json.dumps(settings, indent=2) + "\n"
        path = folder / "settings.json"
        if not path.exists() or path.read_text() != text:
            replace_file(path, text)
        for name in CREDENTIALS:
            link, target = folder / name, user / name
            if target.exists() and not link.is_symlink():
                link.unlink(missing_ok=True)
                link.symlink_to(target)

    def screen(self, pane: str, session_started: bool) -> Screen:
        """A permission prompt first, whatever its command holds; then the usage-limit
        menu; each only as the box that ends the screen, read by its whole shape."""
        box = trailing_box(pane)
        menu = trailing_menu(box) if box is not None else None
        if menu is not None and menu.options[:1] == (_PERMISSION_OPTION,):
            return Screen("permission")
        if limit_menu(menu):
            assert menu is not None
            moves = _LIMIT_OPTIONS.index("Stop") - menu.cursor
            keys = ("Down",) * moves + ("Up",) * -moves + ("Enter",)
            return Screen("rate-limited", name="usage-limit", keys=keys)
        if _BUSY in pane:
            return Screen("busy")
        idle = box is None and _HOOK_RUNNING not in pane and _INPUT.search(pane)
        if session_started and idle and self._settled(pane):
            return Screen("ready")
        return Screen("starting")

    def _settled(self, pane: str) -> bool:
        """Whether this screen has stayed as it is for `READY_SETTLE_SECONDS`."""
        now = time.monotonic()
        if pane != self._input_pane:
            self._input_pane, self._input_since = pane, now
        return now - self._input_since >= READY_SETTLE_SECONDS

    def read_hook(self, hook: Hook) -> Signal | None:
        """Claude's vocabulary as the base reads it, and Gemini's `Notification` of a tool
        waiting for permission (`notification_type: "ToolPermission"`)."""
        if hook.event == "Notification":
            payload = hook.payload
            if payload.get("notification_type") != "ToolPermission":
                return None
            details = payload.get("details")
            command = details.get("command") if isinstance(details, Mapping) else None
            said = command if isinstance(command, str) else payload.get("message", "")
            return Signal("permission", str(said))
        return super().read_hook(hook)

    def usage_limit(self, text: str) -> str | None:
        """Gemini names no reset time: "" when its quota message is there."""
        return "" if _USAGE_LIMIT.search(text) else None

    def transcript_roots(self, worktree: Path) -> tuple[Path, ...]:
        """Gemini keeps each project's chats under `<its home>/.gemini/tmp/<project>/`."""
        return (gemini_home(worktree) / ".gemini" / "tmp",)


def gemini_home(worktree: Path) -> Path:
    return agent_home(worktree, "gemini")


def has_prompts(worktree: Path, session: str) -> bool:
    """Whether the worktree's session `session` holds a prompt to resume. Gemini drops a
    prompt whose request failed (a usage limit) from the conversation, and refuses to resume
    (it exits) a session left with none: such a session is started anew instead."""
    chats = gemini_home(worktree) / ".gemini" / "tmp"
    for path in chats.glob(f"*/chats/session-*-{session[:8]}*.jsonl"):
        messages: list[Any] = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except UNREADABLE_JSON:
                continue
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("$set"), dict) and "messages" in entry["$set"]:
                messages = list(entry["$set"]["messages"] or [])
            elif "type" in entry and "id" in entry:
                messages.append(entry)
        if any(_is_prompt(message) for message in messages):
            return True
    return False


def _is_prompt(message: Any) -> bool:
    """A user message that is more than the session context Gemini opens each chat with."""
    if not isinstance(message, dict) or message.get("type") != "user":
        return False
    parts = message.get("content")
    texts = (
        [p.get("text", "") for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    )
    return any(
        isinstance(t, str) and t.strip() and not t.startswith("<session_context>") for t in texts
    )


def limit_menu(menu: Menu | None) -> bool:
    """Gemini's usage-limit menu: "Keep trying" / "Stop" under "Usage limit reached for
    <model>."."""
    if menu is None or menu.options != _LIMIT_OPTIONS:
        return False
    return any(line.startswith(_LIMIT_TITLE) for line in menu.block)


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _read_object(path: Path) -> dict[str, Any]:
    try:
        return _object(json.loads(path.read_text()))
    except (OSError, *UNREADABLE_JSON):
        return {}
