"""Blocker resolution: same repo, another repo, stale refs, descriptions, and a second
resolution that changes nothing."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings

from middle.state_issue import (
    BlockedItem,
    BlockerStatus,
    ReadyRow,
    StateIssue,
    parse,
    render,
    resolve_blockers,
)
from tests.test_state_issue import states

EXAMPLE = (Path(__file__).parent / "fixtures" / "state_issue" / "reference-example.md").read_text(
    encoding="utf-8"
)
LIVE = {
    "#42": BlockerStatus("open", "Recommender workflow"),
    "#43": BlockerStatus("closed", "Done already"),
    "acme/widgets#7": BlockerStatus("open", "Widget API · v2"),
    "acme/widgets#8": BlockerStatus("closed", "Shipped"),
}


def lookup(ref: str) -> BlockerStatus:
    return LIVE.get(ref, BlockerStatus("missing"))


def promote(item: BlockedItem) -> ReadyRow:
    return ReadyRow(
        0, item.ref, f"Epic {item.ref}", "claude", 2, f"blocker {item.blocker.ref} closed"
    )


def body_with_blocked(*lines: str) -> str:
    head, rest = EXAMPLE.split("## Blocked\n\n")
    _, tail = rest.split("\n\n## In-flight", 1)
    return head + "## Blocked\n\n" + "\n".join(lines) + "\n\n## In-flight" + tail


def blocked_lines(text: str) -> list[str]:
    return text.split("## Blocked\n\n")[1].split("\n\n## In-flight")[0].splitlines()


def test_open_closed_stale_and_described_blockers_resolve_as_v1_says() -> None:
    text = body_with_blocked(
        "- **#48** waiting on #42 · needs the recommender",
        "- **#49** waiting on #43 · was waiting on a closed one",
        "- **#50** waiting on acme/widgets#7 · cross-repo, still open",
        "- **#51** waiting on acme/widgets#8 · cross-repo, closed",
        "- **#52** waiting on #999 · deleted issue",
        "- **#66** waiting on `upstream bunqueue release` · not an issue",
    )
    resolved = resolve_blockers(parse(text), lookup, promote)
    out = render(resolved)
    assert blocked_lines(out) == [
        "- **#48** waiting on #42 (Recommender workflow) · needs the recommender",
        "- **#50** waiting on acme/widgets#7 (Widget API - v2) · cross-repo, still open",
        "- **#52** waiting on #999 (stale blocker: #999) · deleted issue",
        "- **#66** waiting on `upstream bunqueue release` · not an issue",
    ]
    assert [(r.rank, r.ref) for r in resolved.ready][-2:] == [(4, "49"), (5, "51")]
    assert parse(out) == resolved


def test_resolving_again_changes_nothing() -> None:
    """Seen red: building the new blocker from the annotated text (`Blocker(text(), note)`)
    instead of the bare ref made the second pass append a second annotation."""
    text = body_with_blocked(
        "- **#48** waiting on #42 · a",
        "- **#52** waiting on #999 · b",
        "- **#53** waiting on #42 (an old title) · c",
    )
    once = render(resolve_blockers(parse(text), lookup, promote))
    twice = render(resolve_blockers(parse(once), lookup, promote))
    assert once == twice
    assert "#42 (Recommender workflow) · c" in once
    assert once.count("stale blocker") == 1


def test_a_blocker_that_reopens_or_goes_stale_replaces_its_old_annotation() -> None:
    text = body_with_blocked("- **#48** waiting on #42 (stale blocker: #42) · a")
    out = render(resolve_blockers(parse(text), lookup, promote))
    assert blocked_lines(out) == ["- **#48** waiting on #42 (Recommender workflow) · a"]


def test_a_freed_item_already_ranked_is_not_ranked_twice() -> None:
    text = body_with_blocked("- **#42** waiting on #43 · already in Ready")
    resolved = resolve_blockers(parse(text), lookup, promote)
    assert [r.ref for r in resolved.ready] == ["42", "60", "54"]
    assert resolved.blocked == ()


def test_an_item_with_two_blockers_stays_blocked_until_both_close() -> None:
    text = body_with_blocked(
        "- **#49** waiting on #43 · closed one", "- **#49** waiting on #42 · open one"
    )
    resolved = resolve_blockers(parse(text), lookup, promote)
    assert [r.ref for r in resolved.ready] == ["42", "60", "54"]
    assert [(b.ref, b.blocker.ref) for b in resolved.blocked] == [("49", "#42")]


@settings(max_examples=150, deadline=None)
@given(states())
def test_any_state_resolves_idempotently(state: StateIssue) -> None:
    """For any body: a second resolution against the same live state changes nothing."""
    statuses = ["open", "closed", "missing"]

    def stable(ref: str) -> BlockerStatus:
        return BlockerStatus(statuses[sum(map(ord, ref)) % 3], f"Title of {ref}")  # type: ignore[arg-type]

    once = render(resolve_blockers(state, stable, promote))
    assert render(resolve_blockers(parse(once), stable, promote)) == once
