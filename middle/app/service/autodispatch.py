"""Auto-dispatch (opt in with `[recommender] auto_dispatch = true`): while a slot is free,
dispatch the top Ready item of the state issue that may run now; one pass fills every
free slot.

An item may run when its Epic is approved and open, has no open blockers, has no live run
and no run since the plan was generated (one automatic dispatch per item per plan), its
repo is not paused (`middle pause`), its adapter is not rate-limited, and the
global, repo and adapter slot limits have room.

The dispatch creates the workflow row here, through the same idempotent insert as every
dispatch; the partial UNIQUE index on live implementations lets exactly one of two
racing dispatchers (two `serve` passes, say) create it. Only the winner records the
`dispatch.auto` event, with its reason, and hands the run to its own process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from middle.app.control import is_paused
from middle.app.repo import base_branch
from middle.app.runtime import WORKFLOW, Runtime
from middle.app.service.poll import Starter, spawn_resume
from middle.config import load_config, middle_home
from middle.engine import Runner
from middle.errors import AlreadyInFlight, MiddleError
from middle.issues.base import IssueStore
from middle.issues.labels import hold_label
from middle.issues.state_location import current_state
from middle.steps.dispatch import fallback_adapter
from middle.store import (
    TERMINAL_STATES,
    active_rate_limit,
    list_workflows,
    record_event,
    slot_holders,
)


@dataclass(frozen=True)
class AutoDispatch:
    ref: str
    workflow_id: str
    reason: str


def dispatch_ready(
    db: Database, repo: Path, *, spawn: bool = True, start: Starter = spawn_resume
) -> list[AutoDispatch]:
    """Dispatch, in the plan's order, every Ready item that may run now, until no slot is
    free: one pass fills every free slot. Empty when auto-dispatch is off, the repo is
    paused, no slot is free, nothing is eligible, or another dispatcher won each race."""
    config = load_config(middle_home(), repo)
    if not config["recommender"].get("auto_dispatch") or is_paused(db, str(repo)):
        return []
    runtime = Runtime(repo, config=config)
    store = runtime.issues
    state = current_state(store.state_location())
    if state is None:
        return []
    dispatched = []
    for row in state.ready:
        # Asked again for each row: a run dispatched a moment ago holds its slot.
        adapter = _adapter_for(db, runtime, store, row.ref, row.adapter)
        why_not = _why_not(db, runtime, store, row.ref, adapter, since=state.generated)
        if why_not is not None:
            continue
        reason = f"rank {row.rank} of the plan generated {state.generated}: {row.reason}"
        if adapter != row.adapter:
            reason += f"; {row.adapter} is rate-limited, so {adapter} ([global] adapter_fallback)"
        found = _dispatch(db, runtime, row.ref, adapter, reason, start if spawn else None)
        if found is not None:  # None: another dispatcher won this one's race
            dispatched.append(found)
    return dispatched


def _adapter_for(db: Database, runtime: Runtime, store: IssueStore, ref: str, planned: str) -> str:
    """The plan's adapter, or its `[global] adapter_fallback` while it is rate-limited,
    unless the Epic pins one (`adapter:` meta or an `agent:` label)."""
    try:
        pinned = store.load(ref).adapter
    except MiddleError:
        return planned  # `_why_not` says what is wrong with the issue
    if pinned:
        return planned
    return fallback_adapter(db, runtime.config, planned, runtime.plugins.adapters)


def _why_not(
    db: Database,
    runtime: Runtime,
    store: IssueStore,
    ref: str,
    adapter: str,
    *,
    since: str,
) -> str | None:
    """Why `ref` may not be dispatched automatically now, or None if it may."""
    repo, config = runtime.root, runtime.config
    if adapter not in config["adapters"]:
        return f"adapter {adapter} is not configured"
    if adapter not in runtime.plugins.adapters:
        return f"adapter {adapter} is not registered (is its plugin installed?)"
    if active_rate_limit(db, adapter) is not None:
        return f"{adapter} is rate-limited"
    holders = slot_holders(db, besides="")
    held = {h["id"] for h in holders}
    # A run dispatched a moment ago claims its slot only when its process reaches
    # check-slots; count it now, so a second pass cannot hand that slot out again.
    holders += [
        row
        for row in list_workflows(db, kind="implementation", state="pending")
        if row["id"] not in held
    ]
    in_repo = [h for h in holders if h["repo"] == str(repo)]
    on_adapter = [h for h in holders if h["adapter"] == adapter]
    for limit, taken in (
        (config["global"]["max_concurrent"], holders),
        (config["limits"]["max_concurrent"], in_repo),
        (config["adapters"].get(adapter, {}).get("max_concurrent"), on_adapter),
    ):
        if limit is not None and len(taken) >= int(limit):
            return "no free slot"
    previous = list_workflows(db, kind="implementation", repo=str(repo), epic_ref=ref)
    if any(row["state"] not in TERMINAL_STATES or row["created_at"] >= since for row in previous):
        return "dispatched already"
    try:
        issue = store.load(ref)
        label = hold_label(issue.labels)
        if label is not None:
            return f"labelled {label}"
        if not issue.approved or issue.closed:
            return "not approved" if not issue.approved else "closed"
        if store.open_blockers(ref):
            return "blocked"
    except MiddleError as exc:
        return str(exc)
    return None


def _dispatch(
    db: Database, runtime: Runtime, ref: str, adapter: str, reason: str, start: Starter | None
) -> AutoDispatch | None:
    repo = runtime.root
    run_input = {
        "repo": str(repo),
        "ref": ref,
        "adapter": adapter,
        "base": base_branch(runtime.config, repo),
        "source": "auto",
    }
    workflow_id = f"impl-{uuid.uuid4().hex[:10]}"
    try:
        created = Runner(db, runtime.plugins).enqueue(WORKFLOW, run_input, workflow_id)
    except AlreadyInFlight:
        return None  # another dispatcher won the race
    if not created:
        return None
    record_event(db, workflow_id, "dispatch.auto", {"ref": ref, "reason": reason})
    if start is not None:
        start(workflow_id, run_input)
    return AutoDispatch(ref, workflow_id, reason)
