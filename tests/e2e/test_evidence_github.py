"""Evidence at done in GitHub mode (issue 19, item 5): the issue's criteria are judged,
each by the evidence on its line of the PR body; a PR marked ready without passing goes
back to draft, and the agent is nudged with the reason. The fake `gh` of
tests/e2e/test_github.py."""

from __future__ import annotations

from tests.e2e.conftest import Sandbox, git
from tests.e2e.test_github import EPIC, FakeGitHub, github, implement

__all__ = ["github"]  # the fixture, used by name


def commit_gates(sandbox: Sandbox) -> None:
    gate = '[[gate]]\nname = "ok"\ncommand = "true"\n'
    (sandbox.repo / ".middle" / "verify.toml").write_text(gate)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "gates")


def test_a_ready_pr_without_evidence_goes_back_to_draft_once(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """The issue's criterion is named, though the PR body has none. Seen red (before the
    check at done): the ready PR with no acceptance criteria in its body stayed ready
    and the run was ready for review after one turn."""
    commit_gates(sandbox)
    sandbox.script({"do": "done", "pr": "ready"}, {"do": "bare"}, {"do": "bare"}, {"do": "bare"})

    result = implement(sandbox)

    assert result.returncode == 0, result.stderr
    assert "ready for review" not in result.stdout
    pr = github.pr()
    assert pr["isDraft"] is True
    assert github.read()["undone"] == [pr["number"]]  # put back to draft once
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert nudge.startswith("Not done yet: the acceptance criteria need evidence.")
    assert '"Failed deliveries retry with backoff" (no evidence given)' in nudge


def set_criteria(github: FakeGitHub, *criteria: str) -> None:
    """The Epic's acceptance criteria: the ones a done is judged by."""
    state = github.read()
    listed = "".join(f"- [ ] {criterion}\n" for criterion in criteria)
    state["issues"][EPIC]["body"] = f"Deliveries fail now and then.\n\n{listed}"
    github.write(state)


def test_a_pr_body_that_drops_a_criterion_of_the_issue_is_refused_naming_it(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """The issue's criteria are judged, each by the PR-body line that repeats it (case
    and spacing aside). Seen red: the criteria were the PR body's own, so a body that
    left out the unmet one passed and the run was ready for review."""
    commit_gates(sandbox)
    set_criteria(github, "Retries back off", "The docs say how")
    body = "## Acceptance criteria\n- [x] retries   BACK off: `STANDIN_WORK.md`\n"
    sandbox.script({"do": "done", "pr": "ready", "pr_body": body}, *[{"do": "bare"}] * 3)

    result = implement(sandbox)

    assert result.returncode == 0, result.stderr
    assert "ready for review" not in result.stdout
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert '"The docs say how" (no evidence given)' in nudge
    assert "Retries back off" not in nudge  # its line matched, its evidence holds
    assert github.pr()["isDraft"] is True


def test_a_criterions_own_words_are_not_its_evidence(sandbox: Sandbox, github: FakeGitHub) -> None:
    """A criterion that names a file is not evidenced by repeating it. Seen red: the
    whole line was read for evidence, the criterion's `STANDIN_WORK.md` with it."""
    commit_gates(sandbox)
    set_criteria(github, "Log each turn in `STANDIN_WORK.md`")
    body = "## Acceptance criteria\n- [x] Log each turn in `STANDIN_WORK.md`\n"
    sandbox.script({"do": "done", "pr": "ready", "pr_body": body}, *[{"do": "bare"}] * 3)

    implement(sandbox)

    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert '"Log each turn in `STANDIN_WORK.md`" (no evidence given)' in nudge


def comment_url(github: FakeGitHub, index: int) -> str:
    comment = github.read()["comments"][EPIC][index]
    return f"https://github.com/acme/webhooks/issues/{EPIC}#issuecomment-{comment['id']}"


def test_pr_body_evidence_with_a_trusted_deferral_passes_and_a_bots_does_not(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """The reference's PR body shape: a criterion with a path, one deferred by a
    collaborator's comment. Seen red with the bot's comment as the deferral: refused."""
    commit_gates(sandbox)
    set_criteria(github, "Retries back off", "Docs")
    github.comment(EPIC, "carol", "Defer the docs.", association="COLLABORATOR")
    github.comment(EPIC, "ci-bot", "Deferred.", bot=True, association="NONE")
    human, bot = comment_url(github, 0), comment_url(github, 1)
    body = "## Acceptance criteria\n- [x] Retries back off: `STANDIN_WORK.md`\n- [ ] Docs {}\n"
    sandbox.script(
        {"do": "done", "pr": "ready", "pr_body": body.format(f"(deferred: {bot})")},
        *[{"do": "bare"}] * 3,
    )

    refused = implement(sandbox)

    assert refused.returncode == 0, refused.stderr
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert f'"Docs" ((deferred: {bot}): {bot} is not by a trusted' in nudge
    assert github.pr()["isDraft"] is True

    github.update_pr(body=body.format(f"(deferred: {human})"), isDraft=False)
    sandbox.script(*[{"do": "done"}] * 2)
    assert sandbox.middle("cancel", "--issue", EPIC).returncode == 0
    again = sandbox.middle("implement", "--issue", EPIC, "--agent", "command", "--force")
    assert "ready for review" in again.stdout, again.stdout + again.stderr
    assert sandbox.events("evidence.judged")[-1]["ok"] is True
