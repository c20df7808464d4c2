"""Where issues live. `EpicStore` is the protocol; `FileEpicStore` keeps Epics as files in
the repo (file mode, the embedded default); a GitHub store slots in beside it."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from middle.errors import ConfigError, EpicFormatError, UnknownEpicError
from middle.issues.epic_file import Criterion, EpicDocument, Question, SubIssue, parse_epic
from middle.store.base import utcnow


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

    def confirms_done(self, branch: str) -> str | None:
        """None if a `done` stands; otherwise what the agent must still do."""
        ...

    def post_note(self, ref: str, text: str) -> None:
        """Tell the humans following the issue something (a comment, or a conversation
        event in the Epic file)."""
        ...


class FileEpicStore:
    """Epics as `<repo>/<epics_dir>/<slug>.md` files (format v1)."""

    mode = "file"

    def __init__(self, repo: Path, epics_dir: str = "planning/epics") -> None:
        self.repo = repo
        self.folder = repo / epics_dir

    def path(self, ref: str) -> Path:
        return self.folder / f"{ref}.md"

    def document(self, ref: str) -> EpicDocument:
        path = self.path(ref)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownEpicError(
                f"no Epic {ref!r}: {path} does not exist (file mode looks for "
                f"{self.folder.relative_to(self.repo)}/<slug>.md)"
            ) from None
        try:
            return parse_epic(text)
        except EpicFormatError as exc:
            raise EpicFormatError(f"{path}: {exc}") from exc

    def load(self, ref: str) -> Issue:
        doc = self.document(ref)
        return Issue(
            ref=ref,
            title=doc.title,
            context=doc.context,
            criteria=doc.criteria,
            sub_issues=doc.sub_issues,
            approved=doc.approved,
            closed=doc.closed,
            adapter=doc.adapter,
            complexity_ceiling=doc.meta_int("complexity_ceiling"),
            source=str(self.path(ref)),
        )

    def open_question(self, ref: str) -> Question | None:
        return self.document(ref).open_question

    def record_question(self, ref: str, text: str, *, kind: str) -> str:
        doc = self.document(ref).append_question(text, kind=kind, ts=utcnow(), author="agent")
        self._write(ref, doc)
        return doc.questions[-1].id

    def written_answer(self, ref: str) -> Question | None:
        """The open question, if a person has written its answer into the Epic file (below
        the placeholder line) and it has not been sent to the agent yet."""
        question = self.document(ref).open_question
        return question if question is not None and question.answer else None

    def record_answer(self, ref: str, text: str, *, author: str) -> None:
        doc = self.document(ref)
        question = doc.open_question
        if question is None:
            doc = doc.append_event(text, kind="human-note", ts=utcnow())
        else:
            doc = doc.answer_question(question.id, text, ts=utcnow(), author=author)
        self._write(ref, doc)

    def all_refs(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.md") if p.name != "README.md")

    def confirms_done(self, branch: str) -> str | None:
        return None  # in file mode the agent's done.json is the whole signal

    def post_note(self, ref: str, text: str) -> None:
        self._write(ref, self.document(ref).append_event(text, kind="note", ts=utcnow()))

    def _write(self, ref: str, doc: EpicDocument) -> None:
        """Replace the file atomically, so a crash never leaves half an Epic."""
        path = self.path(ref)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(doc.render())
        os.replace(tmp, path)


def open_epic_store(repo: Path, config: dict[str, Any]) -> EpicStore:
    """The store `[epic_store] mode` names for this repo."""
    settings = config.get("epic_store", {})
    mode = settings.get("mode", "file")
    if mode == "file":
        return FileEpicStore(repo, settings.get("epics_dir", "planning/epics"))
    if mode == "github":
        from middle.issues.github_store import GitHubEpicStore  # it builds on this module

        return GitHubEpicStore(repo)
    raise ConfigError(
        f"[epic_store] mode = {mode!r} in {repo / '.middle' / 'policy.toml'} is not "
        f'"file" or "github"'
    )
