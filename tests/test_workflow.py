"""Workflow definitions and the edits plugins make to them by name."""

from __future__ import annotations

import pytest

from middle import Workflow, branch, wait_for
from middle.errors import WorkflowError


def implementation() -> Workflow:
    return Workflow(
        "implementation",
        [
            "check-slots",
            "prepare-worktree",
            "launch-and-drive",
            branch(
                "route",
                lambda ctx: "park",
                {
                    "park": ["park-for-resume", wait_for("resume"), "resume-or-finalize"],
                    "end": ["record-terminal"],
                },
            ),
        ],
    )


def test_edits_by_name_reach_into_branch_paths() -> None:
    wf = implementation()
    wf.insert_after("prepare-worktree", "install-deps")
    wf.insert_before("check-slots", "lint-epic")
    wf.replace("record-terminal", "record-outcome")
    wf.insert_after("park-for-resume", "notify")

    assert wf.names() == [
        "lint-epic",
        "check-slots",
        "prepare-worktree",
        "install-deps",
        "launch-and-drive",
        "route",
        "park-for-resume",
        "notify",
        "wait-for-resume",
        "resume-or-finalize",
        "record-outcome",
    ]
    assert "wait-for-resume" not in wf.step_names()


def test_an_unknown_name_lists_the_workflows_steps() -> None:
    with pytest.raises(WorkflowError, match=r"'implementation' has no step 'deploy'.*check-slots"):
        implementation().insert_after("deploy", "x")


def test_a_duplicate_node_name_is_refused() -> None:
    with pytest.raises(WorkflowError, match="two nodes named 'check-slots'"):
        implementation().insert_after("launch-and-drive", "check-slots")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(WorkflowError, match="kind 'deploy'"):
        Workflow("x", [], kind="deploy")


def test_outline_shows_branches_and_waits() -> None:
    lines = implementation().outline()
    assert lines[3:6] == ["route (branch)", "  [park]", "    park-for-resume"]
    assert "    wait-for-resume (waits for signal 'resume')" in lines


def test_loops_do_not_nest() -> None:
    from middle import loop

    inner = loop("inner", ["b"], again=lambda ctx: False)
    with pytest.raises(WorkflowError, match="loop 'outer' contains another loop"):
        Workflow("x", [loop("outer", ["a", inner], again=lambda ctx: False)])
