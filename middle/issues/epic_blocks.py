"""The blocks middle writes into an Epic file, in the published v1 vocabulary.

The other implementation of the format reads exactly these marker lines, so middle writes
nothing else:

    <!-- middle:question id=N status=open|resolved ts=TS kind=KIND -->
    the question
    <!-- middle:answer for=N -->
    the answer, or a placeholder comment
    <!-- /middle:answer -->
    <!-- /middle:question -->

    <!-- middle:dispatch-event ts=TS kind=KIND -->  (KIND is a word: letters, digits, _)
    <!-- middle:parse-error ts=TS -->               (one per file, appended when it fails)

Earlier middle wrote `status=answered`, `author=`/`ts=` on answers and
`<!-- middle:event -->` blocks, which that implementation silently drops.
`migrate_conversation` rewrites those lines, and every edit runs it first, so a file is
migrated the first time middle touches it.
"""

from __future__ import annotations

import re

ANSWER_PLACEHOLDER = (
    "<!-- Human edits here: write the answer below this line, or run `middle answer`. -->"
)
PARSE_ERROR_CLOSE = "<!-- /middle:parse-error -->"
_PARSE_ERROR = re.compile(
    r"^<!-- middle:parse-error ts=\S+ -->\n(?P<body>.*?)^<!-- /middle:parse-error -->\n?",
    re.S | re.M,
)
_OLD_QUESTION = re.compile(r"^<!-- middle:question (?P<attrs>[^\n]*?) -->$", re.M)
_OLD_ANSWER = re.compile(r"^<!-- middle:answer for=(?P<id>\S+)(?: [a-z_]+=\S+)+ -->$", re.M)
_OLD_EVENT = re.compile(r"^<!-- middle:event ts=(?P<ts>\S+) kind=(?P<kind>\S+) -->$", re.M)
_ATTR = re.compile(r"([a-z_]+)=(\S+)")


def neutralize(text: str) -> str:
    """`text` with any line that looks like a middle marker indented by one space, so an
    agent's question or a person's answer can never open or close a block."""
    return "\n".join(
        f" {line}" if line.lstrip().startswith(("<!-- middle:", "<!-- /middle:")) else line
        for line in text.rstrip().splitlines()
    )


def event_kind(kind: str) -> str:
    """`kind` as the single word v1 allows (`human-note` → `human_note`)."""
    return re.sub(r"\W", "_", kind) or "note"


def question_block(number: str, text: str, *, kind: str, ts: str) -> str:
    return (
        f"<!-- middle:question id={number} status=open ts={ts} kind={event_kind(kind)} -->\n"
        f"{neutralize(text)}\n\n"
        f"<!-- middle:answer for={number} -->\n{ANSWER_PLACEHOLDER}\n"
        f"<!-- /middle:answer -->\n<!-- /middle:question -->\n"
    )


def event_block(text: str, *, kind: str, ts: str) -> str:
    return (
        f"<!-- middle:dispatch-event ts={ts} kind={event_kind(kind)} -->\n"
        f"{neutralize(text)}\n<!-- /middle:dispatch-event -->\n"
    )


def upsert_event(conversation: str, block: str, *, kind: str, key: str) -> str:
    """`conversation` with `block` (an `event_block`) in place of the dispatch-event of
    `kind` whose text starts with `key`, or appended when there is none: one record per
    key, edited in place."""
    pattern = re.compile(
        rf"^<!-- middle:dispatch-event ts=\S+ kind={re.escape(event_kind(kind))} -->\n"
        rf"{re.escape(key)}.*?^<!-- /middle:dispatch-event -->\n",
        re.S | re.M,
    )
    found = pattern.search(conversation)
    if found is not None:
        return conversation[: found.start()] + block + conversation[found.end() :]
    before = conversation.rstrip("\n")
    return f"{before}\n\n{block}" if before else f"\n{block}"


def resolve_question(conversation: str, question_id: str, answer: str) -> str | None:
    """`conversation` with question `question_id` marked resolved and `answer` written, verbatim,
    into its answer block; None if there is no such question."""
    qid = re.escape(question_id)
    pattern = re.compile(
        rf"^<!-- middle:question id={qid} status=\S+(?P<rest>.*?) -->\n"
        rf"(?P<body>.*?)^<!-- middle:answer for={qid}[^\n]*-->\n"
        rf".*?^<!-- /middle:answer -->\n",
        re.S | re.M,
    )
    match = pattern.search(conversation)
    if match is None:
        return None
    replacement = (
        f"<!-- middle:question id={question_id} status=resolved{match['rest']} -->\n"
        f"{match['body']}<!-- middle:answer for={question_id} -->\n"
        f"{neutralize(answer)}\n<!-- /middle:answer -->\n"
    )
    return conversation[: match.start()] + replacement + conversation[match.end() :]


def migrate_conversation(conversation: str) -> str:
    """The conversation with what earlier middle wrote turned into v1 marker lines. A text
    already in v1 comes back unchanged."""

    def question(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match["attrs"]))
        if "id" not in attrs or "ts" not in attrs:
            return match[0]  # not something middle wrote; leave it for the parser to judge
        status = "resolved" if attrs.get("status") in ("answered", "resolved") else "open"
        kind = f" kind={event_kind(attrs['kind'])}" if "kind" in attrs else ""
        return f"<!-- middle:question id={attrs['id']} status={status} ts={attrs['ts']}{kind} -->"

    text = _OLD_QUESTION.sub(question, conversation)
    text = _OLD_ANSWER.sub(lambda m: f"<!-- middle:answer for={m['id']} -->", text)
    text = _OLD_EVENT.sub(
        lambda m: f"<!-- middle:dispatch-event ts={m['ts']} kind={event_kind(m['kind'])} -->",
        text,
    )
    return re.sub(r"^<!-- /middle:event -->$", "<!-- /middle:dispatch-event -->", text, flags=re.M)


def with_parse_error(text: str, message: str, *, ts: str) -> tuple[str, str]:
    """`text` carrying exactly one parse-error block that says `message`: appended at the
    end the first time, replaced when the message changed, untouched when it is the same.
    Also what a person should be told about it, in the lines of `text` (before the edit)."""
    block = f"<!-- middle:parse-error ts={ts} -->\n{neutralize(message)}\n{PARSE_ERROR_CLOSE}\n"
    found = _PARSE_ERROR.search(text)
    if found is not None:
        first = text.count("\n", 0, found.start()) + 1
        last = first + found[0].rstrip("\n").count("\n")
        where = f"lines {first}-{last}"
        if found["body"].rstrip("\n") == neutralize(message):
            return text, f"the parse-error block at {where} says so"
        edited = text[: found.start()] + block + text[found.end() :]
        return edited, f"middle rewrote the parse-error block at {where}"
    body = text if text.endswith("\n") or not text else text + "\n"
    said = f"middle appended a parse-error block saying so after line {len(text.splitlines())}"
    return f"{body}\n{block}", said


def render_new_epic(
    *,
    title: str,
    slug: str,
    context: str,
    criteria: list[str],
    sub_issues: list[tuple[str, str, str]],
    approved: bool = True,
) -> str:
    """The canonical text of a new Epic (used by `middle init`, the demo and tests)."""
    lines = ["<!-- middle:epic v1 -->", f"# {title}", "", "<!-- middle:meta", f"slug: {slug}"]
    lines += [f"approved: {'true' if approved else 'false'}", "-->", "", "## Context", ""]
    lines += [context.strip("\n"), "", "## Acceptance criteria", ""]
    lines += [f"- [ ] {text}" for text in criteria]
    lines += ["", "## Sub-issues", ""]
    for number, sub_title, body in sub_issues:
        lines += [f"<!-- middle:sub-issue id={number} -->", f"- [ ] **{number} — {sub_title}**"]
        lines += [f"  {line}" if line else "" for line in body.strip("\n").splitlines()]
        lines += ["<!-- /middle:sub-issue -->", ""]
    lines += ["<!-- middle:conversation -->", "<!-- /middle:conversation -->", ""]
    return "\n".join(lines)
