"""What every agent adapter shares: stop classification, sentinels, rate-limit text."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from middle.errors import AgentError
from middle.hooks import install_hook_script
from middle.tmux import Tmux

PromptKind = Literal["initial", "answer", "resume"]
StopKind = Literal["asked-question", "rate-limited", "done", "failed", "bare-stop"]
SENTINELS = ("done.json", "blocked.json", "failed.json")
UNAVAILABLE_QUESTION = "(question text unavailable)"

PROMPT_LINES: dict[str, str] = {
    "initial": "Read .middle/prompt.md: it is your brief for this issue. Follow it.",
    "answer": "A human answered your question. Read .middle/prompt.md, then continue.",
    "resume": "Review feedback is in .middle/prompt.md. Address it, then finish again.",
}

# Usage-limit messages agent CLIs print; group "reset" captures when it resets, if said.
_RATE_LIMIT = re.compile(
    r"(?i)(?:usage limit|rate limit|limit) (?:has been |was )?reached"
    r"(?:[^\n]*?reset[s]?(?: at)? (?P<reset>[^\n]+?)|[^\n]*?)[.!]?\s*$",
    re.M,
)


@dataclass(frozen=True)
class Stop:
    """How an agent's turn ended (DESIGN.md, "Stop classification")."""

    kind: StopKind
    question: str | None = None
    question_kind: str = "question"
    context: str | None = None
    reason: str | None = None
    reset_at: str | None = None


class AgentAdapter(Protocol):
    name: str
    starts_session_on_first_prompt: bool

    def check_available(self) -> None: ...

    def install_hooks(self, worktree: Path) -> None: ...

    def build_launch_command(self, worktree: Path) -> tuple[list[str], dict[str, str]]: ...

    def build_prompt_text(self, kind: PromptKind) -> str: ...

    def enter_auto_mode(self, tmux: Tmux, session: str) -> None: ...

    def resolve_transcript_path(
        self, worktree: Path, session_start: Mapping[str, Any]
    ) -> Path | None: ...

    def classify_stop(self, worktree: Path, transcript_tail: str) -> Stop: ...

    def detect_rate_limit(self, text: str) -> str | None: ...


class BaseAdapter:
    """The behaviour adapters share; each adapter overrides what its CLI does differently."""

    name = "base"
    starts_session_on_first_prompt = False

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings

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
                f"or set [adapters.{self.name}] in $MIDDLE_HOME/config.toml"
            )

    def install_hooks(self, worktree: Path) -> None:
        install_hook_script(worktree)

    def build_launch_command(self, worktree: Path) -> tuple[list[str], dict[str, str]]:
        return self.argv(), {}

    def build_prompt_text(self, kind: PromptKind) -> str:
        return PROMPT_LINES[kind]

    def enter_auto_mode(self, tmux: Tmux, session: str) -> None:
        return None

    def resolve_transcript_path(
        self, worktree: Path, session_start: Mapping[str, Any]
    ) -> Path | None:
        path = session_start.get("transcript_path")
        return Path(path) if isinstance(path, str) and path else None

    def classify_stop(self, worktree: Path, transcript_tail: str) -> Stop:
        return classify_stop(worktree, transcript_tail, self.detect_rate_limit)

    def detect_rate_limit(self, text: str) -> str | None:
        """The reset time if `text` ends a turn on a usage limit ("" if it gives none)."""
        matches = list(_RATE_LIMIT.finditer(text))
        if not matches:
            return None
        return (matches[-1]["reset"] or "").strip()


def read_sentinel(worktree: Path, name: str) -> dict[str, Any] | None:
    """The sentinel's JSON object; `{}` if it exists but is not one; None if absent."""
    path = worktree / ".middle" / name
    try:
        value = json.loads(path.read_text(encoding="utf-8", errors="replace") or "{}")
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def classify_stop(worktree: Path, transcript_tail: str, detect_rate_limit: Any) -> Stop:
    """Blocked, then rate-limited, then done, then failed, else a bare stop."""
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
    reset_at = detect_rate_limit(transcript_tail)
    if reset_at is not None:
        return Stop("rate-limited", reset_at=reset_at or None)
    if read_sentinel(worktree, "done.json") is not None:
        return Stop("done")
    failed = read_sentinel(worktree, "failed.json")
    if failed is not None:
        reason = failed.get("reason")
        return Stop("failed", reason=reason if isinstance(reason, str) else "(no reason given)")
    return Stop("bare-stop")


def consume_sentinels(worktree: Path) -> None:
    """Remove the turn's sentinels, so the next turn starts from a clean slate."""
    for name in SENTINELS:
        (worktree / ".middle" / name).unlink(missing_ok=True)
