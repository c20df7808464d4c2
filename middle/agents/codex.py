"""Codex CLI, interactive, driven through `notify` and its rollout file.

Launched with `--no-daemon` (otherwise Codex starts a shared server that outlives the tmux
session), paste-burst detection off (so a quick Enter after a paste submits it), and the
sandbox and approval policy from config. `notify` reports the end of a turn; the rollout
(`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`) confirms each prompt (the user
`message` it records, as the model receives it; context it injects is in tags)
and says how a turn ended (`task_complete`, with `codex_error_info` on a limit, or
`turn_aborted`), which matters because on a 429 no `notify` fires.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.base import BaseAdapter, Screen, Signal, log_entry_since
from middle.agents.screens import Dialog, read_dialog
from middle.errors import UNREADABLE_JSON
from middle.system.hooks import Hook
from middle.system.worktree import hook_script

# "You\u2019ve hit your usage limit ... try again at 9:02 PM." (a typographic apostrophe)
_USAGE_LIMIT = re.compile(
    r"You[\u2019']ve hit your usage limit\b[^\n]*?(?:try again at ([^\n]+?))?\.?$", re.M
)
# What an environment variable's name may be: anything else in the config is not passed.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Codex's approval prompt, checked before any dialog: it always parks for a human.
_PERMISSION = "Would you like to run the following command?"
# The dialog middle answers, by its whole shape (`middle.agents.screens`), read off Codex
# 0.171.0: the user asked middle to run the agent in this worktree, a checkout of their repo.
_DIALOGS = (
    Dialog(
        "workspace-trust",
        title="Folder access",
        options=("Trust and continue", "Back to Agent Command Center"),
        footer="enter continue \u00b7 esc back",
        answer="Trust and continue",
    ),
)


class CodexAdapter(BaseAdapter):
    name: ClassVar[str] = "codex"
    defaults: ClassVar[dict[str, Any]] = {
        "binary": "codex",
        "sandbox_mode": "danger-full-access",
        "approval_policy": "never",
    }
    env_allow: ClassVar[tuple[str, ...]] = ("OPENAI_*", "CODEX_*", "RUST_LOG")
    tested_versions: ClassVar[tuple[str, str] | None] = ("0.171.0", "0.171.0")
    confirms_prompts: ClassVar[bool] = True
    inline_brief: ClassVar[bool] = True
    knows_screens: ClassVar[bool] = True

    def env_patterns(self) -> tuple[str, ...]:
        """Also every variable the user's Codex config names for a provider's key, so a
        custom provider works: without its `env_key` the first turn fails with
        "Missing environment variable"."""
        return (*super().env_patterns(), *provider_env_names(codex_home() / "config.toml"))

    def account(self, environ: Mapping[str, str]) -> tuple[bool, str] | None:
        """Logged in (`auth.json`), an OpenAI key, or a custom provider whose key is set;
        and which variables of the user's Codex config middle passes the agent."""
        home = codex_home(environ)
        names = provider_env_names(home / "config.toml")
        passes = f"; passes {', '.join(names)} from {home / 'config.toml'}" if names else ""
        provider = _selected_provider(home / "config.toml")
        key = provider.get("env_key") if provider else None
        if provider is not None and isinstance(key, str) and key:
            named = f"provider {provider.get('name') or '?'}"
            if environ.get(key):
                return True, f"{named}: {key} is set{passes}"
            return False, f"{named} needs {key}, which is not set{passes}"
        if (home / "auth.json").is_file():
            return True, f"logged in ({home / 'auth.json'}){passes}"
        if environ.get("OPENAI_API_KEY"):
            return True, f"OPENAI_API_KEY is set{passes}"
        return False, f"not logged in: run `codex login`, or set OPENAI_API_KEY{passes}"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._offsets: dict[Path, int] = {}  # this worktree's rollouts: bytes read so far
        self._scanned = 0.0
        self.rollout: Path | None = None

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        notify = json.dumps([str(hook_script(worktree)), "Stop"])  # a JSON array is TOML too
        overrides = {
            "notify": notify,
            "disable_paste_burst": "true",
            "sandbox_mode": json.dumps(str(self.settings["sandbox_mode"])),
            "approval_policy": json.dumps(str(self.settings["approval_policy"])),
            "notice.hide_rate_limit_model_nudge": "true",
        }
        flags = ["--no-daemon"]
        for key, value in overrides.items():
            flags += ["-c", f"{key}={value}"]
        resume = ["resume", resume_session] if resume_session else []
        return [*self.argv(), *resume, *flags]

    def read_hook(self, hook: Hook) -> Signal | None:
        """`notify` arrives as a Stop hook. The thread-title request notifies too, with an
        input that starts "Generate a concise": that is not the end of the agent's turn."""
        if hook.event == "Stop":
            inputs = hook.payload.get("input-messages") or [""]
            first = inputs[0] if isinstance(inputs, list) and inputs else ""
            if isinstance(first, str) and first.startswith("Generate a concise"):
                return None
            turn = hook.payload.get("turn-id")
            return Signal("stop", turn=str(turn) if turn else None)
        return super().read_hook(hook)

    def watch(self, worktree: Path, launched_at: float) -> list[Signal]:
        """The rollout lines of this worktree's session written since `launched_at`, each
        once. Reads only what was appended since the last call, complete lines only (the
        rollout is written live), and looks for new rollout files at most once a second."""
        signals: list[Signal] = []
        if time.monotonic() - self._scanned > 1 or self.rollout is None:
            self._scanned = time.monotonic()
            for path in self._rollouts(launched_at):
                if path not in self._offsets and _first_line_is_session_in(path, worktree):
                    self._offsets[path] = 0
        for path, offset in list(self._offsets.items()):
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offsets[path] = offset + len(complete)
            for number, line in enumerate(complete.decode(errors="replace").splitlines()):
                if offset == 0 and number == 0:
                    self.rollout = path
                    signals.append(Signal("session", _session_id(line), path=str(path)))
                    continue
                signal = _rollout_signal(line, launched_at)
                if signal is not None:
                    signals.append(signal)
        return signals

    def transcript_roots(self, worktree: Path) -> tuple[Path, ...]:
        """Codex keeps every session's rollout under `$CODEX_HOME/sessions/`."""
        return (sessions_dir(),)

    def _rollouts(self, since: float) -> list[Path]:
        sessions = sessions_dir()
        if not sessions.is_dir():
            return []
        found = []
        for path in sessions.glob("*/*/*/rollout-*.jsonl"):
            try:
                if path.stat().st_mtime >= since:
                    found.append(path)
            except FileNotFoundError:
                continue
        return sorted(found)

    def screen(self, pane: str, session_started: bool) -> Screen:
        """A permission prompt first, wherever it stands and whatever it holds; then a
        dialog only by its whole shape at the bottom of the screen."""
        if _PERMISSION in pane:
            return Screen("permission")
        dialog = read_dialog(pane, _DIALOGS)
        if dialog is not None:
            return dialog
        if "esc to interrupt" in pane:
            return Screen("busy")
        if "? for shortcuts" in pane and "loading" not in pane.lower():
            return Screen("ready")
        return Screen("starting")

    def usage_limit(self, text: str) -> str | None:
        found = list(_USAGE_LIMIT.finditer(text))
        return (found[-1][1] or "").strip() if found else None


def codex_home(environ: Mapping[str, str] = os.environ) -> Path:
    """`$CODEX_HOME`, `~/.codex` by default: Codex's config and its rollouts."""
    home = Path(environ.get("HOME") or Path.home())
    return Path(environ.get("CODEX_HOME") or home / ".codex")


def sessions_dir() -> Path:
    """`$CODEX_HOME/sessions`, where rollouts live."""
    return codex_home() / "sessions"


def _read_config(config_file: Path) -> dict[str, Any]:
    """Codex's config, `{}` when missing or unreadable (Codex reports what is wrong)."""
    try:
        return tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _selected_provider(config_file: Path) -> dict[str, Any] | None:
    """The custom provider the config's top-level `model_provider` selects, if any."""
    config = _read_config(config_file)
    providers = config.get("model_providers")
    chosen = config.get("model_provider")
    if not isinstance(providers, dict) or not isinstance(chosen, str):
        return None
    found = providers.get(chosen)
    return found if isinstance(found, dict) else None


def provider_env_names(config_file: Path) -> tuple[str, ...]:
    """The environment variables Codex's config names for its model providers: each
    `[model_providers.<id>]`'s `env_key` and the values of its `env_http_headers`. All of
    them, not only the selected provider's: a profile or `-c` may pick another. An
    unreadable config names none; Codex itself reports what is wrong with it."""
    providers = _read_config(config_file).get("model_providers")
    names: list[str] = []
    for provider in providers.values() if isinstance(providers, dict) else ():
        if not isinstance(provider, dict):
            continue
        headers = provider.get("env_http_headers")
        named = [provider.get("env_key"), *(headers.values() if isinstance(headers, dict) else ())]
        names += [n for n in named if isinstance(n, str) and _ENV_NAME.fullmatch(n)]
    return tuple(dict.fromkeys(names))


def _session_id(first_line: str) -> str:
    """The session id of a rollout's first line, which `_first_line_is_session_in` read
    and checked before the rollout was watched."""
    payload = json.loads(first_line).get("payload") or {}
    return str(payload.get("id", ""))


def _first_line_is_session_in(path: Path, worktree: Path) -> bool:
    try:
        with path.open("rb") as handle:
            meta = json.loads(handle.readline())
    except (OSError, *UNREADABLE_JSON):
        return False
    payload = meta.get("payload") if isinstance(meta, dict) else None
    return isinstance(payload, dict) and payload.get("cwd") == str(worktree)


def _rollout_signal(line: str, since: float) -> Signal | None:
    entry = log_entry_since(line, since, ("event_msg", "response_item"))
    if entry is None:
        return None
    payload = entry.get("payload") or {}
    kind = payload.get("type")
    if entry["type"] == "response_item":  # the prompt as the model received it
        if kind != "message" or payload.get("role") != "user":
            return None
        parts = payload.get("content") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        return None if text.startswith("<") else Signal("accepted", text)
    turn = str(payload["turn_id"]) if payload.get("turn_id") else None
    if kind == "turn_aborted":
        reason = payload.get("reason", "no reason")
        return Signal("failed", f"the turn was aborted ({reason})", turn=turn)
    if kind == "task_complete":
        error = payload.get("error")
        if not error:
            return Signal("stop", turn=turn)
        info = json.dumps(error)
        if "usage_limit_exceeded" in info:
            return Signal("rate-limited", "usage limit exceeded", turn=turn)
        return Signal("failed", f"the turn ended on an error: {info[:300]}", turn=turn)
    return None
