"""middle's own first draft of a plan, from facts alone.

The recommender agent is handed this draft in its plan file and asked to improve the
ranking and the reasons. The draft is already valid v1, so an agent that leaves the file
as it is still yields a usable state issue, and the facts (who is blocked, in flight,
excluded) never depend on an agent getting them right.

Ranking: Epics that unblock more others first, then fewer open sub-issues (smaller Epics
clear faster), then the ref.
"""

from __future__ import annotations

from dataclasses import dataclass

from middle.state_issue.model import (
    BlockedItem,
    Blocker,
    Excluded,
    InFlight,
    NeedsHuman,
    ReadyRow,
    StateIssue,
    v1_interval,
)
from middle.state_issue.render import cut_title


@dataclass(frozen=True)
class EpicFacts:
    """One open dispatch unit (an Epic or a standalone issue) as the gatherer saw it."""

    ref: str
    title: str
    adapter: str
    open_subs: int  # a standalone issue counts 1
    has_subs: bool
    has_criteria: bool
    blockers: tuple[str, ...]  # open blockers, as state-issue refs (`#12`, `o/r#3`, `#slug`)
    link: str
    open_question: bool = False
    labels: tuple[str, ...] = ()  # the issue's labels (`needs-design` ones are never ranked)


@dataclass(frozen=True)
class RunFacts:
    """A live implementation run."""

    ref: str
    state: str
    adapter: str
    session: str
    park_reason: str | None
    heartbeat: str
    link: str


_PARKED_LABELS = {
    "asked-question": ("awaiting reply", "the agent asked a question"),
    "done": ("ready for review", "the branch is ready for review"),
    "held": ("ready for review", "review round cap reached; a human takes over"),
    "gates-failed": ("awaiting reply", "verification gates still fail"),
    "bare-stop": ("awaiting reply", "the agent stopped without finishing"),
}


def draft_plan(
    epics: list[EpicFacts], runs: list[RunFacts], *, generated: str, run_id: str, interval: str
) -> StateIssue:
    """The plan for `epics` and `runs`; `interval` is the configured one (`15m`, `off`),
    written in v1's whole minutes."""
    live = {run.ref: run for run in runs}
    needs: list[NeedsHuman] = []
    flights: list[InFlight] = []
    for run in runs:
        if run.state in ("pending", "launching", "running", "rate-limited"):
            flights.append(InFlight(run.ref, run.adapter, "running", run.heartbeat, run.session))
        else:  # parked for a person
            label, summary = _PARKED_LABELS.get(run.park_reason or "", _PARKED_LABELS["bare-stop"])
            needs.append(NeedsHuman(run.ref, label, summary, run.link))
    blocked: list[BlockedItem] = []
    excluded: list[Excluded] = []
    candidates: list[EpicFacts] = []
    for epic in epics:
        if epic.ref in live:
            continue
        if epic.blockers:
            blocked += [
                BlockedItem(epic.ref, Blocker(ref), f"{epic.open_subs} open sub-issue(s)")
                for ref in epic.blockers
            ]
        elif epic.open_question:
            needs.append(
                NeedsHuman(epic.ref, "awaiting reply", "an open question in the Epic", epic.link)
            )
        elif epic.has_subs and epic.open_subs == 0:
            excluded.append(Excluded(epic.ref, "no open sub-issues", "every sub-issue is done"))
        elif not epic.has_criteria:
            excluded.append(
                Excluded(epic.ref, "acceptance criteria missing", "add `- [ ]` criteria")
            )
        else:
            candidates.append(epic)
    unblocks = {
        epic.ref: sum(1 for other in epics if f"#{epic.ref}" in other.blockers)
        for epic in candidates
    }
    candidates.sort(key=lambda e: (-unblocks[e.ref], e.open_subs, e.ref))
    ready = tuple(
        ReadyRow(
            rank,
            epic.ref,
            cut_title(epic.title) or epic.ref,
            epic.adapter,
            epic.open_subs,
            _reason(epic.open_subs, unblocks[epic.ref]),
        )
        for rank, epic in enumerate(candidates, start=1)
    )
    return StateIssue(
        generated=generated,
        run_id=run_id,
        interval=v1_interval(interval),
        ready=ready,
        needs_human=tuple(needs),
        blocked=tuple(blocked),
        in_flight=tuple(flights),
        excluded=tuple(excluded),
    )


def _reason(open_subs: int, unblocks: int) -> str:
    reason = f"{open_subs} open sub-issue(s), no open blockers"
    return reason + (f"; unblocks {unblocks} Epic(s)" if unblocks else "")
