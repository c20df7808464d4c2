"""Names derived from (repo, ref): they must never collide for distinct pairs (issue 11
item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.errors import InvalidRefError
from middle.refs import branch_name, issue_of_branch, repo_slug, session_name, validate_run_ref
from middle.steps.dispatch import worktree_path


def test_two_repos_with_the_same_folder_name_get_distinct_worktrees_and_sessions(
    tmp_path: Path,
) -> None:
    """Seen red: both `proj` checkouts mapped to worktrees/proj/issue-7 and middle-proj-7,
    so repo B's agent ran in repo A's worktree."""
    a, b = tmp_path / "a" / "proj", tmp_path / "b" / "proj"
    home = tmp_path / "home"
    assert worktree_path(home, a, "7") != worktree_path(home, b, "7")
    assert session_name(a, "7") != session_name(b, "7")
    assert repo_slug(a).startswith("proj-")  # still readable


@pytest.mark.parametrize(("one", "other"), [("fix.1", "fix_1"), ("a.b", "a_b")])
def test_refs_that_differ_only_by_dot_and_underscore_get_distinct_sessions(
    tmp_path: Path, one: str, other: str
) -> None:
    """Seen red: `fix.1` and `fix_1` both became session middle-repo-fix_1, so launching
    one killed the other's agent."""
    repo = tmp_path / "repo"
    assert session_name(repo, one) != session_name(repo, other)
    assert "." not in session_name(repo, one) and ":" not in session_name(repo, one)


def test_names_are_stable_for_the_same_repo_and_ref(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert session_name(repo, "7") == session_name(tmp_path / "x" / ".." / "repo", "7")


@pytest.mark.parametrize(
    ("branch", "issue"),
    [("middle/issue-108", "108"), ("middle/issue-retry", None), ("main", None),
     ("middle/issue-108x", None), ("xmiddle/issue-1", None)],
)  # fmt: skip
def test_a_branch_names_its_github_issue_only_in_middles_own_form(
    branch: str, issue: str | None
) -> None:
    """`issue_of_branch` is `branch_name`'s inverse for GitHub numbers: one rule, read by
    the CI trigger (a review's head) and by the store that pushes the branch."""
    assert issue_of_branch(branch) == issue
    if issue is not None:
        assert branch_name(issue) == branch


@pytest.mark.parametrize(
    "ref", ["108", "retry-webhooks", "108/2", "108/acme/lib#7", "fan/acme-co/lib.js#12"]
)
def test_a_run_ref_names_an_issue_or_a_fanned_out_child(ref: str) -> None:
    """A child of an Epic across repos is `<ref>/owner/name#n`, as status shows it. Seen
    red: `answer --issue 108/acme/lib#7` was refused as not an issue ref."""
    assert validate_run_ref(ref) == ref


@pytest.mark.parametrize(
    "ref", ["108/../x", "108/acme/..#7", "108/acme/lib#x", "108/-acme/lib#7", "108/a/b/c#7", "../1"]
)
def test_a_run_ref_refuses_paths_and_options(ref: str) -> None:
    with pytest.raises(InvalidRefError):
        validate_run_ref(ref)
