"""A base that moves under a branch ready for review (issue 21 item 7): when the branch no
longer merges cleanly, `poll` resumes the agent for a rebase round naming the conflicting
files; and middle never rebases over commits it did not see."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.conftest import REF, Sandbox, git
from tests.e2e.test_docs import github_remote
from tests.e2e.test_github import EPIC, FakeGitHub, github  # noqa: F401  (the fixture)

REBASE_LOCAL = {"do": "done", "git": [["rebase", "-q", "-X", "theirs", "main"]]}
PUSH = ["push", "-q", "origin", "HEAD"]
REBASE_REMOTE = {
    "do": "done",
    "git": [
        ["fetch", "-q", "origin"],
        ["rebase", "-q", "-X", "theirs", "origin/main"],
        ["push", "-q", "--force-with-lease", "origin", "HEAD"],
    ],
}


def move_base(repo: Path, *, push: bool = False) -> None:
    """main gains its own STANDIN_WORK.md, which the agent's branch adds too: a conflict."""
    git(repo, "checkout", "-q", "main")
    (repo / "STANDIN_WORK.md").write_text("main's own notes\n")
    git(repo, "add", "STANDIN_WORK.md")
    git(repo, "commit", "-q", "-m", "main moves on")
    if push:
        git(repo, "push", "-q", "origin", "main")


def merges_cleanly(repo: Path, base: str, branch: str) -> bool:
    merged = subprocess.run(
        ["git", "merge-tree", "--write-tree", base, branch], cwd=repo, capture_output=True
    )
    return merged.returncode == 0


def last_decision(sandbox: Sandbox) -> dict[str, object]:
    rows = sandbox.db()["steps"].rows_where(
        "name LIKE '%resume-or-finalize%' AND status = 'completed'", order_by="rowid"
    )
    return dict(json.loads(list(rows)[-1]["output_json"]))


def test_file_mode_a_base_move_resumes_the_agent_to_rebase(sandbox: Sandbox) -> None:
    """Seen red (poll without the rebase signal): `Nothing to resume.`, and the run sat
    ready for review on a branch that no longer merged."""
    sandbox.script({"do": "done"}, REBASE_LOCAL)
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    branch = f"middle/issue-{REF}"
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."  # base not moved

    move_base(sandbox.repo)
    assert not merges_cleanly(sandbox.repo, "main", branch)
    polled = sandbox.middle("poll")

    assert f"issue {REF}: rebase" in polled.stdout, polled.stdout + polled.stderr
    brief = sandbox.agent_log("turn")[1]["brief"]
    assert "# The base branch moved (round 1)" in brief
    assert "- `STANDIN_WORK.md`" in brief and "`git rebase main`" in brief
    assert "--force-with-lease" not in brief  # file mode pushes nothing
    assert last_decision(sandbox)["review_round"] == 1  # counts against the cap
    assert sandbox.workflow()["state"] == "waiting-human"
    assert merges_cleanly(sandbox.repo, "main", branch)  # the agent rebased
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."


def clone_of(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True)
    return where


def test_github_mode_a_pr_that_no_longer_merges_is_rebased(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    """The gh fake computes `mergeable` by a real test merge on the remote, as GitHub
    does. Seen red: `Nothing to resume.` with the PR `dirty`."""
    remote = github_remote(sandbox, github)
    sandbox.script({"do": "done", "git": [PUSH], "pr": "ready"}, REBASE_REMOTE)
    assert sandbox.middle("implement", "--issue", EPIC, "--agent", "command").returncode == 0
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."

    move_base(sandbox.repo, push=True)
    polled = sandbox.middle("poll")

    assert f"issue {EPIC}: rebase" in polled.stdout, polled.stdout + polled.stderr
    brief = sandbox.agent_log("turn")[1]["brief"]
    assert "- `STANDIN_WORK.md`" in brief and "`git rebase origin/main`" in brief
    assert f"git push --force-with-lease origin middle/issue-{EPIC}" in brief
    branch = f"refs/heads/middle/issue-{EPIC}"
    assert merges_cleanly(remote, "refs/heads/main", branch)  # the rebase was pushed
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."
    assert sandbox.workflow()["state"] == "waiting-human"


def test_github_mode_never_rebases_over_commits_middle_did_not_see(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    """Someone pushed to the PR's branch, then the base moved: a rebase would force-push
    their commit away. Seen red: poll resumed the agent to rebase."""
    remote = github_remote(sandbox, github)
    sandbox.script({"do": "done", "git": [PUSH], "pr": "ready"}, REBASE_REMOTE)
    assert sandbox.middle("implement", "--issue", EPIC, "--agent", "command").returncode == 0
    other = clone_of(remote, sandbox.root / "reviewer")
    git(other, "checkout", "-q", f"middle/issue-{EPIC}")
    (other / "FIX.md").write_text("a reviewer's fix\n")
    git(other, "add", "FIX.md")
    git(other, "commit", "-q", "-m", "reviewer's fix")
    git(other, "push", "-q", "origin", f"middle/issue-{EPIC}")
    move_base(sandbox.repo, push=True)

    first, second = sandbox.middle("poll"), sandbox.middle("poll")

    assert first.stdout.strip() == "Nothing to resume.", first.stdout + first.stderr
    assert second.stdout.strip() == "Nothing to resume."
    assert len(sandbox.agent_log("launch")) == 1  # never resumed
    notes = [c for c in github.comments(EPIC) if "commits middle did not make" in c["body"]]
    assert len(notes) == 1 and "reviewer's fix" in notes[0]["body"]
    assert notes[0]["login"] == "middle-bot"
    assert [e["unseen"][0].split(" ", 1)[1] for e in sandbox.events("rebase.refused")] == [
        "reviewer's fix"
    ]
    assert sandbox.workflow()["state"] == "waiting-human"


def test_at_the_review_round_cap_a_base_move_parks_for_a_human(sandbox: Sandbox) -> None:
    """Five review rounds used, then the base moves under the branch: no sixth round (no
    agent launched), the run is held for a human, and what it says names both the cap
    and the base move. Seen red: the hold said only "review round cap (5) reached", not
    that the base had moved or which files conflict."""
    sandbox.script(*[{"do": "done"}] * 7)
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    for round_number in range(1, 6):
        result = sandbox.middle("review", "--issue", REF, "--request-changes", f"r{round_number}")
        assert "ready for review" in result.stdout, result.stderr
    assert last_decision(sandbox)["review_round"] == 5

    move_base(sandbox.repo)
    polled = sandbox.middle("poll")

    assert f"issue {REF}: rebase" in polled.stdout, polled.stdout + polled.stderr
    assert len(sandbox.agent_log("launch")) == 6  # no round past the cap
    assert last_decision(sandbox)["next"] == "hold"
    assert sandbox.workflow()["state"] == "waiting-human"
    (waiting,) = sandbox.events("workflow.waiting")[-1:]
    assert waiting["reason"] == "held"
    said = str(waiting["message"])
    assert "review round cap (5) reached" in said
    assert "base branch moved" in said and "STANDIN_WORK.md" in said
    (capped,) = sandbox.events("review.round-cap")
    assert capped["rounds"] == 5 and capped["kind"] == "rebase"
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."  # asked once
    assert not merges_cleanly(sandbox.repo, "main", f"middle/issue-{REF}")  # left to a human
