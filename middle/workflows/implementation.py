"""The `implementation` workflow: one issue, from a slot to a reviewed branch.

    check-slots
    prepare-worktree
    turns (loop: another turn while a human's answer or feedback asks for one)
      launch-and-drive
      route (branch)
        [park] park-for-resume, wait-for-resume, resume-or-finalize
        [end]  record-terminal

Step names are a contract: plugins address them (`insert_after("prepare-worktree", ...)`).
"""

from __future__ import annotations

from middle.engine import Workflow, branch, loop, wait_for
from middle.steps.outcome import another_turn, parked_state, route_after_turn


def implementation_workflow() -> Workflow:
    return Workflow(
        "implementation",
        [
            "check-slots",
            "prepare-worktree",
            loop(
                "turns",
                [
                    "launch-and-drive",
                    branch(
                        "route",
                        route_after_turn,
                        {
                            "park": [
                                "park-for-resume",
                                wait_for("resume", state=parked_state),
                                "resume-or-finalize",
                            ],
                            "end": ["record-terminal"],
                        },
                    ),
                ],
                again=another_turn,
            ),
        ],
        kind="implementation",
    )
