"""The recommender's validate-and-re-prompt loop, with the agent's turn replaced by a step
that writes the plan: a bad plan is sent back with its errors, a fixed one ends the loop,
and a plan that stays bad stops after `max_attempts`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from middle.config import DEFAULTS
from middle.engine import StepContext, loop, step
from middle.state_issue import StateIssue, render
from middle.steps.recommend import PLAN, another_attempt, check_plan
from middle.testing import StepHarness

VALID = render(StateIssue(generated="2026-11-27T10:00:00Z", run_id="0badf00d", interval="off"))


class Store:
    mode = "file"


def run_loop(harness: StepHarness, tmp_path: Path, plans: list[str]) -> Any:
    worktree = tmp_path / "worktree"
    (worktree / ".middle").mkdir(parents=True)

    @step("prepare-recommender")
    def prepare(ctx: StepContext) -> dict[str, Any]:
        return {"worktree": str(worktree)}

    @step("recommend-turn")
    def turn(ctx: StepContext) -> dict[str, Any]:
        (worktree / PLAN).write_text(plans[min(ctx.round, len(plans)) - 1])
        return {"outcome": "done"}

    harness.use_services(issues=Store(), config=DEFAULTS)
    harness.registry.add(check_plan, "test")
    harness.registry.add(turn, "test")
    return harness.run(
        prepare, loop("attempts", ["recommend-turn", "check-plan"], again=another_attempt)
    )


def test_a_bad_plan_is_sent_back_and_a_fixed_one_ends_the_loop(
    middle_harness: StepHarness, tmp_path: Path
) -> None:
    result = run_loop(middle_harness, tmp_path, ["turn 1\n", VALID])
    assert result.status == "completed"
    checks = middle_harness.events("recommender.plan-checked")
    assert [c["attempt"] for c in checks] == [1, 2]
    assert "AGENT-QUEUE-STATE" in checks[0]["errors"][0] and checks[1]["errors"] == []


@pytest.mark.parametrize("plan", ["turn 1\n", VALID.replace("## Blocked", "## Stuck")])
def test_a_plan_that_stays_bad_stops_after_max_attempts(
    middle_harness: StepHarness, tmp_path: Path, plan: str
) -> None:
    """Seen red: with `again` ignoring the attempt count, the loop ran past 3 attempts."""
    result = run_loop(middle_harness, tmp_path, [plan])
    assert result.status == "completed"  # write-state-issue is what refuses; not in this run
    checks = middle_harness.events("recommender.plan-checked")
    assert [c["attempt"] for c in checks] == [1, 2, 3]
    assert all(c["errors"] for c in checks)
