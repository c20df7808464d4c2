"""The engine owns run state: a step ends its run through `ctx.end`, keeps what must
survive a retry or a crash in the run's scratch, and says what the run is about through
its workflow's subject; runs of an older middle are migrated to the same shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database
from tenacity import stop_after_attempt

from middle.engine import StepContext, Workflow, step
from middle.errors import WorkflowError
from middle.store import migrate, migrations, open_db
from middle.testing import StepHarness


def test_a_step_ends_its_run_and_the_nodes_after_it_do_not_run(
    middle_harness: StepHarness,
) -> None:
    """Seen red with `ctx.end` only noting the wish (the old way: a step wrote `failed`
    itself and the runner went on with the next nodes): `after` ran."""
    ran: list[str] = []

    @step("give-up")
    def give_up(ctx: StepContext) -> dict[str, Any]:
        ctx.end("failed", "agent gave up: no tests to run")
        return {"gave_up": True}

    @step("after")
    def after(ctx: StepContext) -> None:
        ran.append("after")

    result = middle_harness.run(give_up, after, workflow_id="wf-end")
    row = middle_harness.runner.runs.get("wf-end")
    assert (result.status, row["state"]) == ("failed", "failed")
    assert row["end_reason"] == "agent gave up: no tests to run"
    assert ran == []
    checkpoint = {cp["name"]: cp for cp in middle_harness.checkpoints("wf-end")}["give-up"]
    assert (checkpoint["status"], json.loads(checkpoint["output_json"])) == (
        "completed",
        {"gave_up": True},
    )
    assert middle_harness.events("workflow.failed") == [
        {"step": "give-up", "reason": "agent gave up: no tests to run"}
    ]


def test_an_ended_run_is_not_compensated(middle_harness: StepHarness) -> None:
    undone: list[str] = []

    @step("claim", compensate=lambda ctx: undone.append("claim"))
    def claim(ctx: StepContext) -> None:
        return None

    @step("close")
    def close(ctx: StepContext) -> None:
        ctx.end("cancelled", "pull request #4 was closed without merging")

    assert middle_harness.run(claim, close).status == "cancelled"
    assert undone == []


def test_only_the_attempt_that_returns_ends_the_run(middle_harness: StepHarness) -> None:
    """An attempt that asked to end and then raised asked for nothing: its retry decides.
    Seen red without the reset at each attempt: the run ended `failed` after a retry that
    finished normally."""

    @step("flaky")
    def flaky(ctx: StepContext) -> None:
        if ctx.attempt == 1:
            ctx.end("failed", "first thoughts")
            raise RuntimeError("then it crashed")

    assert middle_harness.run(flaky).status == "completed"


def test_a_step_cannot_end_a_run_compensated(middle_harness: StepHarness) -> None:
    @step("odd", stop=stop_after_attempt(1))
    def odd(ctx: StepContext) -> None:
        ctx.end("compensated", "says who")

    with pytest.raises(ValueError, match="completed or failed or cancelled"):
        middle_harness.run(odd, workflow_id="wf-odd")
    assert middle_harness.runner.runs.get("wf-odd")["state"] == "failed"


def test_an_end_does_not_overwrite_a_cancel_from_another_process(
    middle_harness: StepHarness,
) -> None:
    @step("late")
    def late(ctx: StepContext) -> None:
        ctx.runs.transition(ctx.workflow_id, "cancelled", leaving=("running",), reason="by hand")
        ctx.end("failed", "too late")

    middle_harness.run(late, workflow_id="wf-late")
    row = middle_harness.runner.runs.get("wf-late")
    assert (row["state"], row["end_reason"]) == ("cancelled", "by hand")


def test_scratch_survives_a_failed_attempt_and_merges(middle_harness: StepHarness) -> None:
    seen: list[Any] = []

    @step("count")
    def count(ctx: StepContext) -> None:
        seen.append(ctx.runs.scratch(ctx.workflow_id, "turns"))
        ctx.runs.save_scratch(ctx.workflow_id, "turns", {str(ctx.attempt): {"nudges": 1}})
        if ctx.attempt == 1:
            raise RuntimeError("crash after saving")

    middle_harness.run(count, workflow_id="wf-scratch", fail={"count": 0})
    assert seen == [None, {"1": {"nudges": 1}}]
    assert middle_harness.runner.runs.scratch("wf-scratch", "turns") == {
        "1": {"nudges": 1},
        "2": {"nudges": 1},
    }


def test_a_workflow_maps_its_input_onto_the_run_subject(middle_harness: StepHarness) -> None:
    @step("noop")
    def noop(ctx: StepContext) -> None:
        return None

    def subject(input: Any) -> dict[str, Any]:
        return {"repo": input["repo"], "ref": input["issue"], "adapter": input["agent"]}

    middle_harness.registry.add(noop, "test")
    workflow = Workflow("labelled", ["noop"], subject=subject)
    repo = str(middle_harness.repo)
    middle_harness.runner.start(workflow, {"repo": repo, "issue": 12, "agent": "codex"}, "wf-s")
    row = middle_harness.runner.runs.get("wf-s")
    assert (row["repo"], row["epic_ref"], row["epic_number"], row["adapter"]) == (
        repo,
        "12",
        12,
        "codex",
    )


def test_a_subject_with_an_unknown_label_is_refused_and_leaves_no_row(
    middle_harness: StepHarness,
) -> None:
    workflow = Workflow("odd", [], subject=lambda input: {"repo": "/r", "ticket": "7"})
    with pytest.raises(WorkflowError, match="labels repo, ref, adapter, source"):
        middle_harness.runner.start(workflow, {"repo": "/r"}, "wf-odd")
    assert middle_harness.runner.runs.find() == []


def test_migration_7_moves_an_older_runs_ref_and_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run an older middle left mid-turn keeps its turn record (so the next dispatcher
    adopts its agent instead of launching a second) and its compensation's note."""
    path = tmp_path / "db.sqlite3"
    older = tuple(m for m in migrations.MIGRATIONS if m.version < 7)  # later ones may follow
    monkeypatch.setattr(migrations, "MIGRATIONS", older)
    monkeypatch.setattr(migrations, "LATEST_VERSION", older[-1].version)
    db = Database(path)
    migrate(db)
    meta = {
        "workflow": "implementation",
        "input": {"repo": "/r", "epic_ref": "9", "adapter": "claude"},
        "turns": {"1": {"launched_at": "2026-11-27T10:00:00Z", "nudges": 2}},
        "end_note": "uncommitted work saved to branch middle/rescue/9-1",
        "queued": True,
    }
    db.execute(
        "INSERT INTO workflows (id, kind, repo, epic_ref, adapter, state, created_at, "
        "updated_at, meta_json) VALUES ('wf-old', 'implementation', '/r', '9', 'claude', "
        "'running', 'x', 'x', ?)",
        [json.dumps(meta)],
    )
    db.conn.commit()
    monkeypatch.undo()

    migrated = json.loads(open_db(path)["workflows"].get("wf-old")["meta_json"])
    assert migrated == {
        "workflow": "implementation",
        "input": {"repo": "/r", "ref": "9", "adapter": "claude"},
        "scratch": {
            "turns": {"1": {"launched_at": "2026-11-27T10:00:00Z", "nudges": 2}},
            "end_note": "uncommitted work saved to branch middle/rescue/9-1",
        },
        "queued": True,
    }
