"""The plan-comment guard (issue 19, item 6), `[verify] require_plan = true`: a done
counts only once the agent's plan is on the issue. The agent writes `.middle/plan.json`
in both modes; middle copies it into the Epic file (a `plan` dispatch-event) or posts it
as a marked comment by its own account, once. The stand-in agent, real git and tmux."""

from __future__ import annotations

import json

from middle.verify.plan import PLAN_MARKER
from tests.e2e.conftest import REF, Sandbox, git
from tests.e2e.test_github import EPIC, FakeGitHub, github, implement

__all__ = ["github"]  # the fixture, used by name

PLAN = {".middle/plan.json": json.dumps({"plan": "Add a retry queue, then back off."})}


def require_plan(sandbox: Sandbox) -> None:
    policy = sandbox.repo / ".middle" / "policy.toml"
    policy.write_text(policy.read_text() + "\n[verify]\nrequire_plan = true\n")
    git(sandbox.repo, "commit", "-qam", "require a plan")


def test_file_mode_a_done_without_a_plan_is_nudged_then_the_plan_is_copied(
    sandbox: Sandbox,
) -> None:
    """Seen red (before the guard): the first done, with no plan, was accepted after one
    turn and the Epic file held no plan."""
    require_plan(sandbox)
    sandbox.script({"do": "done"}, {"do": "done", "write": PLAN})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert "## Plan\n\nBefore you finish, write your plan" in sandbox.agent_log("turn")[0]["brief"]
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert nudge.startswith("Not done yet: your plan is not on the issue.")
    assert "sending the missing plan back to the agent (1/3)" in result.stdout
    sandbox.script({"do": "done", "write": PLAN})  # a later done with the plan again
    assert sandbox.middle("cancel", "--issue", REF).returncode == 0
    again = sandbox.middle("implement", "--issue", REF, "--agent", "command", "--force")
    assert "ready for review" in again.stdout, again.stdout + again.stderr
    text = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert text.count("kind=plan -->") == 1  # copied once
    assert "Add a retry queue, then back off." in text


def test_file_mode_without_require_plan_a_done_needs_no_plan(sandbox: Sandbox) -> None:
    sandbox.script({"do": "done"})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert "ready for review" in result.stdout, result.stdout + result.stderr
    assert sandbox.events("plan.missing") == []


def test_github_mode_the_plan_is_posted_once_as_a_marked_comment(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """Seen red (before the guard): the ready PR was accepted with no plan on the issue.
    The plan, once written, is posted by middle's account with the marker, and a second
    run's done posts no second one. The PR stays ready while only the plan is missing."""
    require_plan(sandbox)
    sandbox.script({"do": "done", "pr": "ready"}, {"do": "done", "write": PLAN})

    result = implement(sandbox)

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout, result.stdout
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert nudge.startswith("Not done yet: your plan is not on the issue.")
    assert "undone" not in github.read()
    sandbox.script({"do": "done", "write": PLAN})
    assert sandbox.middle("cancel", "--issue", EPIC).returncode == 0
    again = sandbox.middle("implement", "--issue", EPIC, "--agent", "command", "--force")
    assert "ready for review" in again.stdout, again.stdout + again.stderr
    plans = [c for c in github.comments(EPIC) if PLAN_MARKER in c["body"]]
    assert [c["login"] for c in plans] == ["middle-bot"]
    assert "Add a retry queue, then back off." in plans[0]["body"]


def test_github_mode_a_plan_the_agent_posted_itself_counts_and_a_strangers_does_not(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """The agent held a token and posted the marked comment with `gh` (as middle's own
    account): no plan.json is needed. Seen red with the author check taken out of
    `plan_recorded`: a stranger's marked comment passed the guard."""
    require_plan(sandbox)
    github.comment(EPIC, "mallory", f"{PLAN_MARKER}\nnot the agent's", association="NONE")
    sandbox.script({"do": "done", "pr": "ready"}, *[{"do": "done"}] * 3)

    refused = implement(sandbox)

    assert "ready for review" not in refused.stdout, refused.stdout
    assert len(sandbox.events("plan.missing")) == 4
    github.update_pr(isDraft=False)
    github.comment(EPIC, "middle-bot", f"{PLAN_MARKER}\nThe plan.")
    sandbox.script({"do": "done"})
    assert sandbox.middle("cancel", "--issue", EPIC).returncode == 0
    again = sandbox.middle("implement", "--issue", EPIC, "--agent", "command", "--force")
    assert "ready for review" in again.stdout, again.stdout + again.stderr


def test_file_mode_out_of_nudges_without_a_plan_parks_and_records_none(
    sandbox: Sandbox,
) -> None:
    """Seen red (before the guard): the done was accepted. Three nudges, then the run
    parks; the Epic file holds no plan."""
    require_plan(sandbox)
    sandbox.script(*[{"do": "done"}] * 4)

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert "ready for review" not in result.stdout, result.stdout
    assert len(sandbox.events("plan.missing")) == 4
    text = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "kind=plan -->" not in text
