"""The state issue v1: exact round trips both ways, refusals that name the line, and the
dispatcher's section updates that touch nothing else."""

from __future__ import annotations

import dataclasses
import re
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
    with_dispatcher_sections,
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
TICK = "<!-- dispatcher-tick: 2026-05-14T09:20:00Z -->"
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
        interval=draw(st.sampled_from(["15m", "0m", "90m", "1h30m", "off"])),
        ready=ready,
        needs_human=needs,
        blocked=blocked,
        in_flight=flights,
        excluded=excluded,
        rate_limits=limits,
        slots=slots,
        placeholders=tuple(placeholders),
        ticks=tuple(
            (at, line)
            for at in sorted(draw(st.sets(st.integers(-1, 6), max_size=2)))
            for line in draw(
                st.lists(st.sampled_from([TICK, ""]), min_size=1, max_size=4).filter(
                    lambda lines: TICK in lines
                )
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
        "- claude: UNKNOWN\n- codex: UNKNOWN\n- github: UNKNOWN\n\n## Slot usage\n\n"
        "- claude: 0/2\n- total: 0/3\n- global: 0/4\n" in updated
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


# -- both ways with the reference's own parser (issue 21 item 9) -------------------------
#
# The rules below are the reference's v1 schema doc and parser as their text states them
# (thejustinwalsh/middle, schemas/state-issue.v1.md and packages/state-issue/src/
# parser.ts), restated here in our words; none of its code is in this project.

OWNERS = "<!-- owners: recommender=full-body, dispatcher=in-flight,rate-limits,slot-usage -->"
FIRST = "## Ready to dispatch"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # its dispatcher puts a tick and a blank line just above the first section
        (f"{OWNERS}\n\n{FIRST}", f"{OWNERS}\n\n{TICK}\n\n{FIRST}"),
        # and on its next tick drops the old tick but not its blank line
        (f"{OWNERS}\n\n{FIRST}", f"{OWNERS}\n\n\n{TICK}\n\n{FIRST}"),
        # a tick with no blank line after it, before the first section and between two
        (f"{OWNERS}\n\n{FIRST}", f"{OWNERS}\n\n{TICK}\n{FIRST}"),
        ("\n\n## Blocked", f"\n\n{TICK}\n## Blocked"),
        ("\n\n<!-- /AGENT-QUEUE-STATE -->", f"\n\n{TICK}\n<!-- /AGENT-QUEUE-STATE -->"),
    ],
)
def test_ticks_where_the_reference_dispatcher_writes_them_are_read_and_kept(
    old: str, new: str
) -> None:
    """Parsers ignore `<!-- dispatcher-tick: <ts> -->` lines (v1 Diff semantics): the body
    reads as the same plan, and render writes each tick back where it stood, with the blank
    lines around it as they were. Seen red: a tick before the first section was refused
    ("expected the section heading `## Ready to dispatch`"), and so was one with no blank
    line after it ("expected a blank line")."""
    assert old in EXAMPLE
    body = EXAMPLE.replace(old, new, 1)
    state = parse(body)
    assert dataclasses.replace(state, ticks=()) == parse(EXAMPLE)
    assert TICK in [line for _, line in state.ticks]
    assert render(state) == body
    # the dispatcher's rewrite of its own sections keeps the tick in place
    sections = DispatcherSections(state.in_flight, state.rate_limits, state.slots)
    assert update_dispatcher_sections(body, sections) == body


def test_blank_lines_between_sections_without_a_tick_are_still_refused() -> None:
    """The leniency is for ticks only. Seen red by mutation: with blank-only gaps read,
    an extra blank line between sections was accepted."""
    with pytest.raises(StateIssueError, match="## Blocked"):
        parse(EXAMPLE.replace("\n\n## Blocked", "\n\n\n## Blocked", 1))


def _middle_bodies() -> list[tuple[str, str]]:
    """What middle writes: a recommender run's plan with the dispatcher's sections (every
    config interval form; three configured adapters, one of them neither claude nor codex;
    GitHub mode with its quota line, and file mode without one), and the body a new state
    issue starts with."""
    from middle.issues.state_location import empty_state
    from middle.state_issue.draft import EpicFacts, RunFacts, draft_plan

    epics = [
        EpicFacts("42", "Retry webhooks", "claude", 3, True, True, (), "https://x.test/42"),
        EpicFacts("43", "Signed payloads", "codex", 1, False, True, ("#42",), "u"),
        EpicFacts("44", "Dashboard", "command", 2, True, False, (), "u"),
    ]
    runs = [RunFacts("45", "running", "command", "middle-r-45", None, "3s ago", "u")]
    limits = (
        RateLimit("claude", "AVAILABLE"),
        RateLimit("codex", "RATE LIMITED until 2026-05-14T10:30:00Z (in 1h 15m)"),
        RateLimit("command", "UNKNOWN"),
    )
    slots = SlotUsage((("claude", 0, 2), ("codex", 0, 1), ("command", 1, 1)), (1, 3), (1, 4))
    bodies = [("new state issue", render(empty_state()))]
    for interval in ("off", "15m", "1h30m", "1h", "90s"):
        for mode, quota in (
            ("github", (RateLimit("github", "4612/5000 req/hr · resets in 27m"),)),
            ("file", ()),
        ):
            plan = draft_plan(
                epics, runs, generated="2026-05-14T09:15:00Z", run_id="7f3a9c21", interval=interval
            )
            sections = DispatcherSections(plan.in_flight, limits + quota, slots)
            bodies.append((f"{interval} {mode}", render(with_dispatcher_sections(plan, sections))))
    return bodies


MIDDLE_BODIES = _middle_bodies()


def _inner(body: str) -> list[str]:
    """The reference's view: the lines between the markers (split on "\\n"), ticks dropped."""
    lines = body.split("\n")
    start = lines.index("<!-- AGENT-QUEUE-STATE v1 -->")
    end = lines.index("<!-- /AGENT-QUEUE-STATE -->", start + 1)
    return [
        x for x in lines[start + 1 : end] if not re.fullmatch(r"<!-- dispatcher-tick: .* -->", x)
    ]


def _sections(body: str) -> dict[str, list[str]]:
    """Each `## ` section's lines with the blank lines at its edges trimmed."""
    out: dict[str, list[str]] = {}
    name = None
    for line in _inner(body)[2:]:
        if line.startswith("## "):
            name = line[3:]
            out[name] = []
        elif name is not None:
            out[name].append(line)
        else:
            assert line.strip() == "", f"content before the first section: {line!r}"
    return {k: "\n".join(v).strip("\n").split("\n") if "".join(v) else [] for k, v in out.items()}


BODY_IDS = [name for name, _ in MIDDLE_BODIES]
each_body = pytest.mark.parametrize("body", [b for _, b in MIDDLE_BODIES], ids=BODY_IDS)


@each_body
def test_rule_the_interval_is_whole_minutes(body: str) -> None:
    """v1's metadata line ends `interval: <n>m`: `off` and `1h30m` are refused by its
    parser. Seen red: middle wrote `interval: off` and `interval: 1h30m`."""
    assert re.fullmatch(r"<!-- generated: .+? · run: \S+ · interval: \d+m -->", _inner(body)[0]), (
        _inner(body)[0]
    )


@each_body
def test_rule_rate_limits_are_exactly_claude_codex_github(body: str) -> None:
    """v1's Rate limits section is exactly three lines, `- claude: `, `- codex: `,
    `- github: `, in that order. Seen red: middle wrote one line per configured adapter
    (`- command: ...`) and no github line in file mode."""
    lines = _sections(body)["Rate limits"]
    assert [line.split(": ", 1)[0] for line in lines] == ["- claude", "- codex", "- github"]


@each_body
def test_rule_the_owners_line_is_the_fixed_one(body: str) -> None:
    """Its parser compares the second metadata line with one constant. Seen red by
    mutation: with other default owners, every body failed."""
    assert _inner(body)[1] == OWNERS


@each_body
def test_rule_seven_sections_in_order_and_nothing_before_them(body: str) -> None:
    """Only blank lines (and ticks) may stand between the metadata and `## Ready to
    dispatch`. Seen red by mutation: render writing a stray line there."""
    from middle.state_issue import SECTIONS

    assert list(_sections(body)) == list(SECTIONS)


@each_body
def test_rule_ready_rows_have_five_cells_and_counts_of_at_least_one(body: str) -> None:
    """Its parser splits a row on ` | `, wants 5 cells, and a rank and a sub-issue count
    that are integers of at least 1 (or the one empty-state row). Seen red by mutation:
    render writing a sub-issue count of 0."""
    header, rule, *rows = _sections(body)["Ready to dispatch"]
    assert header == "| Rank | Epic | Adapter | Sub-issues | Reason |"
    assert rule == "| --- | --- | --- | --- | --- |"
    if rows == ["| — | _no Epics ready_ | — | — | — |"]:
        return
    assert rows
    for row in rows:
        assert row.startswith("| ") and row.endswith(" |")
        cells = row[2:-2].split(" | ")
        assert len(cells) == 5, row
        assert int(cells[0]) >= 1 and int(cells[3]) >= 1, row
        assert re.match(r"#\d+\s+\S", cells[1]), row


@each_body
def test_rule_list_items_name_issue_numbers(body: str) -> None:
    """Needs human input, Blocked, In-flight and Excluded items start `- **#<digits>`
    (GitHub mode), or the section is empty or italic placeholders. Seen red by mutation:
    render writing `waits on` for `waiting on`."""
    patterns = {
        "Needs human input": r"- \*\*#(\d+) (.+?)\*\* — (.+) · (.+)",
        "Blocked": r"- \*\*#(\d+)\*\* waiting on (.+) · (.+)",
        "In-flight": r"- \*\*#(\d+)\*\* · (.+?) · (.+?) · last heartbeat (.+?) · \[tmux: (.+?)\]",
        "Excluded": r"- \*\*#(\d+)\*\* (.+) — (.+)",
    }
    sections = _sections(body)
    for name, pattern in patterns.items():
        lines = sections[name]
        if all(re.fullmatch(r"- ([_*]).*\1", line) for line in lines):
            continue
        for line in lines:
            assert re.fullmatch(pattern, line), (name, line)


@each_body
def test_rule_slot_usage_lists_each_adapter_then_total_then_global(body: str) -> None:
    """Seen red by mutation: render writing `- sum:` for `- total:`."""
    lines = _sections(body)["Slot usage"]
    assert len(lines) >= 2
    assert all(re.fullmatch(r"- (.+): (\d+)/(\d+)", line) for line in lines), lines
    assert lines[-2].startswith("- total: ") and lines[-1].startswith("- global: ")
    if len(lines) > 2:  # (a new state issue has no adapter lines yet)
        # the adapters v1 leaves out of Rate limits keep their line here
        assert [line.split(":")[0] for line in lines[:-2]] == ["- claude", "- codex", "- command"]


@each_body
def test_what_middle_writes_reads_back_byte_for_byte(body: str) -> None:
    """Seen red by mutation: render ending each Rate limits line with a space."""
    assert render(parse(body)) == body


@pytest.mark.parametrize(
    ("interval", "v1"),
    [
        ("off", "0m"),
        ("15m", "15m"),
        ("1h30m", "90m"),
        ("1h", "60m"),
        ("90s", "2m"),
        ("1d", "1440m"),
    ],
)
def test_a_config_interval_is_written_as_v1_minutes(interval: str, v1: str) -> None:
    """`0m` stands for off: the reference's parser reads `interval: (\\d+)m` and its
    validation never looks at the value, so `0m` is accepted. Seconds round up, so only
    `off` writes `0m`."""
    from middle.state_issue import v1_interval

    assert v1_interval(interval) == v1


def test_v1_rate_limits_keep_the_statuses_they_have_and_say_unknown_for_the_rest() -> None:
    from middle.state_issue import v1_rate_limits

    assert v1_rate_limits((RateLimit("command", "AVAILABLE"), RateLimit("codex", "AVAILABLE"))) == (
        RateLimit("claude", "UNKNOWN"),
        RateLimit("codex", "AVAILABLE"),
        RateLimit("github", "UNKNOWN"),
    )
