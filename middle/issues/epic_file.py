"""The Epic file format, v1: parse, edit the conversation, render byte for byte.

An Epic is Markdown with `<!-- middle:... -->` marker lines that middle owns; people write
prose between them. Parsing is lossless: the document keeps its source text, fields are
read from it, and the only edits middle makes (appending to, or answering in, the
conversation block) splice new text into that block. So `parse(text).render() == text`
for every file middle accepts, and an edit touches nothing outside the conversation.

    <!-- middle:epic v1 -->
    # Title
    <!-- middle:meta
    slug: retry-webhooks
    approved: true
    -->
    ## Context / ## Acceptance criteria (- [ ] items) / ## Sub-issues
    <!-- middle:sub-issue id=1 --> - [ ] **1 — Title** + indented body <!-- /middle:sub-issue -->
    <!-- middle:conversation --> questions, answers, events <!-- /middle:conversation -->

The blocks middle writes into the conversation, and the v1 vocabulary they follow, are in
`epic_blocks`. Both implementations of the format read these files, so the parser also
accepts what the other one writes: a `blocked-by: [slug, ...]` meta key and
`<!-- middle:parse-error -->` blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from middle.errors import EpicFormatError
from middle.issues.epic_blocks import (
    PARSE_ERROR_CLOSE,
    event_block,
    migrate_conversation,
    question_block,
    resolve_question,
    upsert_event,
)
from middle.issues.epic_blocks import render_new_epic as render_new_epic  # its old home

HEADER = "<!-- middle:epic v1 -->"
_MARKER = re.compile(
    r"^<!-- (?P<close>/)?middle:(?P<name>[a-z-]+)(?P<attrs>(?: [a-z_]+=\S+)*) -->$"
)
_ATTR = re.compile(r"([a-z_]+)=(\S+)")
_CHECKBOX = re.compile(r"^- \[(?P<mark>[ xX])\] (?P<text>.*)$")
_SUB_BLOCKED_BY = re.compile(r"^blocked-by:\s*\[(?P<ids>[^\]]*)\]\s*$", re.M)
_SUB_REPO = re.compile(r"^repo:\s*(?P<name>\S+)\s*$", re.M)
_SUB_TITLE = re.compile(r"^\*\*(?P<id>[^*]+?) — (?P<title>.+?)\*\*(?P<rest>.*)$")
_KNOWN_BLOCKS = {
    "sub-issue",
    "conversation",
    "question",
    "answer",
    "dispatch-event",
    "event",
    "parse-error",
}


@dataclass(frozen=True)
class Criterion:
    done: bool
    text: str


@dataclass(frozen=True)
class SubIssue:
    """A sub-issue. `blocked_by` are the ids of the sibling sub-issues it waits on: in file
    mode a `blocked-by: [1, 2]` line of its indented body (the key the meta uses), which
    stays in `body` and in the file, since rendering is the source. `repo` names the repo
    it is in (a `repo: lib` line, a key of the Epic's `repos:` meta), None for the Epic's."""

    id: str
    done: bool
    title: str
    body: str
    blocked_by: tuple[str, ...] = ()
    repo: str | None = None


@dataclass(frozen=True)
class Question:
    id: str
    status: str
    kind: str
    ts: str
    text: str
    answer: str | None


@dataclass
class EpicDocument:
    """A parsed Epic. `source` is the text it came from; edits go through the methods."""

    source: str
    title: str
    meta: dict[str, str]
    context: str
    criteria: list[Criterion]
    sub_issues: list[SubIssue]
    questions: list[Question]
    _conversation: tuple[int, int] = field(repr=False)  # source offsets of its inner text

    # -- typed meta ---------------------------------------------------------------------

    @property
    def slug(self) -> str:
        return self.meta.get("slug", "")

    @property
    def approved(self) -> bool:
        return self.meta.get("approved", "false").strip().lower() == "true"

    @property
    def closed(self) -> bool:
        return self.meta.get("closed", "false").strip().lower() == "true"

    @property
    def adapter(self) -> str | None:
        return self.meta.get("adapter") or None

    @property
    def labels(self) -> list[str]:
        return self.meta_list("labels")

    @property
    def blocked_by(self) -> list[str]:
        """Slugs of the Epics this one waits on (`blocked-by: [a, b]`)."""
        return self.meta_list("blocked-by")

    def meta_list(self, key: str) -> list[str]:
        raw = self.meta.get(key, "").strip()
        if raw.startswith("[") and raw.endswith("]"):
            raw = raw[1:-1]
        return [item.strip() for item in raw.split(",") if item.strip()]

    def meta_map(self, key: str) -> dict[str, str]:
        """A meta key holding indented `name: value` lines (`repos:` then `  lib: ../lib`)."""
        found = {}
        for line in self.meta.get(key, "").splitlines():
            name, colon, value = line.partition(":")
            if colon and name.strip():
                found[name.strip()] = value.strip()
        return found

    def meta_int(self, key: str) -> int | None:
        value = self.meta.get(key)
        return int(value) if value and value.strip().isdigit() else None

    # -- edits and rendering ------------------------------------------------------------

    def render(self) -> str:
        return self.source

    @property
    def open_question(self) -> Question | None:
        return next((q for q in reversed(self.questions) if q.status == "open"), None)

    def append_question(self, text: str, *, kind: str, ts: str) -> EpicDocument:
        """A new document with an open question (and its empty answer block) appended."""
        number = str(1 + max((int(q.id) for q in self.questions if q.id.isdigit()), default=0))
        return self._append(question_block(number, text, kind=kind, ts=ts))

    def answer_question(self, question_id: str, text: str) -> EpicDocument:
        """A new document where question `question_id` is resolved with `text`, verbatim."""
        start, end = self._conversation
        inner = resolve_question(self.source[start:end], question_id, text)
        if inner is None:
            raise EpicFormatError(f"the Epic has no question {question_id} to answer")
        return parse_epic(self.source[:start] + inner + self.source[end:])

    def tick_sub_issue(self, sub_id: str) -> EpicDocument:
        """A new document whose sub-issue `sub_id` line reads `- [x]` (itself if it does,
        or if it has no such sub-issue): the one edit middle makes outside the
        conversation, as an Epic's children merge."""
        marker = re.compile(
            rf"^(<!-- middle:sub-issue id={re.escape(sub_id)}(?: [a-z_]+=\S+)* -->\r?\n)- \[ \] ",
            re.M,
        )
        ticked = marker.sub(lambda found: f"{found[1]}- [x] ", self.source, count=1)
        return self if ticked == self.source else parse_epic(ticked)

    def append_event(self, text: str, *, kind: str, ts: str) -> EpicDocument:
        return self._append(event_block(text, kind=kind, ts=ts))

    def upsert_event(self, text: str, *, kind: str, ts: str, key: str) -> EpicDocument:
        """A new document whose dispatch-event of `kind` starting with `key` says `text`
        (which starts with `key`): edited in place, or appended the first time."""
        start, end = self._conversation
        block = event_block(text, kind=kind, ts=ts)
        inner = upsert_event(self.source[start:end], block, kind=kind, key=key)
        return parse_epic(self.source[:start] + inner + self.source[end:])

    def with_sub_issue_done(self, sub_id: str, done: bool) -> EpicDocument:
        """A new document with sub-issue `sub_id`'s checkbox set to `done` (the only
        change: the one character between its brackets)."""
        pattern = re.compile(
            rf"^<!-- middle:sub-issue (?:[a-z_]+=\S+ )*id={re.escape(sub_id)}"
            rf"(?: [a-z_]+=\S+)* -->\r?\n- \[(?P<mark>[ xX])\] ",
            re.M,
        )
        found = pattern.search(self.source)
        if found is None:
            raise EpicFormatError(f"the Epic has no sub-issue {sub_id}")
        mark = "x" if done else " "
        at = found.start("mark")
        return parse_epic(self.source[:at] + mark + self.source[at + 1 :])

    def migrated(self) -> EpicDocument:
        """This document with the conversation in the v1 vocabulary (itself if it is)."""
        start, end = self._conversation
        inner = migrate_conversation(self.source[start:end])
        if inner == self.source[start:end]:
            return self
        return parse_epic(self.source[:start] + inner + self.source[end:])

    def _append(self, block: str) -> EpicDocument:
        """Append `block` to the conversation, one blank line from what came before."""
        start, end = self._conversation
        before = self.source[start:end].rstrip("\n")
        inner = f"{before}\n\n{block}\n" if before else f"\n{block}\n"
        return parse_epic(self.source[:start] + inner + self.source[end:])


def parse_epic(text: str) -> EpicDocument:
    """Parse an Epic file; `EpicFormatError` names the line and what was expected."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line))
        self.i = 0

    def fail(self, expected: str, line: int | None = None) -> EpicFormatError:
        number = (self.i if line is None else line) + 1
        return EpicFormatError(f"line {number}: expected {expected}")

    def line(self, index: int | None = None) -> str:
        index = self.i if index is None else index
        return self.lines[index].rstrip("\r\n") if index < len(self.lines) else ""

    def skip_blank(self) -> None:
        while self.i < len(self.lines) and not self.line().strip():
            self.i += 1

    def parse(self) -> EpicDocument:
        if self.line(0) != HEADER:
            raise self.fail(f"`{HEADER}` as the first line", 0)
        self.i = 1
        self.skip_blank()
        if not self.line().startswith("# "):
            raise self.fail("the title, as a `# Title` line")
        title = self.line()[2:].strip()
        self.i += 1
        self.skip_blank()
        meta = self.parse_meta()
        sections, sub_issues, conversation = self.parse_body()
        questions = _questions(self.text[conversation[0] : conversation[1]])
        return EpicDocument(
            source=self.text,
            title=title,
            meta=meta,
            context=sections.get("context", "").strip("\n"),
            criteria=_criteria(sections.get("acceptance criteria", "")),
            sub_issues=sub_issues,
            questions=questions,
            _conversation=conversation,
        )

    def parse_meta(self) -> dict[str, str]:
        if self.line() != "<!-- middle:meta":
            raise self.fail("the `<!-- middle:meta` block after the title")
        opened = self.i
        self.i += 1
        meta: dict[str, str] = {}
        key = ""  # the last key: an indented line under an empty one is one of its lines
        while self.i < len(self.lines) and self.line() != "-->":
            entry = self.line()
            if entry[:1] in (" ", "\t") and entry.strip() and key:
                meta[key] = f"{meta[key]}\n{entry.strip()}".lstrip("\n")
            elif entry.strip():
                name, colon, value = entry.partition(":")
                if not colon or not re.fullmatch(r"[a-z_][a-z_-]*", name.strip()):
                    raise self.fail("a `key: value` line in the meta block")
                key = name.strip() if not value.strip() else ""
                meta[name.strip()] = value.strip()
            self.i += 1
        if self.i >= len(self.lines):
            raise self.fail("`-->` closing the meta block opened here", opened)
        self.i += 1
        return meta

    def parse_body(self) -> tuple[dict[str, str], list[SubIssue], tuple[int, int]]:
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        sub_issues: list[SubIssue] = []
        conversation: tuple[int, int] | None = None
        while self.i < len(self.lines):
            raw = self.line()
            if raw.startswith("## "):
                current = sections.setdefault(raw[3:].strip().lower(), [])
                self.i += 1
                continue
            marker = _MARKER.match(raw)
            if marker is None and raw.startswith("<!-- middle:"):
                raise self.fail("a marker like `<!-- middle:NAME key=value -->`")
            if marker is not None:
                name = marker["name"]
                if name == "parse-error" and not marker["close"]:
                    self.skip_parse_error()
                    continue
                if marker["close"] or name not in ("sub-issue", "conversation"):
                    raise self.fail(f"prose, a section or a block here, not `{raw}`")
                if name == "sub-issue":
                    sub_issues.append(self.parse_sub_issue(dict(_ATTR.findall(marker["attrs"]))))
                    if any(s.id == sub_issues[-1].id for s in sub_issues[:-1]):
                        raise self.fail(f"a unique sub-issue id, not a second {sub_issues[-1].id}")
                    continue
                if conversation is not None:
                    raise self.fail("one conversation block, not a second")
                conversation = self.parse_conversation()
                current = None
                continue
            if current is not None:
                current.append(self.lines[self.i])
            self.i += 1
        if conversation is None:
            raise self.fail("a `<!-- middle:conversation -->` block before the end of the file")
        return {k: "".join(v) for k, v in sections.items()}, sub_issues, conversation

    def skip_parse_error(self) -> None:
        """Step over a parse-error block outside the conversation: the note another run
        (of either implementation) appended when this file last failed to parse."""
        opened = self.i
        self.i += 1
        while self.i < len(self.lines) and self.line() != PARSE_ERROR_CLOSE:
            self.i += 1
        if self.i >= len(self.lines):
            raise self.fail(f"`{PARSE_ERROR_CLOSE}` closing the block opened here", opened)
        self.i += 1

    def parse_sub_issue(self, attrs: dict[str, str]) -> SubIssue:
        opened = self.i
        if "id" not in attrs:
            raise self.fail("`id=` on the sub-issue marker")
        self.i += 1
        body: list[str] = []
        while self.i < len(self.lines) and self.line() != "<!-- /middle:sub-issue -->":
            if self.line().startswith("<!-- middle:") or self.line().startswith("## "):
                break
            body.append(self.line())
            self.i += 1
        if self.line() != "<!-- /middle:sub-issue -->":
            raise self.fail(
                "`<!-- /middle:sub-issue -->` closing the sub-issue opened here", opened
            )
        self.i += 1
        head = _CHECKBOX.match(body[0]) if body else None
        if head is None:
            raise self.fail("`- [ ] **ID — Title**` as the sub-issue's first line", opened + 1)
        titled = _SUB_TITLE.match(head["text"])
        title = titled["title"] if titled else head["text"]
        rest = "\n".join(line[2:] if line.startswith("  ") else line for line in body[1:])
        blocked = _SUB_BLOCKED_BY.search(rest)
        repo = _SUB_REPO.search(rest)
        blocked_by = tuple(
            item.strip().lstrip("#") for item in (blocked["ids"] if blocked else "").split(",")
        )
        return SubIssue(
            attrs["id"],
            head["mark"] != " ",
            title.strip(),
            rest.strip("\n"),
            tuple(item for item in blocked_by if item),
            repo["name"] if repo else None,
        )

    def parse_conversation(self) -> tuple[int, int]:
        opened = self.i
        self.i += 1
        start = self.offsets[self.i]
        depth: list[tuple[str, int]] = []
        while self.i < len(self.lines):
            raw = self.line()
            if raw == "<!-- /middle:conversation -->" and not depth:
                end = self.offsets[self.i]
                self.i += 1
                return start, end
            marker = _MARKER.match(raw)
            if marker is not None:
                if marker["name"] not in _KNOWN_BLOCKS:
                    raise self.fail(
                        "a known block (question, answer, dispatch-event, parse-error), "
                        f"not {marker['name']}"
                    )
                if marker["close"]:
                    if not depth or depth[-1][0] != marker["name"]:
                        expected = f"`<!-- /middle:{depth[-1][0]} -->`" if depth else "no close"
                        raise self.fail(expected)
                    depth.pop()
                else:
                    depth.append((marker["name"], self.i))
            self.i += 1
        if depth:
            name, line = depth[-1]
            raise self.fail(f"`<!-- /middle:{name} -->` closing the block opened here", line)
        raise self.fail("`<!-- /middle:conversation -->` closing the conversation", opened)


def _criteria(section: str) -> list[Criterion]:
    found = []
    for line in section.splitlines():
        match = _CHECKBOX.match(line)
        if match:
            found.append(Criterion(match["mark"] != " ", match["text"].strip()))
    return found


_QUESTION = re.compile(
    r"^<!-- middle:question (?P<attrs>[^\n]*?) -->\n(?P<body>.*?)^<!-- /middle:question -->",
    re.S | re.M,
)
_ANSWER = re.compile(
    r"^<!-- middle:answer [^\n]*?-->\n(?P<answer>.*?)^<!-- /middle:answer -->", re.S | re.M
)


def _questions(conversation: str) -> list[Question]:
    questions = []
    for match in _QUESTION.finditer(conversation):
        attrs: dict[str, Any] = dict(_ATTR.findall(" " + match["attrs"]))
        body = match["body"]
        answer_match = _ANSWER.search(body)
        text = body[: answer_match.start()] if answer_match else body
        answer = None
        if answer_match:
            lines = [
                line
                for line in answer_match["answer"].splitlines()
                if not (line.startswith("<!--") and line.endswith("-->"))
            ]
            answer = "\n".join(lines).strip() or None
        questions.append(
            Question(
                id=attrs.get("id", "?"),
                status=attrs.get("status", "open"),
                kind=attrs.get("kind", "question"),
                ts=attrs.get("ts", ""),
                text=text.strip(),
                answer=answer,
            )
        )
    return questions
