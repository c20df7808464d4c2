"""Where issues live. `FileEpicStore` keeps Epics as files in the repo (file mode, the
embedded default); `open_epic_store` picks it or the GitHub store by the policy's mode.
The protocol both implement is `middle.issues.base.EpicStore`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from middle.errors import ConfigError, EpicFormatError, UnknownEpicError
from middle.issues.base import EpicStore, Issue
from middle.issues.epic_blocks import with_parse_error
from middle.issues.epic_file import EpicDocument, Question, parse_epic
from middle.store.base import utcnow


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
            self._note_parse_error(path, text, str(exc))
            raise EpicFormatError(f"{path}: {exc}") from exc

    def _note_parse_error(self, path: Path, text: str, message: str) -> None:
        """Leave one parse-error block in the file, so the operator sees the problem
        where they will fix it. Idempotent: the same failure writes nothing new."""
        noted = with_parse_error(text, message, ts=utcnow())
        if noted != text:
            _replace_file(path, noted)

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
        doc = self.editable(ref).append_question(text, kind=kind, ts=utcnow())
        self._write(ref, doc)
        return doc.questions[-1].id

    def written_answer(self, ref: str) -> Question | None:
        """The open question, if a person has written its answer into the Epic file (below
        the placeholder line) and it has not been sent to the agent yet."""
        question = self.document(ref).open_question
        return question if question is not None and question.answer else None

    def record_answer(self, ref: str, text: str, *, author: str) -> None:
        """Resolve the open question with `text` (v1 has no place for `author`; the
        answer is written verbatim), or log `text` as a note when nothing is open."""
        doc = self.editable(ref)
        question = doc.open_question
        if question is None:
            doc = doc.append_event(text, kind="human_note", ts=utcnow())
        else:
            doc = doc.answer_question(question.id, text)
        self._write(ref, doc)

    def editable(self, ref: str) -> EpicDocument:
        """The document, its conversation migrated to the v1 vocabulary: every edit starts
        here, so a file an earlier middle wrote is migrated the first time it is touched."""
        return self.document(ref).migrated()

    def blocked_by(self, ref: str) -> list[str]:
        return self.document(ref).blocked_by

    def open_blockers(self, ref: str) -> list[str]:
        """The `blocked-by` slugs whose Epic is not closed (a missing Epic counts as open:
        the dependency cannot be shown to be done)."""
        return [slug for slug in self.blocked_by(ref) if self.blocker_status(slug)[0] != "closed"]

    def blocker_status(self, slug: str) -> tuple[str, str]:
        """(`open` | `closed` | `missing`, title) of the Epic `slug`. A cross-repo ref
        (`owner/repo#n`) is out of v1's scope in file mode, so it is missing."""
        if "/" in slug or "#" in slug or not self.path(slug).is_file():
            return "missing", ""
        try:
            doc = self.document(slug)
        except EpicFormatError:
            return "open", ""
        return ("closed" if doc.closed else "open"), doc.title

    def all_refs(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.md") if p.name != "README.md")

    def confirms_done(self, branch: str) -> str | None:
        return None  # in file mode the agent's done.json is the whole signal

    def post_note(self, ref: str, text: str) -> None:
        self._write(ref, self.editable(ref).append_event(text, kind="note", ts=utcnow()))

    def _write(self, ref: str, doc: EpicDocument) -> None:
        _replace_file(self.path(ref), doc.render())


def _replace_file(path: Path, text: str) -> None:
    """Replace the file atomically, so a crash never leaves half an Epic."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
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
