"""Verification gates through `middle implement`: the stand-in agent, real git and tmux,
the real CLI. Gates judge the branch's committed head, read from the base branch's
commit, and what they found is shown to the person watching and in `status`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import REF, Sandbox, git

BRANCH = f"middle/issue-{REF}"
CHANGELOG_GATE = """\
[[gate]]
name = "changelog"
command = "test -f CHANGELOG.md || { echo 'CHANGELOG.md is missing'; exit 1; }"
"""


NO_SECRETS_GATE = """\
[[gate]]
name = "no-secrets"
command = "env | grep -E '^(GH_TOKEN|AWS_SECRET_ACCESS_KEY|MIDDLE_[A-Z_]*)=' && exit 1 || true"
"""


def commit_gates(repo: Path, text: str) -> None:
    """Commit the gates, with evidence off: these tests are about the gates alone (a repo
    with a verify.toml requires evidence by default: tests/e2e/test_evidence.py)."""
    (repo / ".middle" / "verify.toml").write_text(text)
    (repo / ".middle" / "policy.toml").write_text('[verify]\nevidence = "off"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gates")


def test_failing_gates_go_back_to_the_agent_until_they_pass(sandbox: Sandbox) -> None:
    commit_gates(sandbox.repo, CHANGELOG_GATE)
    sandbox.script({"do": "done"}, {"do": "done", "commit": ["CHANGELOG.md"]})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    second = sandbox.agent_log("turn")[1]
    assert second["prompt"].startswith("Verification failed on commit ")
    assert "changelog [unit] failed: CHANGELOG.md is missing" in second["prompt"]
    assert len(sandbox.events("gates.failed")) == 1


def test_an_untracked_file_in_the_agents_worktree_never_makes_a_gate_pass(
    sandbox: Sandbox,
) -> None:
    """Seen red (the gates run in the agent's worktree): the CHANGELOG.md the agent
    created but did not commit passed the gate on the first done. Each run records the
    commit it judged: the branch's head at that done."""
    commit_gates(sandbox.repo, CHANGELOG_GATE)
    sandbox.script(
        {"do": "done", "touch": ["CHANGELOG.md"]}, {"do": "done", "commit": ["CHANGELOG.md"]}
    )

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    runs = sandbox.events("gates.ran")
    assert [[r["result"] for r in run["results"]] for run in runs] == [["failed"], ["passed"]]
    commits = git(sandbox.repo, "log", "--format=%H", "-2", BRANCH).split()
    assert [run["head"] for run in runs] == commits[::-1]
    assert all(r["head"] == run["head"] for run in runs for r in run["results"])
    assert (sandbox.worktree() / "CHANGELOG.md").exists()  # it was there all along
    # middle keeps its checkout for the repo's next gate run: the last head, nothing else
    (kept,) = (sandbox.home / "worktrees").glob("*/gates-0")
    assert git(kept, "rev-parse", "HEAD") == commits[0]
    assert git(kept, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""


def test_an_uncommitted_edit_of_the_gates_in_the_main_checkout_changes_nothing(
    sandbox: Sandbox,
) -> None:
    """Seen red (the gates read from the main checkout's working file): the edit to
    `true` passed the run that the committed `false` gate must stop."""
    commit_gates(sandbox.repo, '[[gate]]\nname = "never"\ncommand = "false"\n')
    (sandbox.repo / ".middle" / "verify.toml").write_text(
        '[[gate]]\nname = "never"\ncommand = "true"\n'
    )
    sandbox.script(*[{"do": "done"}] * 5)

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "verification gates still fail" in result.stdout


def test_gates_that_keep_failing_park_for_a_human_and_say_which(sandbox: Sandbox) -> None:
    """Seen red: each nudge printed nothing about the gates (only "hook Stop"), the park
    named the gate but not what it said, and `status` did not mention the gates."""
    commit_gates(
        sandbox.repo,
        '[[gate]]\nname = "never"\ncommand = "echo 2 tests failed; exit 1"\n'
        'category = "integration"\n',
    )
    sandbox.script(*[{"do": "done"}] * 5)

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    head = git(sandbox.repo, "rev-parse", BRANCH)
    assert result.stdout.count("gate never [integration] failed: 2 tests failed") == 4
    assert "sending the failing gates back to the agent (3/3)" in result.stdout
    assert (
        f"verification gates still fail on commit {head[:12]}, after 3 reports to the "
        f"agent:\n  never [integration] failed: 2 tests failed"
    ) in result.stdout
    assert len(sandbox.events("gates.failed")) == 3
    status = sandbox.middle("status").stdout
    assert "gates failed: never" in status


def test_a_gate_runs_with_what_the_agent_may_see_not_middles_secrets(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate runs the agent's committed code, so it gets the agent's allow-listed
    environment, not middle's: no token, no cloud key, no `MIDDLE_*`. Seen red: the gate
    ran with middle's whole environment and found GH_TOKEN."""
    monkeypatch.setenv("GH_TOKEN", "ghs_secret_of_middle")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_secret_of_middle")
    commit_gates(sandbox.repo, NO_SECRETS_GATE)
    sandbox.script({"do": "done", "commit": ["CHANGELOG.md"]})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    (ran,) = sandbox.events("gates.ran")
    assert [r["result"] for r in ran["results"]] == ["passed"], ran["results"][0]["tail"]
