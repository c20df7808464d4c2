"""`poll`: one pass over parked workflows, firing the resume signals that are due.

- A rate-limited run continues once its adapter's limit has reset.
- Any other parked run asks its issue store for `updates`: what people did where the
  issue lives. In GitHub mode a merged or closed PR finalizes the run, a trusted reply to
  the agent's question is the answer, an approval approves, and change requests since
  the last round start another, and so does a required CI check that failed on a ready
  PR's head (checks pending too long get a comment for a human); in file mode an answer
  written into the Epic file is the answer. In both, a branch ready for review that no
  longer merges onto its moved base starts a rebase round (`rebase.py`). poll records the
  run's pull request as it finds it.

Each repo's issue store is asked once per pass what changed (`IssueStore.poll_pass`; in
GitHub mode two conditional listings, `middle.issues.github_feed`), and a run nothing
touched is skipped without a call.

Safe to run from cron, and two passes at once are harmless: a signal is delivered only
while the run is still parked, in one transaction, so only one pass can resume a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.app.control import is_paused
from middle.app.home import open_home_db, spawn_middle
from middle.app.runtime import (
    PARKED_STATES,
    WORKFLOW,
    Outcome,
    Runtime,
    claim_launch_slot,
    describe,
    park_output,
    runtime_of,
)
from middle.app.service.phases import phase_signal
from middle.app.service.rebase import rebase_signal
from middle.engine.runs import Runs, plain_name
from middle.engine.runstate import describe_error
from middle.errors import MiddleError
from middle.issues import ParkedRun, PollPass
from middle.steps.services import Progress
from middle.store import (
    QUEUED,
    active_rate_limit,
    list_workflows,
)


@dataclass(frozen=True)
class PollAction:
    ref: str
    workflow_id: str
    signal: str  # the signal's kind: approve, answer, ...; or "error"
    outcome: Outcome | None  # None when the resume was handed to a background process
    error: str | None = None  # why the run could not be polled (the pass went on)


def poll_once(
    *,
    background: bool = False,
    progress: Progress | None = None,
    start: Starter | None = None,
) -> list[PollAction]:
    """Fire every due signal; resume those runs here, or in the background: handed to
    `start` (under serve, its run host), by default a process each. Each repo's issue
    store is asked once per pass what changed (`IssueStore.poll_pass`), and a run nothing
    touched is skipped without a call."""
    db = open_home_db()
    actions = []
    parked = list_workflows(db, kind=WORKFLOW, state=list(PARKED_STATES))
    queued_first = sorted(parked, key=lambda row: not Runs.meta(row).get("queued"))
    with ExitStack() as passes:
        repos: dict[str, tuple[Runtime, PollPass]] = {}
        for row in queued_first:  # queued runs first, oldest first: slots go to those waiting
            if is_paused(db, row["repo"]):
                continue  # a paused repo's runs wait for `middle unpause`
            try:
                if row["repo"] not in repos:
                    runtime = runtime_of(row)
                    repos[row["repo"]] = (runtime, passes.enter_context(runtime.issues.poll_pass()))
                runtime, watch = repos[row["repo"]]
                action = _poll_run(
                    db, row, runtime, watch, background, progress, start or spawn_resume
                )
            except Exception as exc:  # per run: one broken repo or run must not stop the pass
                if row["repo"] in repos:
                    repos[row["repo"]][1].failed(str(row["epic_ref"]))
                if progress is not None:
                    progress.note(
                        f"issue {row['epic_ref']} in {row['repo']} ({row['id']}): cannot poll "
                        f"it: {exc if isinstance(exc, MiddleError) else describe_error(exc)}"
                    )
                actions.append(PollAction(row["epic_ref"], row["id"], "error", None, str(exc)))
                continue
            if action is not None:
                actions.append(action)
    return actions


def _poll_run(
    db: Database,
    row: dict[str, Any],
    runtime: Runtime,
    watch: PollPass,
    background: bool,
    progress: Progress | None,
    start: Starter,
) -> PollAction | None:
    meta = Runs.meta(row)
    run_input = meta["input"]
    if meta.get("queued"):  # its signal came earlier; it waits for a slot
        runner = runtime.runner(run_input["adapter"], progress)
        if claim_launch_slot(runner, row, "continue") is not None:
            return None
        signal = {"kind": "slot-free"}
    else:
        found = due_signal(db, row, runtime, watch)
        if found is None:
            return None
        signal = found
        runner = runtime.runner(run_input["adapter"], progress)
        if not runner.signal(row["id"], "resume", signal, when_state=PARKED_STATES):
            return None  # another pass got there first
        if row["parent_id"]:  # a fanned-out Epic's child: its parent claims and drives it
            return _wake_parent(runtime, row, signal["kind"], background, progress, start)
        busy = claim_launch_slot(runner, row, signal["kind"])
        if busy is not None:
            return PollAction(row["epic_ref"], row["id"], f"{signal['kind']} ({QUEUED})", None)
    if background:
        start(row["id"], run_input)
        outcome = None
    else:
        outcome = describe(runner, runner.resume(row["id"]), row["epic_ref"])
    return PollAction(row["epic_ref"], row["id"], signal["kind"], outcome)


def _wake_parent(
    runtime: Runtime,
    row: dict[str, Any],
    kind: str,
    background: bool,
    progress: Progress | None,
    start: Starter,
) -> PollAction:
    """A child's signal is in: wake its Epic's run, which gives the child a slot and
    drives it (here, or in the background: `start`; or the process driving it now)."""
    runs = runtime.runs
    parent = runs.get(row["parent_id"])
    runs.deliver(parent["id"], "children", {"from": row["epic_ref"]})
    runner = runtime.runner(str(Runs.input(parent)["adapter"]), progress)
    if runner.driven(parent["id"]):
        return PollAction(row["epic_ref"], row["id"], kind, None)
    if background:
        start(parent["id"], Runs.input(parent))
        return PollAction(row["epic_ref"], row["id"], kind, None)
    outcome = describe(runner, runner.resume(parent["id"]), parent["epic_ref"])
    return PollAction(row["epic_ref"], row["id"], kind, outcome)


def due_signal(
    db: Database, row: dict[str, Any], runtime: Runtime, watch: PollPass | None = None
) -> dict[str, Any] | None:
    """The resume signal this parked run should get now, if any (`runtime` is the run's
    repo's: `runtime_of(row)`; `watch`, the pass's word on what changed: without one,
    the store is asked)."""
    if row["state"] == "rate-limited":
        if active_rate_limit(db, Runs.input(row)["adapter"]) is None:
            return {"kind": "continue", "author": "middle poll"}
        return None
    runs = Runs(db)
    # a fanned-out Epic's parent parks in `park-epic`; on its children, its children's
    # signals are what poll looks for
    park = park_output(runs, row["id"])
    if park is None or park["reason"] == "children":
        return None
    parked = ParkedRun(
        ref=str(Runs.input(row).get("ref") or row["epic_ref"]),  # a child asks on its Epic
        reason=park["reason"],
        pr_branch=row["pr_branch"],
        acted_on=frozenset(_acted_on(db, row["id"])),  # what earlier rounds already used
        parked_at=_parked_at(runs, row["id"]),
    )
    others = _other_repos(runs, row)
    if watch is not None and not others and watch.quiet(parked):
        return None  # nothing where the issue lives changed since it was last asked about
    store = runtime.issues
    pr = store.pull_request(row["pr_branch"]) if row["pr_branch"] else None
    if pr is not None:
        runs.record_pull_request(row["id"], pr.number, pr.url)
        failed_phase = phase_signal(runs, row, runtime, pr, park["reason"])
        if failed_phase is not None:
            return failed_phase
    parked = replace(parked, pull_request=pr)
    found = store.updates(parked) or rebase_signal(runs, row, store, parked)
    return found or _other_repos_review(runtime, parked, others)


def _other_repos(runs: Runs, row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An Epic across repos, parked for review: its repos besides the run's own."""
    verified = runs.latest_output(row["id"], "verify-epic") or {}
    repos = verified.get("repos") or {}
    return {name: repo for name, repo in repos.items() if repo["path"] != row["repo"]}


def _other_repos_review(
    runtime: Runtime, parked: ParkedRun, others: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """Changes a trusted reviewer requested on another repo's pull request of an Epic
    across repos: a review round for that repo (its feed is not the run's repo's, so it
    is asked each pass). Approving or merging the Epic is for its own repo's."""
    for name, repo in others.items():
        store = type(runtime.issues)(Path(repo["path"]), runtime.config)
        pr = store.pull_request(repo["branch"])
        if pr is None:
            continue
        found = store.updates(replace(parked, pull_request=pr))
        if found is not None and found.get("kind") == "request-changes":
            return {**found, "repo": name}
    return None


def _parked_at(runs: Runs, workflow_id: str) -> datetime | None:
    """When the run last parked: its newest `park-for-resume` checkpoint's end."""
    parks = [
        checkpoint["finished_at"]
        for checkpoint in runs.checkpoints(workflow_id)
        if plain_name(checkpoint["name"]) == "park-for-resume" and checkpoint["finished_at"]
    ]
    if not parks:
        return None
    moment = datetime.fromisoformat(str(parks[-1]).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _acted_on(db: Database, workflow_id: str) -> set[str]:
    """Ids (of comments, reviews, answered questions) that earlier resume signals carried."""
    acted: set[str] = set()
    for checkpoint in Runs(db).checkpoints(workflow_id):
        if plain_name(checkpoint["name"]) == "wait-for-resume" and checkpoint["output_json"]:
            acted.update(json.loads(checkpoint["output_json"]).get("acted_on", []))
    return acted


# Continues a run in the background: `spawn_resume`, or under serve its run host's `start`.
Starter = Callable[[str, dict[str, Any]], None]


def spawn_resume(workflow_id: str, run_input: dict[str, Any]) -> None:
    """Continue a run in its own process (`middle resume`), logging to $MIDDLE_HOME/logs."""
    args = ["resume", "--issue", str(run_input["ref"]), "--repo", str(run_input["repo"])]
    spawn_middle(args, workflow_id)
