"""A SIGKILL at every step boundary of `implementation`, then `middle resume`.

Each crash must end where an uncrashed run ends (parked for review), with one workflow
row, one worktree, one agent launch for the one turn that started, and each hook recorded
exactly once. `MIDDLE_FAULT_KILL_AT` makes the dispatcher SIGKILL itself there.

Seen red before `launch-and-drive` remembered its output: a crash right after the turn
returned made the rerun classify a turn whose sentinels were gone, and park a bare stop.
"""

from __future__ import annotations

import signal

import pytest

from tests.e2e.conftest import REF, Sandbox

PARKED_FOR_REVIEW = {
    "state": "waiting-human",
    "worktrees": 1,
    "launches": 1,
    "SessionStart": 1,
    "Stop": 1,
    "park": ["park-for-resume"],
}
BOUNDARIES = [
    f"{step}:{moment}"
    for step in ("check-slots", "prepare-worktree", "launch-and-drive", "park-for-resume")
    for moment in ("before", "after")
]


def final_picture(sandbox: Sandbox) -> dict[str, object]:
    db = sandbox.db()
    (row,) = db["workflows"].rows
    worktrees = list((sandbox.home / "worktrees").glob("*/*"))
    return {
        "state": row["state"],
        "worktrees": len(worktrees),
        "launches": len(sandbox.agent_log("launch")),
        "SessionStart": len(sandbox.events("hook.SessionStart")),
        "Stop": len(sandbox.events("hook.Stop")),
        "park": [r["name"] for r in db["steps"].rows_where("name = 'park-for-resume'")],
    }


@pytest.fixture
def uncrashed(sandbox: Sandbox) -> dict[str, object]:
    sandbox.script({"do": "done"})
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 0, result.stderr
    return final_picture(sandbox)


def test_the_uncrashed_run_parks_for_review(uncrashed: dict[str, object]) -> None:
    assert uncrashed == PARKED_FOR_REVIEW


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_crash_at_any_step_boundary_resumes_to_the_same_end(
    sandbox: Sandbox, boundary: str
) -> None:
    sandbox.script({"do": "done"})
    crashed = sandbox.middle(
        "implement", "--issue", REF, "--agent", "command", env={"MIDDLE_FAULT_KILL_AT": boundary}
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    resumed = sandbox.middle("resume", "--issue", REF)

    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert final_picture(sandbox) == PARKED_FOR_REVIEW
