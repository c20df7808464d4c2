"""Epic files both implementations read: middle writes the published v1 conversation
vocabulary, reads what the other implementation writes, migrates its own older files on
first touch, and leaves one parse-error block in a file it cannot parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from middle.errors import EpicFormatError
from middle.issues.epic_file import parse_epic, render_new_epic
from middle.issues.file_store import FileIssueStore

FIXTURES = Path(__file__).parent / "fixtures" / "epics"
# The v1 marker lines as the schema states them; anything middle writes must match one.
V1_LINES = [
    re.compile(r"<!-- middle:question id=\d+ status=(open|resolved) ts=[\dT:Z.-]+ kind=\w+ -->"),
    re.compile(r"<!-- middle:answer for=\d+ -->"),
    re.compile(r"<!-- middle:dispatch-event ts=[\dT:Z.-]+ kind=\w+ -->"),
    re.compile(r"<!-- middle:parse-error ts=[\dT:Z.-]+ -->"),
    re.compile(r"<!-- /middle:(question|answer|dispatch-event|parse-error|conversation) -->"),
    re.compile(r"<!-- middle:conversation -->"),
]

OLD_MIDDLE_CONVERSATION = """<!-- middle:conversation -->

<!-- middle:question id=1 status=answered ts=2026-11-01T10:00:00.1Z kind=question author=agent -->
Which queue?

<!-- middle:answer for=1 ts=2026-11-01T11:00:00.000002Z author=ana -->
The durable one.
<!-- /middle:answer -->
<!-- /middle:question -->

<!-- middle:event ts=2026-11-01T12:00:00.000003Z kind=human-note -->
Ship it.
<!-- /middle:event -->

<!-- /middle:conversation -->
"""


def new_epic(**meta: str) -> str:
    text = render_new_epic(
        title="Retry", slug="retry", context="c", criteria=["a"], sub_issues=[("1", "S", "b")]
    )
    extra = "".join(f"{k}: {v}\n" for k, v in meta.items())
    return text.replace("approved: true\n", f"approved: true\n{extra}")


@pytest.fixture
def store(tmp_path: Path) -> FileIssueStore:
    (tmp_path / "planning" / "epics").mkdir(parents=True)
    return FileIssueStore(tmp_path)


def conversation_markers(text: str) -> list[str]:
    inner = text.split("<!-- middle:conversation -->", 1)[1]
    return [
        line for line in inner.splitlines() if line.startswith(("<!-- middle:", "<!-- /middle:"))
    ]


def test_what_middle_writes_is_the_v1_vocabulary(store: FileIssueStore) -> None:
    """Seen red before this issue: `author=agent`, `status=answered` and
    `<!-- middle:event` failed these patterns."""
    store.path("retry").write_text(new_epic())
    store.record_question("retry", "Which queue?", kind="complexity")
    store.record_answer("retry", "The durable one.", author="ana")
    store.post_note("retry", "Dispatched.")
    store.record_answer("retry", "A note with nothing open.", author="ana")
    text = store.path("retry").read_text()
    for line in conversation_markers(text):
        assert any(p.fullmatch(line) for p in V1_LINES), line
    (question,) = parse_epic(text).questions
    assert (question.status, question.kind, question.answer) == (
        "resolved",
        "complexity",
        "The durable one.",
    )
    assert "kind=human_note" in text


def test_a_file_an_earlier_middle_wrote_is_migrated_on_first_touch(store: FileIssueStore) -> None:
    old = new_epic().replace(
        "<!-- middle:conversation -->\n<!-- /middle:conversation -->\n", OLD_MIDDLE_CONVERSATION
    )
    store.path("retry").write_text(old)
    assert parse_epic(old).render() == old  # still readable before it is touched
    store.post_note("retry", "Touched.")
    text = store.path("retry").read_text()
    for line in conversation_markers(text):
        assert any(p.fullmatch(line) for p in V1_LINES), line
    assert text.startswith(old.split("<!-- middle:conversation -->")[0])
    question = parse_epic(text).questions[0]
    assert (question.status, question.answer) == ("resolved", "The durable one.")
    assert "Ship it.\n<!-- /middle:dispatch-event -->" in text


def test_the_other_implementations_keys_and_blocks_are_read(store: FileIssueStore) -> None:
    text = new_epic(**{"blocked-by": "[queue, auth]"}).replace(
        "<!-- /middle:conversation -->",
        "<!-- middle:parse-error ts=2026-05-29T04:28:40.000Z -->\nline 3: bad\n"
        "<!-- /middle:parse-error -->\n<!-- /middle:conversation -->",
    )
    text += (
        "\n<!-- middle:parse-error ts=2026-05-29T04:28:41.000Z -->\nold\n"
        "<!-- /middle:parse-error -->\n"
    )
    doc = parse_epic(text)
    assert doc.blocked_by == ["queue", "auth"]
    assert doc.render() == text
    store.path("retry").write_text(text)
    store.path("queue").write_text(new_epic(closed="true").replace("slug: retry", "slug: queue"))
    assert store.open_blockers("retry") == ["auth"]  # queue is closed, auth has no file


def test_a_parse_failure_leaves_exactly_one_parse_error_block(store: FileIssueStore) -> None:
    """Seen red: appending without looking for an existing block added one per read."""
    broken = new_epic().replace("<!-- /middle:sub-issue -->\n", "")
    store.path("retry").write_text(broken)
    for _ in range(3):
        with pytest.raises(EpicFormatError, match="closing the sub-issue"):
            store.load("retry")
    text = store.path("retry").read_text()
    assert text.startswith(broken)
    assert text.count("<!-- middle:parse-error ts=") == 1
    assert "closing the sub-issue" in text.split("<!-- middle:parse-error", 1)[1]
    fixed = text.replace("  b\n", "  b\n<!-- /middle:sub-issue -->\n", 1)
    store.path("retry").write_text(fixed)
    assert store.load("retry").title == "Retry"  # the note left behind does not break it


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.md")), ids=lambda p: p.name)
def test_the_reference_fixture_epics_round_trip(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    doc = parse_epic(text)
    assert doc.render() == text
    assert doc.migrated().render() == text  # already v1: migration changes nothing
