"""The workflows of a fanned-out Epic (issue 23, `implement --parallel N`).

`epic`, the parent (it holds no agent slot):

    plan-epic
    fan-outs (loop: again while a sub-issue has not merged, or a review asks for a round)
      fan-out
      fanned (branch)
        [wait] wait-for-children
        [done] verify-epic, park-epic, wait-for-resume, finish-epic

`epic-child`, one sub-issue (it holds a slot while its agent works):

    check-slots
    prepare-child
    turns (loop: again after a conflict, or when a human's signal asks for a turn)
      launch-and-drive
      route-child (branch)
        [merge] merge-child
        [park]  park-for-resume, wait-for-resume, resume-or-finalize
        [end]   record-terminal
    report-to-parent

Both are of kind `implementation`: the parent is its Epic's one live run, and a child's
subject is `<ref>/<sub>`, so the store allows one live child per sub-issue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from middle.engine import Workflow, branch, loop, wait_for
from middle.engine.workflow import subject_labels
from middle.steps.epic_child import another_child_turn, route_child_turn
from middle.steps.fanout import fan_out_again, fanned_out
from middle.steps.outcome import parked_state


def epic_workflow() -> Workflow:
    return Workflow(
        "epic",
        [
            "plan-epic",
            loop(
                "fan-outs",
                [
                    "fan-out",
                    branch(
                        "fanned",
                        fanned_out,
                        {
                            "wait": [wait_for("children")],
                            "done": ["verify-epic", "park-epic", wait_for("resume"), "finish-epic"],
                        },
                    ),
                ],
                again=fan_out_again,
                max_iterations=1000,
            ),
        ],
        kind="implementation",
    )


def child_subject(input: Mapping[str, Any]) -> Mapping[str, Any]:
    """A child is about `<ref>/<sub>`, the name `MIDDLE_EPIC` gives its agent too."""
    return {**subject_labels(input), "ref": f"{input['ref']}/{input['sub']}"}


def epic_child_workflow() -> Workflow:
    return Workflow(
        "epic-child",
        [
            "check-slots",
            "prepare-child",
            loop(
                "turns",
                [
                    "launch-and-drive",
                    branch(
                        "route-child",
                        route_child_turn,
                        {
                            "merge": ["merge-child"],
                            "park": [
                                "park-for-resume",
                                wait_for("resume", state=parked_state),
                                "resume-or-finalize",
                            ],
                            "end": ["record-terminal"],
                        },
                    ),
                ],
                again=another_child_turn,
            ),
            "report-to-parent",
        ],
        kind="implementation",
        subject=child_subject,
    )
