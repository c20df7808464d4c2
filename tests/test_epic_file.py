"""The Epic file format v1: byte-identical round trips, fields, edits, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from middle.errors import EpicFormatError
from middle.issues.epic_file import parse_epic, render_new_epic
from middle.issues.file_store import FileIssueStore

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "epics").glob("*.md"))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_the_seed_fixtures_round_trip_byte_for_byte(fixture: Path) -> None:
    text = fixture.read_text()
    assert parse_epic(text).render() == text


def test_fields_of_a_full_epic() -> None:
    doc = parse_epic((Path(__file__).parent / "fixtures" / "epics" / "mid-question.md").read_text())
    assert (doc.title, doc.slug, doc.approved, doc.adapter) == (
        "CodexAdapter",
        "codex-adapter",
        False,
        "claude",
    )
    assert doc.labels == ["phase:10", "dogfood"]
    assert doc.meta_int("complexity_ceiling") == 3
    assert doc.criteria[0].text == ("Codex agent dispatches end-to-end against a test issue")
    assert [(s.id, s.title) for s in doc.sub_issues][1] == (
        "2",
        "Per-CLI adapter selection (implementer + recommender)",
    )
    assert doc.sub_issues[0].body.startswith("Full AgentAdapter: launch command")
    (question,) = doc.questions
    assert (question.id, question.status, question.kind) == ("1", "open", "question")
    assert question.answer is None  # the placeholder comment is not an answer


def test_answering_and_asking_touch_only_the_conversation() -> None:
    text = (Path(__file__).parent / "fixtures" / "epics" / "mid-question.md").read_text()
    doc = parse_epic(text)
    edited = doc.answer_question("1", "Run it now.").append_question(
        "Which queue?\n<!-- /middle:question -->", kind="complexity", ts="T2"
    )
    head = text.split("<!-- middle:conversation -->")[0]
    assert edited.render().startswith(head)
    assert parse_epic(edited.render()).render() == edited.render()
    first, second = edited.questions
    assert (first.status, first.answer) == ("resolved", "Run it now.")
    assert (second.id, second.kind, second.status) == ("2", "complexity", "open")
    assert "<!-- /middle:question -->" in second.text  # neutralized, kept as prose


safe_line = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="*"),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(lambda s: s and not s.startswith(("<!--", "#", "-->", "- [")))
)
slug = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)


@settings(max_examples=80, deadline=None)
@given(
    title=safe_line,
    slug=slug,
    context=st.lists(safe_line, max_size=5).map("\n".join),
    criteria=st.lists(safe_line, max_size=4),
    subs=st.lists(st.tuples(safe_line, st.lists(safe_line, max_size=3)), max_size=3),
    approved=st.booleans(),
)
def test_any_rendered_epic_parses_to_its_fields_and_round_trips(
    title: str,
    slug: str,
    context: str,
    criteria: list[str],
    subs: list[tuple[str, list[str]]],
    approved: bool,
) -> None:
    sub_issues = [
        (str(n), sub_title, "\n".join(body)) for n, (sub_title, body) in enumerate(subs, 1)
    ]
    text = render_new_epic(
        title=title,
        slug=slug,
        context=context,
        criteria=criteria,
        sub_issues=sub_issues,
        approved=approved,
    )
    doc = parse_epic(text)
    assert doc.render() == text
    assert (doc.title, doc.slug, doc.approved, doc.context) == (title, slug, approved, context)
    assert [c.text for c in doc.criteria] == criteria
    assert [(s.id, s.title, s.body) for s in doc.sub_issues] == sub_issues
    asked = doc.append_question("why?", kind="question", ts="T")
    assert parse_epic(asked.render()).render() == asked.render()


GOOD = render_new_epic(
    title="T", slug="t", context="c", criteria=["a"], sub_issues=[("1", "S", "b")]
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# T\n", "line 1: expected `<!-- middle:epic v1 -->`"),
        ("<!-- middle:epic v1 -->\n\nno title\n", "line 3: expected the title"),
        ("<!-- middle:epic v1 -->\n# T\n\nslug: t\n", "line 4: expected the `<!-- middle:meta`"),
        ("<!-- middle:epic v1 -->\n# T\n<!-- middle:meta\nslug: t\n", "line 3: expected `-->`"),
        ("<!-- middle:epic v1 -->\n# T\n<!-- middle:meta\nnot meta\n-->\n",
         "line 4: expected a `key"),
        (GOOD.replace("<!-- /middle:sub-issue -->\n", ""), "closing the sub-issue"),
        (GOOD.replace("<!-- middle:conversation -->\n<!-- /middle:conversation -->\n", ""),
         "expected a `<!-- middle:conversation -->` block"),
        (GOOD.replace("## Context", "<!-- middle:bogus -->\n## Context"), "not `<!-- middle:bogus"),
        (GOOD.replace("id=1", "id=1 -->\n- [ ] **1 — S**\n<!-- /middle:sub-issue -->\n"
                      "<!-- middle:sub-issue id=1"), "a unique sub-issue id"),
        (GOOD.replace("<!-- /middle:conversation -->",
                      "<!-- middle:question id=1 -->\nq\n<!-- /middle:conversation -->"),
         "expected `<!-- /middle:question -->`"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_refused_with_the_line_and_what_was_expected(
    text: str, message: str
) -> None:
    with pytest.raises(EpicFormatError, match=message.replace("[", r"\[")):
        parse_epic(text)


# -- an Epic file as a person keeps it (issue 20 items 12 and 16) --------------------------


@pytest.fixture
def store(tmp_path: Path) -> FileIssueStore:
    (tmp_path / "planning" / "epics").mkdir(parents=True)
    return FileIssueStore(tmp_path)


def an_epic(slug: str = "retry") -> str:
    return render_new_epic(
        title="Retry", slug=slug, context="c", criteria=["a"], sub_issues=[("1", "S", "b")]
    )


def test_an_epic_that_is_not_utf8_names_the_byte_and_is_left_alone(store: FileIssueStore) -> None:
    """Issue 20 item 12. Seen red: a `UnicodeDecodeError` traceback from `document`."""
    data = an_epic().encode().replace(b"## Context\n\nc", b"## Context\n\ncaf\xe9")
    store.path("retry").write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(EpicFormatError) as raised:
        store.load("retry")
    assert str(raised.value) == (
        f"{store.path('retry')} is not UTF-8 text: byte 0xe9 at offset {offset} cannot be "
        "decoded; save the file as UTF-8"
    )
    assert store.path("retry").read_bytes() == data  # no parse-error block written into it


def test_one_unreadable_epic_is_reported_and_the_others_are_read(store: FileIssueStore) -> None:
    """Issue 20 item 16. Seen red: a directory named `x.md` (and a non-UTF-8 Epic) gave
    IsADirectoryError / UnicodeDecodeError tracebacks from `open_issues` and from doctor's
    check, for every Epic of the repo."""
    store.path("retry").write_text(an_epic())
    store.path("x").mkdir()
    store.path("latin").write_bytes(an_epic("latin").encode() + b"\xff")
    with pytest.raises(EpicFormatError, match=r"x\.md is a directory, not an Epic file"):
        store.load("x")
    assert [facts.ref for facts in store.open_issues("claude")] == ["retry"]
    (check,) = store.doctor_checks()
    assert check.verdict == "fail"
    assert check.detail.splitlines() == [
        f"{store.path('latin')} is not UTF-8 text: byte 0xff at offset "
        f"{len(an_epic('latin').encode())} cannot be decoded; save the file as UTF-8",
        f"  {store.path('x')} is a directory, not an Epic file",
    ]


def test_the_parse_error_block_middle_writes_is_announced_in_the_error(
    store: FileIssueStore,
) -> None:
    """Issue 20 item 16: middle says it edited the file, and where, in the lines of the
    file as it was before the edit. Seen red: the message named only the parse error."""
    broken = an_epic().replace("<!-- /middle:sub-issue -->\n", "")
    store.path("retry").write_text(broken)
    last = len(broken.splitlines())
    with pytest.raises(EpicFormatError) as first:
        store.load("retry")
    assert str(first.value).endswith(
        f"; middle appended a parse-error block saying so after line {last}"
    )
    assert "line 19: expected `<!-- /middle:sub-issue -->`" in str(first.value)
    with pytest.raises(EpicFormatError) as again:  # the same failure: nothing written
        store.load("retry")
    block = f"lines {last + 2}-{last + 4}"
    assert str(again.value).endswith(f"; the parse-error block at {block} says so")
    edited = store.path("retry").read_text().replace("# Retry", "no title")
    store.path("retry").write_text(edited)
    with pytest.raises(EpicFormatError) as changed:
        store.load("retry")
    assert str(changed.value).endswith(f"; middle rewrote the parse-error block at {block}")


def test_a_rewritten_epic_keeps_its_mode(store: FileIssueStore) -> None:
    """Issue 20 item 16. Seen red: after `record_question` the Epic was 0600 (mkstemp's)."""
    store.path("retry").write_text(an_epic())
    store.path("retry").chmod(0o664)
    store.record_question("retry", "Which queue?", kind="question")
    assert store.path("retry").stat().st_mode & 0o777 == 0o664


def test_a_symlinked_epic_is_written_through_and_stays_a_link(store: FileIssueStore) -> None:
    """Issue 20 item 16. Seen red: the link was replaced by a plain file (0600), and the
    file it pointed at kept the old text."""
    shared = store.repo / "shared.md"
    shared.write_text(an_epic("linked"))
    shared.chmod(0o644)
    store.path("linked").symlink_to(shared)
    store.post_note("linked", "Dispatched.")
    assert store.path("linked").is_symlink()
    assert "Dispatched." in shared.read_text()
    assert shared.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in store.repo.glob(".*tmp")] == []  # no temporary file left


def test_the_state_file_keeps_its_mode(tmp_path: Path) -> None:
    """Issue 20 item 16. Seen red: `.middle/state.md` became 0600 on every rewrite."""
    from middle.issues.state_location import StateFile

    state = StateFile(tmp_path)
    state.path.parent.mkdir()
    state.path.write_text("old")
    state.path.chmod(0o644)
    state.write("new")
    assert (state.path.read_text(), state.path.stat().st_mode & 0o777) == ("new", 0o644)


@settings(max_examples=200, deadline=None)
@given(
    at=st.integers(0, 10_000),
    inserted=st.binary(max_size=12),
    drop=st.integers(0, 40),
)
def test_any_bytes_in_an_epic_load_or_are_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, at: int, inserted: bytes, drop: int
) -> None:
    """Bytes spliced into a good Epic: it loads, or `EpicError` says why in one line, and
    doctor's check reports it; never another exception. Seen red: UnicodeDecodeError."""
    from middle.errors import EpicError

    store = FileIssueStore(tmp_path_factory.mktemp("fuzz"))
    store.folder.mkdir(parents=True)
    good = an_epic().encode()
    at = at % (len(good) + 1)
    store.path("retry").write_bytes(good[:at] + inserted + good[at + drop :])
    try:
        store.load("retry")
    except EpicError as exc:
        assert "\n" not in str(exc) and str(store.path("retry")) in str(exc)
    (check,) = store.doctor_checks()
    assert check.verdict in ("ok", "fail")


FANNED = """\
<!-- middle:epic v1 -->
# Fan out

<!-- middle:meta
slug: fan
approved: true
parallel: 3
sequential: false
-->

## Sub-issues
<!-- middle:sub-issue id=1 -->
- [ ] **1 — One**
  First.
<!-- /middle:sub-issue -->

<!-- middle:sub-issue id=3 -->
- [ ] **3 — Three**
  Builds on one and two.
  blocked-by: [1, #2]
<!-- /middle:sub-issue -->

<!-- middle:conversation -->
<!-- /middle:conversation -->
"""


def test_a_sub_issue_names_its_blockers_and_the_file_keeps_the_line() -> None:
    """Issue 23: `blocked-by: [1, 2]` in a sub-issue's indented body (the meta's key) is
    read, and a parse then render keeps it byte for byte."""
    doc = parse_epic(FANNED)
    assert [(s.id, s.blocked_by) for s in doc.sub_issues] == [("1", ()), ("3", ("1", "2"))]
    assert "blocked-by: [1, #2]" in doc.sub_issues[1].body
    assert doc.render() == FANNED
    assert doc.meta_int("parallel") == 3


def test_an_epic_names_its_repos_and_a_sub_issue_its_repo_and_the_file_keeps_both() -> None:
    """Issue 23 item 2: a `repos:` meta key maps names to paths on indented lines, and a
    sub-issue's `repo: lib` line (beside its `blocked-by`) names one; parse then render
    is byte for byte. Seen red: the indented `lib: ../lib` line was read as a key of its
    own, and `repos` was empty."""
    text = FANNED.replace("parallel: 3\n", "parallel: 3\nrepos:\n  lib: ../lib\n  ui: /abs/ui\n")
    text = text.replace("  First.\n", "  First.\n  repo: lib\n")
    doc = parse_epic(text)
    assert doc.meta_map("repos") == {"lib": "../lib", "ui": "/abs/ui"}
    assert "lib" not in doc.meta and doc.meta["sequential"] == "false"
    assert [(s.id, s.repo, s.blocked_by) for s in doc.sub_issues] == [
        ("1", "lib", ()),
        ("3", None, ("1", "2")),
    ]
    assert "repo: lib" in doc.sub_issues[0].body
    assert doc.render() == text
    assert doc.tick_sub_issue("1").render() == text.replace(
        "- [ ] **1 — One**", "- [x] **1 — One**"
    )


def test_ticking_a_sub_issue_changes_its_checkbox_only_and_is_idempotent() -> None:
    doc = parse_epic(FANNED)
    ticked = doc.tick_sub_issue("3")
    assert ticked.render() == FANNED.replace("- [ ] **3 — Three**", "- [x] **3 — Three**")
    assert [s.done for s in ticked.sub_issues] == [False, True]
    assert ticked.tick_sub_issue("3") is ticked
    assert doc.tick_sub_issue("9") is doc  # no such sub-issue: nothing changes


def test_the_file_store_ticks_a_sub_issue_and_reads_the_fan_out_meta(tmp_path: Path) -> None:
    store = FileIssueStore(tmp_path, {})
    store.folder.mkdir(parents=True)
    store.path("fan").write_text(FANNED)
    store.tick_sub_issue("fan", "1")
    issue = store.load("fan")
    assert [s.done for s in issue.sub_issues] == [True, False]
    assert (issue.parallel, issue.sequential) == (3, False)
