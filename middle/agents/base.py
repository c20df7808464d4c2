"""What every agent adapter shares: the adapter protocol, turn signals, stop classification.

An adapter tells middle how one agent CLI is launched, what its screen means while it
starts (ready, a dialog to answer, a screen nobody knows), which of its hooks and files
say that a prompt was accepted or a turn ended, and which of its messages are a usage
limit. The turn driver (`middle.steps.turn`) owns the loop; adapters only interpret.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from middle.errors import UNREADABLE_JSON, AgentError
from middle.system.hooks import Hook, install_hook_script
from middle.system.worktree import SENTINELS, sentinel_path

PromptKind = Literal["initial", "answer", "resume", "nudge"]
StopKind = Literal["asked-question", "rate-limited", "done", "failed", "bare-stop"]
UNAVAILABLE_QUESTION = "(question text unavailable)"

POINTER_LINES: dict[str, str] = {
    "initial": "Read .middle/prompt.md: it is your brief for this issue. Follow it.",
    "answer": "A human answered your question. Read .middle/prompt.md, then continue.",
    "resume": "Review feedback is in .middle/prompt.md. Address it, then finish again.",
}

# Words that allow a permission the agent asked for; anything else denies it, and is
# passed on to the agent as what to do instead.
_ALLOW = re.compile(r"(?i)\s*(y|yes|allow|allowed|approve|approved|ok|okay|go ahead|1)[.!]?\s*")


@dataclass(frozen=True)
class Stop:
    """How an agent's turn ended (DESIGN.md, "Stop classification")."""

    kind: StopKind
    question: str | None = None
    question_kind: str = "question"
    context: str | None = None
    reason: str | None = None
    reset_at: str | None = None


@dataclass(frozen=True)
class Signal:
    """What the CLI said through a hook or one of its own files, in middle's words.

    - `accepted`: the prompt was submitted (`detail` holds the prompt text the CLI saw);
    - `stop`: the turn ended normally;
    - `rate-limited`: the turn ended on a usage or rate limit (`reset` when said);
    - `failed`: the turn ended on an error that is not a limit (billing, API, abort);
    - `ended`: the CLI's session ended (the process is exiting);
    - `tool`: the agent is about to run a tool (`detail` says what), for permission texts;
    - `permission`: the CLI waits for a human to allow a tool call, however its prompt looks;
    - `session`: the CLI's session id (`detail`) and its transcript (`path`), where no
      SessionStart hook says them.

    `turn` is the CLI's id for the turn a signal ends, where it gives one: a CLI that
    reports one end twice (a hook and its log) is then counted once.
    """

    kind: Literal[
        "accepted", "stop", "rate-limited", "failed", "ended", "tool", "permission", "session"
    ]
    detail: str = ""
    reset: str | None = None
    path: str | None = None
    turn: str | None = None


@dataclass(frozen=True)
class Screen:
    """What the CLI's terminal shows, as far as driving it goes.

    - `starting`: not ready for a prompt yet;
    - `ready`: idle at its prompt;
    - `busy`: working on a turn;
    - `dialog`: a known dialog, answered by pressing `keys` (`name` says which);
    - `permission`: the agent waits for a human to allow a tool call;
    - `rate-limited`: a limit screen, answered by `keys` (`reset` when said);
    - `waiting`: not ready, and saying why, for a wait it bounds itself: the launch's
      clock waits with it.
    """

    kind: Literal["starting", "ready", "busy", "dialog", "permission", "rate-limited", "waiting"]
    name: str = ""
    keys: tuple[str, ...] = ()
    reset: str | None = None


@dataclass
class BaseAdapter:
    """The behaviour adapters share; each adapter overrides what its CLI does differently.

    Class attributes an adapter sets:
    - `name`: the adapter's name in config (`[adapters.<name>]`) and on the command line;
    - `defaults`: its config defaults, under what the user's config and policy say;
    - `env_allow`: the environment variables (a trailing `*` is a prefix) its CLI needs;
    - `tested_versions`: the lowest and highest CLI version the test suite ran, or None;
    - `confirms_prompts`: whether the CLI reports each prompt it accepted (a hook or its
      own log); without it, a prompt counts as delivered once typed;
    - `inline_brief`: whether the prompt is the whole brief, pasted, rather than a line
      that points at `.middle/prompt.md`;
    - `knows_screens`: whether `screen` can tell when the CLI is ready, so a screen it
      does not know means a dialog nobody answered.
    """

    name: ClassVar[str] = "base"
    defaults: ClassVar[dict[str, Any]] = {}
    env_allow: ClassVar[tuple[str, ...]] = ()
    tested_versions: ClassVar[tuple[str, str] | None] = None
    confirms_prompts: ClassVar[bool] = False
    inline_brief: ClassVar[bool] = False
    knows_screens: ClassVar[bool] = False

    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.settings = {**self.defaults, **self.settings}

    # -- the CLI ------------------------------------------------------------------------

    def argv(self) -> list[str]:
        return [str(self.settings.get("binary", self.name))]

    def check_available(self) -> None:
        argv = self.argv()
        if not argv:
            raise AgentError(
                f"the {self.name} adapter has no command configured; set "
                f"[adapters.{self.name}] argv in $MIDDLE_HOME/config.toml, or MIDDLE_AGENT_COMMAND"
            )
        if shutil.which(argv[0]) is None:
            raise AgentError(
                f"the {self.name} adapter's command {argv[0]!r} is not on PATH; install it, "
                f"or set [adapters.{self.name}] binary in $MIDDLE_HOME/config.toml"
            )

    def version(self) -> str | None:
        """The CLI's version as `X.Y.Z`, from `--version`; None if it does not say."""
        try:
            done = subprocess.run(
                [*self.argv()[:1], "--version"], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = re.search(r"\d+\.\d+\.\d+", done.stdout + done.stderr)
        return found[0] if found else None

    def account(self, environ: Mapping[str, str]) -> tuple[bool, str] | None:
        """For `doctor`: whether the CLI can reach a model as `environ` and its files are
        set up now (logged in, or a key or a provider configured), and how; None when
        middle cannot tell for this CLI."""
        return None

    def env_patterns(self) -> tuple[str, ...]:
        """What the agent may inherit: the CLI's own needs plus `env_pass` from config."""
        extra = self.settings.get("env_pass", [])
        return (*self.env_allow, *(str(name) for name in extra))

    # -- a worktree and a launch --------------------------------------------------------

    def prepare(self, worktree: Path) -> None:
        """Install the hook relay and whatever CLI config this worktree needs (idempotent)."""
        install_hook_script(worktree)

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        """The command that starts the CLI in `worktree`; `resume_session` continues that
        session's conversation where the CLI can."""
        return self.argv()

    def prompt_text(self, kind: PromptKind, brief: str) -> str:
        """What is typed for a prompt: the brief itself, or the line that points at it."""
        if self.inline_brief and kind != "nudge":
            return brief
        return POINTER_LINES.get(kind, brief)

    def screen(self, pane: str, session_started: bool) -> Screen:
        """A CLI without known screens is ready once it sent SessionStart."""
        return Screen("ready" if session_started else "starting")

    def permission_keys(self, answer: str) -> tuple[tuple[str, ...], str | None]:
        """The keys that answer a permission prompt, and the text to send the agent after
        them (a denial's reason). Plain `y`, `yes`, `allow` ... allow."""
        if _ALLOW.fullmatch(answer):
            return ("Enter",), None
        return ("Escape",), answer

    # -- what the CLI said --------------------------------------------------------------

    def read_hook(self, hook: Hook) -> Signal | None:
        """Claude Code's hook vocabulary, which any CLI behind the command adapter may
        speak too (docs/command-adapter.md)."""
        payload = hook.payload
        if hook.event == "UserPromptSubmit":
            prompt = payload.get("prompt")
            return Signal("accepted", prompt if isinstance(prompt, str) else "")
        if hook.event == "Stop":
            return Signal("stop")
        if hook.event == "StopFailure":
            return stop_failure(payload, self.usage_limit)
        if hook.event == "SessionEnd":
            return Signal("ended", str(payload.get("reason", "")))
        if hook.event == "PreToolUse":
            return Signal("tool", describe_tool(payload))
        return None

    def watch(self, worktree: Path, launched_at: float) -> list[Signal]:
        """New signals from the CLI's own files rather than hooks (Codex's rollout): each
        line is reported once per adapter instance."""
        return []

    def transcript_path(self, worktree: Path, session_start: Mapping[str, Any]) -> Path | None:
        path = session_start.get("transcript_path")
        return Path(path) if isinstance(path, str) and path else None

    def transcript_roots(self, worktree: Path) -> tuple[Path, ...]:
        """The folders this CLI keeps the transcript of a session in `worktree` under.

        The transcript's path comes from the agent (its SessionStart hook), so it is
        trusted no further than this: a run's state carries a transcript to another
        machine (`middle state export`, the CI state ref) only from under one of these
        folders, and restores it only under one of them. A CLI that keeps its transcript
        in the worktree needs nothing more."""
        return (worktree,)

    def usage_limit(self, text: str) -> str | None:
        """The reset time ("" if unsaid) if `text` holds this CLI's own usage-limit
        message; None otherwise. Only the CLI's exact message counts, never prose."""
        return None

    def classify_stop(self, worktree: Path, signal: Signal, text: str) -> Stop:
        return classify_stop(worktree, signal, self.usage_limit(text))


def stop_failure(payload: Mapping[str, Any], usage_limit: Any) -> Signal:
    """A `StopFailure` hook: the turn ended on an API error."""
    error = str(payload.get("error", "unknown"))
    message = str(payload.get("last_assistant_message") or payload.get("message") or "")
    if error == "rate_limit":
        reset = usage_limit(message)
        return Signal("rate-limited", message or "rate limit", reset=reset or None)
    if error == "billing_error":
        return Signal("failed", f"the agent's API account has a billing error: {message}".strip())
    return Signal("failed", f"the agent's API request failed ({error}) {message}".strip())


def describe_tool(payload: Mapping[str, Any]) -> str:
    """A tool call, as a person reads it: the shell command, or the tool and its input."""
    tool = str(payload.get("tool_name", "a tool"))
    arguments = payload.get("tool_input")
    if isinstance(arguments, Mapping):
        command = arguments.get("command") or arguments.get("cmd")
        if isinstance(command, str):
            return f"{tool}: {command}"
        return f"{tool}: {json.dumps(arguments)[:500]}"
    return tool


def log_entry_since(line: str, since: float, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """One JSON line of a CLI's own log (Codex's rollout, Copilot's session events) if its
    `type` is one of `kinds` and its ISO `timestamp` is not before `since`; else None."""
    try:
        entry = json.loads(line)
    except UNREADABLE_JSON:
        return None
    if not isinstance(entry, dict) or entry.get("type") not in kinds:
        return None
    try:
        stamp = datetime.fromisoformat(str(entry.get("timestamp", "")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return entry if stamp.timestamp() >= since else None


def read_sentinel(worktree: Path, name: str) -> dict[str, Any] | None:
    """The sentinel's JSON object; `{}` if it exists but is not one; None if absent."""
    path = sentinel_path(worktree, name)
    try:
        value = json.loads(path.read_text(encoding="utf-8", errors="replace") or "{}")
    except FileNotFoundError:
        return None
    except UNREADABLE_JSON:
        return {}
    return value if isinstance(value, dict) else {}


def classify_stop(worktree: Path, signal: Signal, text_limit: str | None) -> Stop:
    """DESIGN.md's order, with the limit split by how it is known:

    1. blocked.json → asked-question
    2. a structured limit signal (StopFailure, Codex's `usage_limit_exceeded`) → rate-limited
    3. done.json → done (so a limit message the agent merely echoed cannot hide it)
    4. the CLI's exact usage-limit message on screen or in the transcript → rate-limited
    5. failed.json, or a failure signal → failed
    6. the session ended, or otherwise → bare-stop (a stop with no sentinel)
    """
    blocked = read_sentinel(worktree, "blocked.json")
    if blocked is not None:
        question = blocked.get("question")
        kind = blocked.get("kind")
        context = blocked.get("context")
        return Stop(
            "asked-question",
            question=question.strip() if isinstance(question, str) and question.strip()
            else UNAVAILABLE_QUESTION,
            question_kind=kind if kind in ("question", "complexity") else "question",
            context=context if isinstance(context, str) else None,
        )  # fmt: skip
    if signal.kind == "rate-limited":
        return Stop("rate-limited", reset_at=signal.reset, reason=signal.detail or None)
    if read_sentinel(worktree, "done.json") is not None:
        return Stop("done")
    if text_limit is not None:
        return Stop("rate-limited", reset_at=text_limit or None)
    failed = read_sentinel(worktree, "failed.json")
    if failed is not None:
        reason = failed.get("reason")
        return Stop("failed", reason=reason if isinstance(reason, str) else "(no reason given)")
    if signal.kind == "failed":
        return Stop("failed", reason=signal.detail)
    if signal.kind == "ended":
        return Stop("bare-stop", reason=f"ended its session ({signal.detail or 'exited'})")
    return Stop("bare-stop")


def consume_sentinels(worktree: Path) -> None:
    """Remove the turn's sentinels, so the next turn starts from a clean slate."""
    for name in SENTINELS:
        sentinel_path(worktree, name).unlink(missing_ok=True)
