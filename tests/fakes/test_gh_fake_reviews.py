"""The gh fake's pull request reviews are as strict as GitHub's (issue 26): a review needs
an event and, to request changes, a body; nobody requests changes on or approves their own
pull request; a line comment must be on a line of the PR's diff; and a review's comments
come back in GitHub's shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import git

FAKE = REPO_ROOT / "tests" / "fakes" / "gh_fake.py"
REPO = "acme/webhooks"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("".join(f"{n}\n" for n in range(1, 21)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "work")
    (repo / "a.py").write_text("".join(f"{n}\n" for n in range(1, 21)).replace("10\n", "ten\n"))
    git(repo, "commit", "-q", "-am", "work")
    head = git(repo, "rev-parse", "HEAD")
    pr = {"number": 200, "head": "work", "author": "middle-bot", "state": "OPEN",
          "isDraft": False, "reviewDecision": "", "headRefOid": head, "reviews": []}  # fmt: skip
    path = tmp_path / "github.json"
    path.write_text(json.dumps({
        "login": "carol", "repo": REPO, "issues": {}, "prs": [pr],
        "permissions": {"carol": "write"}, "git_remote": str(repo / ".git"),
    }))  # fmt: skip
    return path


def gh(state: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAKE_GH_STATE": str(state)}
    return subprocess.run([sys.executable, str(FAKE), *args], input=stdin, text=True,
                          capture_output=True, env=env)  # fmt: skip


def post(state: Path, review: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = f"repos/{REPO}/pulls/200/reviews"
    return gh(state, "api", "--method", "POST", path, "--input", "-", stdin=json.dumps(review))


def test_a_review_with_line_comments_is_kept_and_read_back_in_githubs_shape(state: Path) -> None:
    comment = {"path": "a.py", "line": 10, "side": "RIGHT", "body": "Spell it as a number."}
    posted = post(state, {"event": "REQUEST_CHANGES", "body": "One thing.", "comments": [comment]})
    assert posted.returncode == 0, posted.stderr
    review = json.loads(posted.stdout)
    assert (review["id"], review["state"], review["user"]["login"]) == (
        1,
        "CHANGES_REQUESTED",
        "carol",
    )
    listed = json.loads(gh(state, "api", f"repos/{REPO}/pulls/200/reviews").stdout)
    assert [r["state"] for r in listed] == ["CHANGES_REQUESTED"]
    (read,) = json.loads(gh(state, "api", f"repos/{REPO}/pulls/200/reviews/1/comments").stdout)
    assert (read["path"], read["line"], read["pull_request_review_id"]) == ("a.py", 10, 1)
    assert read["diff_hunk"].startswith("@@ ") and read["diff_hunk"].endswith("+ten")


@pytest.mark.parametrize(
    ("login", "review", "said"),
    [
        ("carol", {"event": "REQUEST_CHANGES", "body": ""}, "Review body is required"),
        ("middle-bot", {"event": "REQUEST_CHANGES", "body": "x"}, "your own pull request"),
        ("middle-bot", {"event": "APPROVE"}, "Can not approve your own pull request"),
        ("carol", {"event": "COMMENT", "body": "x", "commit_id": "f" * 40}, "No commit found"),
        ("carol", {"event": "COMMENT", "body": "x",
                   "comments": [{"path": "a.py", "line": 1, "body": "far"}]},
         "line must be part of the diff"),
        ("carol", {"event": "COMMENT", "body": "x",
                   "comments": [{"path": "a.py", "position": 3, "body": "old"}]},
         "Invalid comment"),
    ],
)  # fmt: skip
def test_a_review_github_would_refuse_is_refused(
    state: Path, login: str, review: dict[str, Any], said: str
) -> None:
    data = json.loads(state.read_text())
    data["login"] = login
    state.write_text(json.dumps(data))
    refused = post(state, review)
    assert refused.returncode == 1
    assert said in refused.stderr
    assert json.loads(state.read_text())["prs"][0]["reviews"] == []
