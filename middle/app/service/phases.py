"""`poll`'s part of per-phase gates (issue 19), in GitHub mode: when a parked run's pull
request has a new head, the phases ticked in its `## Status` since the run's last look
are judged on the branch's committed head (`middle.steps.phases`). A phase whose gates
fail is unticked, said in a PR comment, and the agent is resumed with the same report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from middle.app.runtime import Runtime
from middle.engine.runs import Runs
from middle.issues import PullRequest
from middle.steps.phases import SCRATCH, gate_environment, judge_ticked_phases
from middle.verify.gates import load_gates

PARKS = ("done", "gates-failed", "bare-stop")  # parks a failed phase resumes


def phase_signal(
    runs: Runs, row: dict[str, Any], runtime: Runtime, pr: PullRequest, reason: str
) -> dict[str, Any] | None:
    """The resume signal of a phase that failed on the PR's new head, or None."""
    if pr.state != "OPEN" or reason not in PARKS or not row["pr_branch"]:
        return None
    if (runs.scratch(row["id"], SCRATCH) or {}).get("pr_head") == pr.head_sha:
        return None  # judged on this head already
    run_input = Runs.input(row)
    repo = Path(row["repo"])
    gates = load_gates(repo, str(run_input.get("base") or "HEAD"))
    judged = []
    if gates:
        adapter = runtime.plugins.adapter(str(run_input["adapter"]), runtime.config)
        judged = judge_ticked_phases(
            runtime.issues, runs, row["id"], repo=repo, ref=str(row["epic_ref"]),
            branch=row["pr_branch"], gates=gates, home=runtime.home,
            env=gate_environment(adapter),
        )  # fmt: skip
    runs.save_scratch(row["id"], SCRATCH, {"pr_head": pr.head_sha})
    failed = [run for run in judged if not run.passed]
    if not failed:
        return None
    return {
        "kind": "phase-failed",
        "text": " ".join(run.report() for run in failed),
        "author": "middle poll",
        "acted_on": [f"phase-{run.phase}-{run.head}" for run in failed],
    }
