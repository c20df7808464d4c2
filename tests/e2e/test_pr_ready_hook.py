"""Claude Code's blocking `gh pr ready` hook (issue 19, item 5): the script middle writes
into the worktree, run as Claude runs it (the command in `.claude/settings.local.json`,
the `PreToolUse` payload on stdin), against a real repo and worktree and the fake `gh`.
The PR body gives evidence for the issue's own criterion: that is what is judged."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from middle.agents.claude import ClaudeAdapter
from middle.app.pr_ready_hook import runs_pr_ready
from tests.e2e.conftest import Sandbox, git
from tests.e2e.test_evidence_github import commit_gates
from tests.e2e.test_github import EPIC, FakeGitHub, github

__all__ = ["github"]  # the fixture, used by name

BRANCH = f"middle/issue-{EPIC}"


def prepared(sandbox: Sandbox) -> tuple[Path, str]:
    """The agent's worktree on its branch, prepared as a Claude turn prepares it; the
    `gh pr ready` hook's command as Claude would run it."""
    worktree = sandbox.root / "wt"
    git(sandbox.repo, "worktree", "add", "-q", "-b", BRANCH, str(worktree), "main")
    (worktree / "work.py").write_text("print('retry')\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "work")
    ClaudeAdapter({}).prepare(worktree)
    settings = json.loads((worktree / ".claude" / "settings.local.json").read_text())
    (bash,) = [h for h in settings["hooks"]["PreToolUse"] if h.get("matcher") == "Bash"]
    return worktree, bash["hooks"][0]["command"]


def run_hook(worktree: Path, command: str, tool_command: str) -> subprocess.CompletedProcess[str]:
    payload = {
        "session_id": "s1",
        "hook_event_name": "PreToolUse",
        "cwd": str(worktree),
        "tool_name": "Bash",
        "tool_input": {"command": tool_command},
    }
    env = {**os.environ, "MIDDLE_EPIC": EPIC}
    return subprocess.run(
        command, shell=True, cwd=worktree, input=json.dumps(payload), capture_output=True,
        text=True, env=env,
    )  # fmt: skip


def open_pr(github: FakeGitHub, body: str) -> None:
    state = github.read()
    state["prs"].append(
        {"number": 200, "head": BRANCH, "title": "Retry", "body": body, "author": "middle-bot",
         "isDraft": True, "state": "OPEN", "reviewDecision": "", "headRefOid": "0" * 40,
         "reviews": []}
    )  # fmt: skip
    github.write(state)


def test_gh_pr_ready_without_evidence_is_blocked_with_the_reason(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """Seen red before the hook existed: settings.local.json had no Bash matcher (the
    unpack above failed), so nothing stood between the model and `gh pr ready`."""
    commit_gates(sandbox)
    worktree, command = prepared(sandbox)
    open_pr(github, "## Acceptance criteria\n- [x] Failed deliveries retry with backoff\n")

    blocked = run_hook(worktree, command, "git push && gh pr ready 200")

    assert blocked.returncode == 2, blocked.stderr
    assert blocked.stderr.startswith("Not done yet: the acceptance criteria need evidence.")
    assert '"Failed deliveries retry with backoff" (no evidence given)' in blocked.stderr
    assert github.pr()["isDraft"] is True


def test_other_commands_and_undo_pass_and_evidence_lets_gh_pr_ready_through(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """Seen red with the `--undo` exception taken out of `runs_pr_ready`: the undo was
    blocked too."""
    commit_gates(sandbox)
    worktree, command = prepared(sandbox)
    open_pr(github, "## Acceptance criteria\n- [x] Failed deliveries retry with backoff\n")
    for other in ("ls -la", "gh pr view 200", "gh pr ready 200 --undo", "echo gh pr ready"):
        passed = run_hook(worktree, command, other)
        assert (passed.returncode, passed.stderr) == (0, ""), other

    github.update_pr(
        body="## Acceptance criteria\n- [x] Failed deliveries retry with backoff: `work.py`\n"
    )
    ready = run_hook(worktree, command, "gh pr ready 200")

    assert (ready.returncode, ready.stderr) == (0, "")


def test_with_evidence_off_nothing_is_blocked(sandbox: Sandbox, github: FakeGitHub) -> None:
    """No `.middle/verify.toml` and no `[verify] evidence`: evidence is off, as today."""
    worktree, command = prepared(sandbox)
    open_pr(github, "## Acceptance criteria\n- [x] Failed deliveries retry with backoff\n")

    assert run_hook(worktree, command, "gh pr ready 200").returncode == 0


def test_an_error_of_the_check_blocks_gh_pr_ready_only(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """The fake GitHub's state gone: the check cannot read the PR. `gh pr ready` is
    refused, saying why; any other command still runs."""
    commit_gates(sandbox)
    worktree, command = prepared(sandbox)
    github.path.unlink()

    blocked = run_hook(worktree, command, "gh pr ready 200")
    other = run_hook(worktree, command, "pytest -q")

    assert blocked.returncode == 2
    assert "middle could not check the acceptance criteria's evidence" in blocked.stderr
    assert (other.returncode, other.stderr) == (0, "")


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        ("gh pr ready", True),
        ("gh pr ready 12", True),
        ("cd x && gh pr ready 12 --repo a/b", True),
        ("/usr/bin/gh pr ready 3; echo ok", True),
        ("gh pr ready 3 --undo", False),
        ("gh pr ready --undo 3 && gh pr ready 4", True),
        ("gh pr view 3", False),
        ("git commit -m 'gh pr ready later'", False),
        ("ghx pr ready", False),
    ],
)
def test_what_counts_as_gh_pr_ready(command: str, runs: bool) -> None:
    assert runs_pr_ready(command) is runs
