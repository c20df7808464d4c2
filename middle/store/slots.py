"""Agent slots: a workflow holds one from its launch until it parks or ends.

A holder is a workflow in `launching` or `running` whose `meta_json` says it claimed a
slot. Counting and claiming happen in one write transaction, so concurrent launches
cannot overshoot `max_concurrent`. Every launch claims one (the first dispatch, an
answer, a review round, a poll-resume); a launch that finds none free leaves the run
parked and marked `queued`, and `poll` continues queued runs, oldest first, as slots free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from middle.store.base import write_transaction
from middle.store.records import Row, get_workflow, merge_workflow_meta, transition_workflow

_HOLDERS = (
    "SELECT * FROM workflows WHERE state IN ('launching', 'running') "
    "AND json_extract(meta_json, '$.slot') = 'held' AND id != ?"
)
QUEUED = "queued: no free slot"


def slot_holders(db: Database, *, besides: str) -> list[Row]:
    """Workflows holding a slot now, other than `besides`, oldest first."""
    cursor = db.execute(_HOLDERS + " ORDER BY created_at", [besides])
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def claim_slot(db: Database, workflow_id: str) -> None:
    merge_workflow_meta(db, workflow_id, {"slot": "held", "queued": None})


@dataclass(frozen=True)
class SlotsBusy:
    """Why no slot is free: the first full scope, its limit and who holds its slots."""

    scope: str
    limit: int
    holders: list[Row]

    def __str__(self) -> str:
        names = ", ".join(f"{r['epic_ref']} ({r['id']})" for r in self.holders)
        return f"all {self.limit} {self.scope} agent slot(s) are busy: {names}"


def busy_scope(
    db: Database, workflow_id: str, adapter: str, config: Mapping[str, Any]
) -> SlotsBusy | None:
    """The first of the global, repo and adapter limits that is full, or None. Read it
    inside the write transaction that claims, or the answer may be stale."""
    me = get_workflow(db, workflow_id)
    busy = slot_holders(db, besides=workflow_id)
    limits = [
        ("global", config["global"]["max_concurrent"], busy),
        ("repo", config["limits"]["max_concurrent"], [r for r in busy if r["repo"] == me["repo"]]),
        (
            f"{adapter} adapter",
            config["adapters"].get(adapter, {}).get("max_concurrent"),
            [r for r in busy if r["adapter"] == adapter],
        ),
    ]
    for scope, limit, taken in limits:
        if limit is not None and len(taken) >= int(limit):
            return SlotsBusy(scope, int(limit), taken)
    return None


def claim_slot_at_launch(
    db: Database, workflow_id: str, adapter: str, config: Mapping[str, Any]
) -> SlotsBusy | None:
    """Claim a slot for a launch, or say why not (and mark the run `queued`), in one
    write transaction. A turn calls this before every launch; on `SlotsBusy` it parks the
    run instead of starting the agent, and `poll` continues it when a slot frees."""
    with write_transaction(db):
        full = busy_scope(db, workflow_id, adapter, config)
        if full is None:
            claim_slot(db, workflow_id)
        else:
            merge_workflow_meta(db, workflow_id, {"queued": f"{QUEUED} ({full})"})
    return full


def claim_child_slot(
    db: Database,
    child_id: str,
    *,
    parent_id: str,
    adapter: str,
    config: Mapping[str, Any],
    cap: int,
) -> SlotsBusy | None:
    """Claim a slot for a fanned-out Epic's child and move it to `launching` (from
    `pending`, or from a park a human's signal ends), or say why not: the global, repo
    and adapter caps first, then the Epic's own (`cap` children holding slots at once).
    One write transaction, so the child counts against every cap from the moment it is
    claimed, before any process drives it."""
    with write_transaction(db):
        full = busy_scope(db, child_id, adapter, config)
        if full is None:
            holders = slot_holders(db, besides=child_id)
            siblings = [r for r in holders if r["parent_id"] == parent_id]
            if len(siblings) >= cap:
                full = SlotsBusy("Epic", cap, siblings)
        if full is None:
            claim_slot(db, child_id)
            leaving = ("pending", "waiting-human", "rate-limited")
            transition_workflow(db, child_id, "launching", leaving=leaving)
    return full
