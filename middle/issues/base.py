"""What every issue store gives its callers: the `Issue` a dispatch sees, and the
`EpicStore` protocol the file and GitHub stores implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from middle.issues.epic_file import Criterion, Question, SubIssue


@dataclass(frozen=True)
class Issue:
    """An issue or Epic as a dispatch sees it, whatever store it came from."""

    ref: str
    title: str
    context: str
    criteria: list[Criterion]
    sub_issues: list[SubIssue]
    approved: bool
    closed: bool
    adapter: str | None
    complexity_ceiling: int | None
    source: str  # where it lives, for messages: a file path or a URL


class EpicStore(Protocol):
    mode: str

    def load(self, ref: str) -> Issue: ...

    def open_question(self, ref: str) -> Question | None: ...

    def record_question(self, ref: str, text: str, *, kind: str) -> str: ...

    def record_answer(self, ref: str, text: str, *, author: str) -> None: ...

    def all_refs(self) -> list[str]: ...

    def open_blockers(self, ref: str) -> list[str]:
        """The refs this issue waits on that are not closed yet, as a person writes them
        (`queue`, `#12`, `acme/widgets#7`)."""
        ...

    def blocker_status(self, ref: str) -> tuple[str, str]:
        """(`open` | `closed` | `missing`, title) of a blocker ref as the state issue
        writes it, without its `#` (`12`, `acme/widgets#7`, `slug`)."""
        ...

    def confirms_done(self, branch: str) -> str | None:
        """None if a `done` stands; otherwise what the agent must still do."""
        ...

    def post_note(self, ref: str, text: str) -> None:
        """Tell the humans following the issue something (a comment, or a conversation
        event in the Epic file)."""
        ...
