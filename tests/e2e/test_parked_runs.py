"""Issue 21 item 10: what a parked run shows, and what cancelling one leaves behind."""

from __future__ import annotations

from middle.issues.file_store import FileIssueStore
from tests.e2e.conftest import REF, Sandbox


def test_status_shows_the_question_or_ready_for_review_of_a_waiting_run(sandbox: Sandbox) -> None:
    """Seen red: the note was `step park-for-resume, last event workflow.waiting` for both:
    the question text and "ready for review" appeared nowhere in `middle status`."""
    sandbox.script({"do": "ask", "question": "  Which queue, SQS or Redis?\nSome context."})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    table = sandbox.middle("status").stdout
    assert "Which queue, SQS or Redis?" in table and "Some context" not in table
    assert sandbox.middle("cancel", "--issue", REF).returncode == 0

    sandbox.script({"do": "done"})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    (row,) = [s for s in _json_status(sandbox) if s["state"] == "waiting-human"]
    assert row["waiting_for"] == "ready for review"
    assert "ready for review" in sandbox.middle("status").stdout


def test_cancel_resolves_the_question_the_run_left_open(sandbox: Sandbox) -> None:
    """Seen red: after `middle cancel`, the Epic file still held the question with
    `status=open`, so the issue kept asking for an answer nobody would read."""
    sandbox.script({"do": "ask", "question": "Which queue?"})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    store = FileIssueStore(sandbox.repo, {"epic_store": {"epics_dir": "planning/epics"}})
    assert store.open_question(REF) is not None

    assert sandbox.middle("cancel", "--issue", REF).returncode == 0

    assert store.open_question(REF) is None
    text = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "status=resolved" in text and "status=open" not in text
    assert "the run was cancelled" in text


def _json_status(sandbox: Sandbox) -> list[dict[str, object]]:
    import json

    return list(json.loads(sandbox.middle("status", "--json").stdout))


def test_recommend_does_not_rank_an_epic_whose_run_just_completed(sandbox: Sandbox) -> None:
    """Its branch was approved, but the Epic stays open until a person merges and closes
    it. Seen red: the plan ranked it `| 1 | #retry-webhooks ...` in Ready to dispatch, so
    auto-dispatch would start the same work again."""
    from middle.state_issue import parse

    sandbox.script({"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    assert sandbox.middle("review", "--issue", REF, "--approve").returncode == 0
    assert sandbox.workflow()["state"] == "completed"

    result = sandbox.middle("recommend", "--agent", "command")

    assert result.returncode == 0, result.stderr
    plan = parse((sandbox.repo / ".middle" / "state.md").read_text())
    assert [row.ref for row in plan.ready] == []
    (waiting,) = plan.needs_human
    assert (waiting.ref, waiting.label) == (REF, "ready for review")
    assert "completed" in waiting.summary
