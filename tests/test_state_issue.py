"""The state issue v1: exact round trips both ways, refusals that name the line, and the
dispatcher's section updates that touch nothing else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from middle.errors import StateIssueError
from middle.state_issue import (
    BlockedItem,
    Blocker,
    DispatcherSections,
    Excluded,
    InFlight,
    NeedsHuman,
    RateLimit,
    ReadyRow,
    SlotUsage,
    StateIssue,
    parse,
    render,
    update_dispatcher_sections,
    validate,
)
from middle.state_issue.model import EXCLUDED_CATEGORIES, NEEDS_LABELS

FIXTURES = Path(__file__).parent / "fixtures" / "state_issue"
EXAMPLE = (FIXTURES / "reference-example.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.md")), ids=lambda p: p.name)
def test_fixture_bodies_round_trip_byte_for_byte(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    assert render(parse(text)) == text


def test_the_reference_example_reads_as_its_fields() -> None:
    state = parse(EXAMPLE)
    assert (state.generated, state.run_id, state.interval) == (
        "2026-05-14T09:15:00Z",
        "7f3a9c21",
        "15m",
    )
    assert next((r.rank, r.ref, r.adapter, r.sub_issues) for r in state.ready) == (
        1,
        "42",
        "claude",
        6,
    )
    assert state.blocked[1].blocker == Blocker("`upstream bunqueue release`")
    assert state.in_flight[0] == InFlight(
        "64", "claude", "sub-issue 2/5", "42s ago", "middle-epic-64"
    )
    assert state.slots == SlotUsage((("claude", 1, 2), ("codex", 0, 1)), (1, 3), (1, 4))
    assert validate(state, adapters=["claude", "codex"], mode="github") == []


# -- strategies -------------------------------------------------------------------------

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
words = st.lists(word, min_size=1, max_size=5).map(" ".join)
ref = st.one_of(
    st.integers(1, 99999).map(str), st.from_regex(r"[a-z0-9][a-z0-9.-]{0,12}", fullmatch=True)
)
iso = st.sampled_from(["2026-05-14T09:15:00Z", "2026-11-27T21:49:14.123+00:00"])
rel = st.sampled_from(["42s ago", "3m ago", "1h 2m ago", "just now"])
reason = st.one_of(words, st.tuples(words, word).map(lambda t: f"{t[0]} `{t[1]}_x`; ok"))
titles = st.text(alphabet="ABCabc xyz-:()é…", min_size=1, max_size=60).map(str.strip).filter(bool)
blocker = st.one_of(
    st.builds(
        Blocker,
        ref.map(lambda r: f"#{r}"),
        st.one_of(st.none(), words, ref.map(lambda r: f"stale blocker: #{r}")),
    ),
    st.builds(Blocker, word.map(lambda r: f"acme/widgets#{len(r)}"), st.one_of(st.none(), words)),
    st.builds(Blocker, words.map(lambda w: f"`{w}`")),
)
adapter = st.sampled_from(["claude", "codex", "command"])
placeholder = st.sampled_from(["- _none_", "- *nothing here*", "- _nothing_"])


@st.composite
def states(draw: st.DrawFn) -> StateIssue:
    ready = tuple(
        ReadyRow(
            i + 1, draw(ref), draw(titles), draw(adapter), draw(st.integers(0, 40)), draw(reason)
        )
        for i in range(draw(st.integers(0, 4)))
    )
    needs = tuple(
        draw(
            st.lists(
                st.builds(
                    NeedsHuman,
                    ref,
                    st.sampled_from(NEEDS_LABELS),
                    words,
                    st.sampled_from(["https://x.test/1", "planning/epics/a.md"]),
                ),
                max_size=3,
            )
        )
    )
    blocked = tuple(draw(st.lists(st.builds(BlockedItem, ref, blocker, words), max_size=3)))
    flights = tuple(
        draw(
            st.lists(
                st.builds(
                    InFlight,
                    ref,
                    adapter,
                    st.sampled_from(["running", "sub-issue 2/5"]),
                    rel,
                    st.from_regex(r"middle-[a-z0-9_-]{1,12}", fullmatch=True),
                ),
                max_size=3,
            )
        )
    )
    excluded = tuple(
        draw(
            st.lists(
                st.builds(Excluded, ref, st.sampled_from(EXCLUDED_CATEGORIES), words), max_size=3
            )
        )
    )
    limits = tuple(
        draw(
            st.lists(
                st.builds(
                    RateLimit,
                    adapter,
                    st.sampled_from(
                        [
                            "AVAILABLE",
                            "UNKNOWN",
                            "RATE LIMITED until 2026-05-14T10:30:00Z (in 1h 15m)",
                            "4612/5000 req/hr · resets in 27m",
                            "EXHAUSTED until 2026-05-14T10:30:00Z",
                        ]
                    ),
                ),
                max_size=3,
            )
        )
    )
    counts = st.integers(0, 9)
    slots = SlotUsage(
        tuple(draw(st.lists(st.tuples(adapter, counts, counts), max_size=3))),
        (draw(counts), draw(counts)),
        (draw(counts), draw(counts)),
    )
    placeholders = []
    for name, items in (
        ("Needs human input", needs),
        ("Blocked", blocked),
        ("In-flight", flights),
        ("Excluded", excluded),
    ):
        if not items and draw(st.booleans()):
            lines = tuple(
                draw(st.lists(placeholder, min_size=0 if name == "In-flight" else 1, max_size=2))
            )
            placeholders.append((name, lines))
    return StateIssue(
        generated=draw(iso),
        run_id=draw(st.from_regex(r"[0-9a-f]{8}", fullmatch=True)),
        interval=draw(st.sampled_from(["15m", "1h30m", "off"])),
        ready=ready,
        needs_human=needs,
        blocked=blocked,
        in_flight=flights,
        excluded=excluded,
        rate_limits=limits,
        slots=slots,
        placeholders=tuple(placeholders),
        ticks=tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, 6), st.just("<!-- dispatcher-tick: 2026-05-14T09:20:00Z -->")
                    ),
                    max_size=2,
                ).map(sorted)
            )
        ),
        before=draw(st.sampled_from(["", "Notes kept by a person.\n\n", "x\n"])),
        after=draw(st.sampled_from(["", "\n", "\n\nA footer a person wrote.\n"])),
        newline=draw(st.sampled_from(["\n", "\r\n"])),
    )


@settings(max_examples=300, deadline=None)
@given(states())
def test_parse_of_render_is_the_same_state(state: StateIssue) -> None:
    text = render(state)
    assert parse(text) == state
    assert render(parse(text)) == text


def test_a_canonical_in_flight_placeholder_reads_back_as_the_canonical_empty_form() -> None:
    text = render(StateIssue(generated="2026-05-14T09:15:00Z", run_id="0badf00d", interval="15m"))
    assert "- _no agents in flight_" in text
    assert "| — | _no Epics ready_ | — | — | — |" in text
    assert parse(text).placeholders == ()


# -- refusals ---------------------------------------------------------------------------


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "| Rank | Epic | Adapter | Sub-issues | Reason |",
            "| Rank | Epic | Agent | Sub-issues | Reason |",
            "table header",
        ),
        ("## Blocked", "## Blockers", "## Blocked"),
        ("| 2 | #60", "| 3 | #60", "rank 2"),
        ("run: 7f3a9c21", "run: 7f3a9c2", "8 hex"),
        ("generated: 2026-05-14T09:15:00Z", "generated: yesterday", "ISO 8601"),
        ("- **#3** assigned to human", "- **#3** assigned to a bot", "category"),
        ("- **#7 ready for review**", "- **#7 please look**", "label"),
        ("- claude: AVAILABLE", "- claude: fine", "AVAILABLE"),
        ("second adapter for parity testing", "**second** adapter", "backticks"),
        ("- **#48** waiting on #42 · auto", "- **#48** waiting on #42 auto", "waiting on"),
    ],
)
def test_a_malformed_body_names_the_line_and_what_was_expected(
    old: str, new: str, expected: str
) -> None:
    """Seen red: with the rank check removed, a body ranking `| 3 | #60` second was accepted."""
    assert old in EXAMPLE
    bad = EXAMPLE.replace(old, new, 1)
    with pytest.raises(StateIssueError, match=expected) as caught:
        parse(bad)
    assert f"line {_line_of(EXAMPLE, old)}:" in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [
        "no markers at all",
        EXAMPLE.replace("<!-- /AGENT-QUEUE-STATE -->", ""),
        EXAMPLE.replace("- total: 1/3\n", ""),
        EXAMPLE.replace("## In-flight\n\n", "## In-flight\n"),
        EXAMPLE.replace("\n", "\r\n", 3),
        EXAMPLE.replace("| 1 | #42", "| 01 | #42"),
        EXAMPLE.replace("| claude | 6 |", "| claude | 06 |"),  # would render back as 6
        EXAMPLE.replace("- claude: 1/2", "- claude: 01/2"),
        EXAMPLE.replace("- global: 1/4\n\n", "- global: 1/4\n"),
    ],
)
def test_bodies_that_would_not_render_back_are_refused(bad: str) -> None:
    """Seen red: with `\\d+` for the counts, `06` and `01/2` parsed and rendered back
    without their zero."""
    with pytest.raises(StateIssueError, match=r"state issue"):
        parse(bad)


def test_validation_names_unconfigured_adapters_and_refs_of_the_wrong_mode() -> None:
    state = parse(EXAMPLE)
    problems = validate(state, adapters=["claude"], mode="github")
    assert problems == ["Ready rank 2: adapter 'codex' is not configured (one of: claude)"]
    assert validate(state, adapters=["claude", "codex"], mode="file") == []  # digits are slugs
    slugged = dataclasses.replace(state, blocked=(BlockedItem("a", Blocker("#42"), "x"),))
    assert validate(slugged, adapters=["claude", "codex"], mode="github") == [
        "Blocked: #a is not an issue number (github mode)"
    ]


# -- the dispatcher's sections ----------------------------------------------------------


def test_the_dispatcher_rewrites_only_its_own_sections() -> None:
    """Seen red: rendering a fresh state (instead of replacing three fields of the parsed
    one) lost the footer and the recommender's Ready rows."""
    body = "Pinned note.\n\n" + EXAMPLE + "\n\nFooter.\n"
    sections = DispatcherSections(
        in_flight=(),
        rate_limits=(RateLimit("claude", "UNKNOWN"),),
        slots=SlotUsage((("claude", 0, 2),), (0, 3), (0, 4)),
    )
    updated = update_dispatcher_sections(body, sections)
    head, _ = body.split("## In-flight")
    assert updated.startswith(head)
    assert updated.endswith("<!-- /AGENT-QUEUE-STATE -->\n\nFooter.\n")
    assert "- _no agents in flight_" in updated
    assert (
        "- claude: UNKNOWN\n\n## Slot usage\n\n- claude: 0/2\n- total: 0/3\n- global: 0/4\n"
        in updated
    )
    after = parse(updated)
    before = parse(body)
    assert (after.ready, after.blocked, after.generated) == (
        before.ready,
        before.blocked,
        before.generated,
    )


def test_a_malformed_body_is_never_rewritten_by_the_dispatcher() -> None:
    bad = EXAMPLE.replace("## Excluded", "## Excludes")
    with pytest.raises(StateIssueError, match="## Excluded"):
        update_dispatcher_sections(bad, DispatcherSections((), (), SlotUsage()))


@settings(max_examples=400, deadline=None)
@given(
    states(),
    st.integers(0, 10_000),
    st.sampled_from(["", " ", "\n", "*", "|", "#", "`", "x", "\r", "0", "_", "-"]),
    st.integers(0, 2),
)
def test_any_body_the_parser_accepts_renders_back_byte_for_byte(
    state: StateIssue, where: int, insert: str, delete: int
) -> None:
    """Edits near valid bodies: whatever the parser accepts must render back exactly."""
    text = render(state)
    at = where % (len(text) + 1)
    mutated = text[:at] + insert + text[at + delete :]
    try:
        parsed = parse(mutated)
    except StateIssueError:
        return
    assert render(parsed) == mutated
