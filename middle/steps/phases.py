"""Judging ticked phases (issue 19): one pass for a run, shared by the turn (at a turn
end, in either mode) and `poll` (a parked run's pull request on a new head).

A pass reads the phases' checkboxes where the agent ticks them (`IssueStore.phase_marks`),
runs the gates of each phase that went from `[ ]` to `[x]` since the run's last pass
(`middle.verify.phases.run_phase_gates`, on a clean checkout of the branch's committed
head), publishes each phase's evidence, and unticks a phase whose gates failed. What the
run has seen is kept in its `phases` scratch, so a phase is judged once per tick.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from middle.agents.base import BaseAdapter
from middle.agents.launch import agent_environment
from middle.engine.runs import Runs
from middle.issues.base import IssueStore
from middle.verify.checkout import head_of, leased_checkout
from middle.verify.gates import Gate
from middle.verify.phases import PhaseRun, newly_ticked, run_phase_gates

SCRATCH = "phases"


def gate_environment(adapter: BaseAdapter) -> dict[str, str]:
    """What a gate runs with: what the agent itself may see, never middle's secrets."""
    return agent_environment(os.environ, adapter.env_patterns(), {})


def phase_baseline(runs: Runs, run_id: str, marks: Mapping[str, bool]) -> None:
    """The phases ticked before the run's first pass are not new (once per run)."""
    if runs.scratch(run_id, SCRATCH) is None:
        runs.save_scratch(run_id, SCRATCH, {"marks": dict(marks)})


def judge_ticked_phases(
    store: IssueStore,
    runs: Runs,
    run_id: str,
    *,
    repo: Path,
    ref: str,
    branch: str,
    gates: list[Gate],
    home: Path,
    env: Mapping[str, str] | None,
) -> list[PhaseRun]:
    """One pass: the runs of the phases ticked since the last pass, each published as
    its evidence (an event, the run's `phases` note, the store's record); a failed one
    is unticked where it was ticked. `MiddleError` when the checkboxes cannot be read."""
    now = store.phase_marks(ref, branch)
    seen = (runs.scratch(run_id, SCRATCH) or {}).get("marks") or {}
    ticked = newly_ticked(seen, now)
    judged: list[PhaseRun] = []
    if ticked:
        head = head_of(repo, branch)
        with leased_checkout(home, repo) as checkout:
            judged = [run_phase_gates(gates, phase, checkout, head, env) for phase in ticked]
    for run in judged:
        if run.results:
            store.publish_phase_evidence(ref, branch, run)
        runs.event(run_id, "phase.gates", run.as_dict())
        runs.note(run_id, {"phases": {run.phase: run.as_dict()}})
        if not run.passed:
            store.revert_phase(ref, branch, run)
            now[run.phase] = False
    runs.save_scratch(run_id, SCRATCH, {"marks": now})
    return judged
