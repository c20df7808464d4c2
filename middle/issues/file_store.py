"""File mode, the embedded default: `FileIssueStore` keeps Epics as files in the repo,
`<epics_dir>/<slug>.md` (format v1). A person answers the agent's question by writing
under it in the file; `poll` picks that up through `updates`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from middle.errors import EpicFormatError, MiddleError, UnknownEpicError
from middle.issues.base import BlockerState, Issue, IssueStore
from middle.issues.clock import utc_timestamp
from middle.issues.epic_blocks import with_parse_error
from middle.issues.epic_file import EpicDocument, Question, parse_epic
from middle.system.files import not_utf8, replace_file

if TYPE_CHECKING:
    from middle.checks import Check
    from middle.issues.polling import ParkedRun
    from middle.state_issue.draft import EpicFacts
    from middle.verify.phases import PhaseRun

_PLAN_EVENT = re.compile(r"^<!-- middle:dispatch-event ts=\S+ kind=plan -->$", re.M)

EPICS_README = """\
# Epics

Each `<slug>.md` here is one Epic that `middle implement --issue <slug>` can dispatch.
Lines of the form `<!-- middle:... -->` are structure that middle owns; write prose
between them. middle appends the agent's questions and your answers to the conversation
block; answer with `middle answer --issue <slug> --text "..."`.

```md
<!-- middle:epic v1 -->
# Retry failed webhooks

<!-- middle:meta
slug: retry-webhooks
approved: true
-->

## Context

Why this matters, what exists, what to watch out for.

## Acceptance criteria

- [ ] Failed deliveries retry with exponential backoff

## Sub-issues

<!-- middle:sub-issue id=1 -->
- [ ] **1 — Retry queue**
  Persist failed deliveries and retry them with backoff.
<!-- /middle:sub-issue -->

<!-- middle:conversation -->
<!-- /middle:conversation -->
```

Optional meta keys: `adapter` (the agent for this Epic), `complexity_ceiling`, `labels`.
"""


class FileIssueStore(IssueStore):
    """Epics as `<repo>/<epics_dir>/<slug>.md` files (format v1)."""

    mode = "file"

    def __init__(self, repo: Path, config: Mapping[str, Any] | None = None) -> None:
        self.repo = repo
        settings = (config or {}).get("epic_store", {})
        self.folder: Path = repo / str(settings.get("epics_dir", "planning/epics"))

    def path(self, ref: str) -> Path:
        return self.folder / f"{ref}.md"

    def document(self, ref: str) -> EpicDocument:
        path = self.path(ref)
        text = self._read(ref)
        try:
            return parse_epic(text)
        except EpicFormatError as exc:
            said = self._note_parse_error(path, text, str(exc))
            raise EpicFormatError(f"{path}: {exc}; {said}") from exc

    def _read(self, ref: str) -> str:
        """The Epic file's text; `EpicFormatError` (one line, naming it) if it cannot be
        read as text: not UTF-8 (the byte offset), a directory, no permission."""
        path = self.path(ref)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownEpicError(
                f"no Epic {ref!r}: {path} does not exist (file mode looks for "
                f"{self.folder.relative_to(self.repo)}/<slug>.md)"
            ) from None
        except IsADirectoryError:
            raise EpicFormatError(f"{path} is a directory, not an Epic file") from None
        except UnicodeDecodeError as exc:
            raise EpicFormatError(not_utf8(path, exc)) from None
        except OSError as exc:
            raise EpicFormatError(f"cannot read {path}: {exc.strerror}") from exc

    def _note_parse_error(self, path: Path, text: str, message: str) -> str:
        """Leave one parse-error block in the file, so the operator sees the problem
        where they will fix it, and say so. Idempotent: the same failure writes nothing."""
        noted, said = with_parse_error(text, message, ts=utc_timestamp())
        if noted == text:
            return said
        try:
            replace_file(path, noted)
        except OSError as exc:
            return f"middle could not note it in the file ({exc.strerror})"
        return said

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
            labels=tuple(doc.labels),
            parallel=doc.meta_int("parallel"),
            sequential=doc.meta.get("sequential", "").strip().lower() == "true",
            repos=tuple(doc.meta_map("repos").items()),
        )

    def open_question(self, ref: str) -> Question | None:
        return self.document(ref).open_question

    def record_question(self, ref: str, text: str, *, kind: str) -> str:
        doc = self.editable(ref).append_question(text, kind=kind, ts=utc_timestamp())
        self._write(ref, doc)
        return doc.questions[-1].id

    def how_to_unlabel(self, ref: str, label: str) -> str:
        return f"take {label} out of the `labels:` line of its meta block ({self.path(ref)})"

    def how_to_approve(self, ref: str, issue: Issue) -> str:
        return f"set `approved: true` in its meta block ({issue.source})"

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
            doc = doc.append_event(text, kind="human_note", ts=utc_timestamp())
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

    def blocker_status(self, slug: str) -> tuple[BlockerState, str]:
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

    def link(self, ref: str) -> str:
        return str(self.path(ref).relative_to(self.repo))

    def open_issues(self, default_adapter: str) -> list[EpicFacts]:
        from middle.state_issue.draft import EpicFacts  # the recommender's: not for status

        found = []
        for ref in self.all_refs():
            try:
                doc = self.document(ref)
            except MiddleError:
                continue  # the file now carries a parse-error block for its owner to see
            if doc.closed:
                continue
            open_subs = sum(1 for sub in doc.sub_issues if not sub.done)
            found.append(
                EpicFacts(
                    ref=ref,
                    title=doc.title,
                    adapter=doc.adapter or default_adapter,
                    open_subs=open_subs if doc.sub_issues else 1,
                    has_subs=bool(doc.sub_issues),
                    has_criteria=bool(doc.criteria),
                    blockers=tuple(f"#{slug}" for slug in self.open_blockers(ref)),
                    link=self.link(ref),
                    open_question=doc.open_question is not None,
                    labels=tuple(doc.labels),
                )
            )
        return found

    def updates(self, parked: ParkedRun) -> dict[str, Any] | None:
        """An answer a person wrote into the Epic file, under the open question, resumes
        the run like a GitHub reply (reviews still go through the CLI; the agent's
        done.json is the whole signal of a finished turn)."""
        if parked.reason != "asked-question":
            return None
        question = self.written_answer(parked.ref)
        if question is None or question.answer is None:
            return None
        return {
            "kind": "answer",
            "text": question.answer,
            "author": "epic-file",  # one token: it becomes an attribute in the Epic file
            "acted_on": [f"file-question-{question.id}"],
        }

    def doctor_checks(self) -> list[Check]:
        """Every Epic file parses, and renders back byte for byte."""
        from middle.checks import Check  # doctor's: `status` reads Epics without it

        refs = self.all_refs()
        broken = []
        for ref in refs:  # every broken Epic, not just the first
            try:
                text = self._read(ref)
            except MiddleError as exc:
                broken.append(str(exc))
                continue
            try:
                if parse_epic(text).render() != text:
                    broken.append(f"{self.path(ref)} does not round-trip")
            except MiddleError as exc:
                broken.append(f"{self.path(ref)}: {exc}")
        if broken:
            return [Check("fail", "epics", "\n  ".join(broken))]
        return [Check("ok", "epics", f"{len(refs)} Epic file(s) in {self.folder} round-trip")]

    def set_up(self) -> list[str]:
        """A README in the Epics folder that shows the format."""
        readme = self.folder / "README.md"
        if readme.exists():
            return []
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(EPICS_README)
        return [f"wrote {readme.relative_to(self.repo)}"]

    def deferral(self, ref: str, text: str) -> str | None:
        """A deferral in file mode names a person's answer in the Epic's conversation."""
        question = next((q for q in self.document(ref).questions if q.id == text), None)
        if question is None:
            return f"the Epic has no question {text} (name the id of a human's answer)"
        if question.status != "resolved" or not question.answer:
            return f"question {text} in the Epic has no human's answer yet"
        return None

    def record_evidence(self, ref: str, accepted: list[dict[str, str]]) -> None:
        """The accepted evidence, one line a criterion, as an `evidence` dispatch-event in
        the conversation (v1 has no other block for it)."""
        lines = ["Acceptance criteria evidence:"]
        lines += [f"- {entry['criterion']}: {entry['evidence']}" for entry in accepted]
        doc = self.editable(ref).append_event("\n".join(lines), kind="evidence", ts=utc_timestamp())
        self._write(ref, doc)

    def phase_marks(self, ref: str, branch: str) -> dict[str, bool]:
        """The sub-issues' checkboxes in the Epic file (`- [x] **N — Title**`)."""
        return {sub.id: sub.done for sub in self.document(ref).sub_issues}

    def revert_phase(self, ref: str, branch: str, run: PhaseRun) -> None:
        """Untick the sub-issue, and say why in a `phase_gates_failed` dispatch-event."""
        doc = self.editable(ref).with_sub_issue_done(run.phase, False)
        tails = [f"{r.summary()}\n{r.tail.strip()[-1500:]}" for r in run.failing]
        text = "\n\n".join([f"middle unticked sub-issue {run.phase}: {run.report()}", *tails])
        self._write(ref, doc.append_event(text, kind="phase_gates_failed", ts=utc_timestamp()))

    def publish_phase_evidence(self, ref: str, branch: str, run: PhaseRun) -> None:
        """One `gate_evidence` dispatch-event per phase, rewritten by each gate run."""
        doc = self.editable(ref).upsert_event(
            run.evidence_markdown(), kind="gate_evidence", ts=utc_timestamp(),
            key=f"Gate evidence for phase #{run.phase} ",
        )  # fmt: skip
        self._write(ref, doc)

    def plan_recorded(self, ref: str) -> bool:
        return bool(_PLAN_EVENT.search(self.document(ref).source))

    def record_plan(self, ref: str, plan: str) -> None:
        """The agent's plan, as a `plan` dispatch-event in the conversation, once."""
        if not self.plan_recorded(ref):
            text = f"The agent's plan:\n\n{plan}"
            self._write(ref, self.editable(ref).append_event(text, kind="plan", ts=utc_timestamp()))

    def tick_sub_issue(self, ref: str, sub: str) -> None:
        doc = self.document(ref)
        ticked = doc.tick_sub_issue(sub)
        if ticked is not doc:
            self._write(ref, ticked)

    def post_note(self, ref: str, text: str) -> None:
        self._write(ref, self.editable(ref).append_event(text, kind="note", ts=utc_timestamp()))

    def _write(self, ref: str, doc: EpicDocument) -> None:
        replace_file(self.path(ref), doc.render())
