"""The `recommender` workflow: rank a repo's open Epics into the state issue.

gather-queue
prepare-recommender
attempts (loop: again while the plan is not valid v1, up to max_attempts)
  recommend-turn
  check-plan
write-state-issue
"""

from __future__ import annotations

from middle.engine import Workflow, loop
from middle.steps.recommend import another_attempt


def recommender_workflow() -> Workflow:
    return Workflow(
        "recommender",
        [
            "gather-queue",
            "prepare-recommender",
            loop("attempts", ["recommend-turn", "check-plan"], again=another_attempt),
            "write-state-issue",
        ],
        kind="recommender",
    )
