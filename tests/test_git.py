"""git as middle uses it, against real repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from middle.errors import BranchMovedError, GitError, RepoError
from middle.system import git


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


def test_a_worktree_of_another_repo_is_never_reused(tmp_path: Path) -> None:
    """Issue 11 item 1. Seen red: any folder with a `.git` was reused, so repo B's agent
    ran in repo A's worktree and committed to A's branch."""
    a, b = make_repo(tmp_path / "a" / "proj"), make_repo(tmp_path / "b" / "proj")
    path = tmp_path / "worktrees" / "issue-7"
    assert git.add_worktree(a, path, "middle/issue-7", "main")
    with pytest.raises(GitError, match=r"is a worktree of .*a/proj, not of .*b/proj"):
        git.add_worktree(b, path, "middle/issue-7", "main")
    assert git.add_worktree(a, path, "middle/issue-7", "main") is False  # its own: reused


def test_a_worktree_on_another_branch_is_never_reused(tmp_path: Path) -> None:
    """Issue 11 item 1. Seen red: the worktree of `fix_1` was reused for `fix.1`."""
    repo = make_repo(tmp_path / "repo")
    path = tmp_path / "worktrees" / "issue-x"
    git.add_worktree(repo, path, "middle/issue-fix_1", "main")
    with pytest.raises(
        GitError, match=r"'middle/issue-fix_1' checked out, not 'middle/issue-fix.1'"
    ):
        git.add_worktree(repo, path, "middle/issue-fix.1", "main")


def test_merge_conflicts_names_the_files_a_test_merge_leaves_conflicted(tmp_path: Path) -> None:
    """Issue 21 item 7's test merge: no checkout or ref moves; a clean merge is []."""
    repo = make_repo(tmp_path / "repo")
    identity = ["-c", "user.name=t", "-c", "user.email=t@e"]

    def commit(branch: str, files: dict[str, str]) -> None:
        subprocess.run(["git", "checkout", "-q", branch], cwd=repo, check=True)
        for name, text in files.items():
            (repo / name).write_text(text)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", *identity, "commit", "-q", "-m", branch], cwd=repo, check=True)

    subprocess.run(["git", "branch", "feature"], cwd=repo, check=True)
    commit("feature", {"a.txt": "feature\n", "b.txt": "feature\n", "new.txt": "x\n"})
    assert git.merge_conflicts(repo, "main", "feature") == []
    commit("main", {"a.txt": "main\n", "b.txt": "main\n"})
    head = git.git("rev-parse", "HEAD", cwd=repo)

    assert git.merge_conflicts(repo, "main", "feature") == ["a.txt", "b.txt"]
    assert git.git("rev-parse", "HEAD", cwd=repo) == head
    assert git.git("status", "--porcelain", cwd=repo) == ""
    assert git.unseen_commits(repo, "main", "feature")[0].endswith(" feature")
    with pytest.raises(GitError, match="git merge-tree failed"):
        git.merge_conflicts(repo, "main", "--no-such-thing")


def test_merge_branch_fast_forwards_merges_and_leaves_no_half_made_merge(tmp_path: Path) -> None:
    """The fan-out's merge (issue 23): conflicts are found first by `merge_conflicts`; a
    merge that fails anyway raises, and the checkout is left as it was."""
    repo = make_repo(tmp_path / "repo")
    identity = ["-c", "user.name=t", "-c", "user.email=t@e"]

    def commit(branch: str, name: str, text: str) -> str:
        subprocess.run(["git", "checkout", "-q", branch], cwd=repo, check=True)
        (repo / name).write_text(text)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", *identity, "commit", "-q", "-m", name], cwd=repo, check=True)
        return git.git("rev-parse", "HEAD", cwd=repo)

    for branch in ("one", "two", "three"):
        subprocess.run(["git", "branch", branch, "main"], cwd=repo, check=True)
    one = commit("one", "one.txt", "1\n")
    commit("two", "two.txt", "2\n")
    commit("three", "one.txt", "3\n")
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)

    git.merge_branch(repo, "one", "merge one")  # a fast-forward
    assert git.git("rev-parse", "HEAD", cwd=repo) == one
    git.merge_branch(repo, "two", "merge two")  # a merge commit
    merged = git.git("rev-parse", "HEAD", cwd=repo)
    assert git.git("log", "-1", "--format=%s %p", cwd=repo).startswith("merge two ")
    assert git.merge_conflicts(repo, "main", "three") == ["one.txt"]
    with pytest.raises(GitError, match=r"Merge conflict in one\.txt"):
        git.merge_branch(repo, "three", "merge three")
    assert git.git("rev-parse", "HEAD", cwd=repo) == merged
    assert git.git("status", "--porcelain", cwd=repo) == ""
    assert not (repo / ".git" / "MERGE_HEAD").exists()


def test_worktrees_made_and_removed_at_once_from_many_threads_all_succeed(
    tmp_path: Path,
) -> None:
    """Issue 23: a fanned-out Epic's children add, check out and remove worktrees of one
    repo at the same moment. Seen red (in the fan-out's e2e test, and here): git failed
    with `failed to read .git/worktrees/gates-fan-2/commondir`, reading a worktree another
    thread was half-way through making."""
    from concurrent.futures import ThreadPoolExecutor

    from middle.verify.checkout import GateCheckout

    repo = make_repo(tmp_path / "repo")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    def churn(n: int) -> None:
        for round in range(6):
            checkout = GateCheckout(repo, tmp_path / "checkouts" / f"gates-{n}")
            checkout.at(head)
            git.add_worktree(repo, tmp_path / "w" / f"{n}-{round}", f"b-{n}-{round}", "main")
            checkout.remove()
            git.remove_worktree(repo, tmp_path / "w" / f"{n}-{round}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(churn, range(8)))  # re-raises the first GitError
    listed = git.git("worktree", "list", "--porcelain", cwd=repo)
    assert listed.count("worktree ") == 1  # only the main checkout is left


def run(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit_on(repo: Path, branch: str, name: str) -> str:
    run(repo, "checkout", "-q", branch)
    (repo / name).write_text(f"{name}\n")
    run(repo, "add", name)
    run(repo, "commit", "-q", "-m", f"add {name}")
    return run(repo, "rev-parse", "HEAD")


def test_push_branch_never_overwrites_a_commit_middle_did_not_see(tmp_path: Path) -> None:
    """A real bare remote: middle pushes the agent's branch, someone else pushes a commit
    to it, then middle pushes again (its rebased or newer work). Seen red with the plain
    `--force`: the second push went through and the other commit was gone from the
    remote."""
    remote = tmp_path / "remote.git"
    run(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = make_repo(tmp_path / "repo")
    run(repo, "remote", "add", "origin", str(remote))
    run(repo, "push", "-q", "origin", "main")
    branch = "middle/issue-7"
    run(repo, "branch", branch, "main")
    commit_on(repo, branch, "agent.md")
    git.push_branch(repo, branch)  # new on the remote: nothing there to lose
    other = tmp_path / "other"
    run(tmp_path, "clone", "-q", str(remote), str(other))
    theirs = commit_on(other, branch, "reviewer.md")
    run(other, "push", "-q", "origin", branch)
    ours = commit_on(repo, branch, "agent-more.md")

    with pytest.raises(BranchMovedError) as refused:
        git.push_branch(repo, branch)

    message = str(refused.value)
    assert "\n" not in message and branch in message and "git fetch origin" in message
    assert run(remote, "rev-parse", f"refs/heads/{branch}") == theirs  # kept
    run(repo, "fetch", "-q", "origin", branch)  # the human brings it in, then it goes
    run(repo, "checkout", "-q", branch)
    run(repo, "merge", "-q", "--no-edit", f"origin/{branch}")
    git.push_branch(repo, branch)
    pushed = run(remote, "rev-parse", f"refs/heads/{branch}")
    assert run(remote, "merge-base", "--is-ancestor", theirs, pushed) == ""
    assert run(remote, "merge-base", "--is-ancestor", ours, pushed) == ""


def test_push_branch_may_rewrite_what_it_pushed_itself(tmp_path: Path) -> None:
    """A rebase round rewrites the branch middle pushed: that push still goes through."""
    remote = tmp_path / "remote.git"
    run(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = make_repo(tmp_path / "repo")
    run(repo, "remote", "add", "origin", str(remote))
    branch = "middle/issue-7"
    run(repo, "branch", branch, "main")
    commit_on(repo, branch, "agent.md")
    git.push_branch(repo, branch)
    run(repo, "commit", "-q", "--amend", "-m", "rewritten")  # not a fast-forward
    git.push_branch(repo, branch)
    assert run(remote, "rev-parse", f"refs/heads/{branch}") == run(repo, "rev-parse", "HEAD")


def test_repo_root_finds_what_git_finds_without_starting_it(tmp_path: Path) -> None:
    """`repo_root` looks up for `.git` as git does: from a subfolder, in a linked worktree
    (a `gitdir:` file) and through a symlink, it names the folder `git rev-parse
    --show-toplevel` names. Not a repository: git's own words, in a `RepoError`."""
    repo = make_repo(tmp_path / "repo")
    (repo / "a" / "b").mkdir(parents=True)
    worktree = tmp_path / "wt"
    git.add_worktree(repo, worktree, "topic", "main")
    (worktree / "deep").mkdir()
    (tmp_path / "link").symlink_to(repo / "a")

    def by_git(path: Path) -> Path:
        return Path(git.git("rev-parse", "--show-toplevel", cwd=path))

    for path in (repo, repo / "a" / "b", worktree / "deep", tmp_path / "link"):
        assert git.repo_root(path) == by_git(path)
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(RepoError, match="not a git repository"):
        git.repo_root(outside)


def test_repo_root_leaves_a_steered_discovery_to_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With GIT_DIR set, git finds the repository the variable names, not the one above
    the folder: so does `repo_root`. Seen red: the `.git` walk answered the folder's."""
    here, there = make_repo(tmp_path / "here"), make_repo(tmp_path / "there")
    monkeypatch.setenv("GIT_DIR", str(there / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(there))
    assert git.repo_root(here) == there


def test_a_failure_names_the_subcommand_past_its_options(tmp_path: Path) -> None:
    """Seen red before: every runner named `args[0]`, so this read "git -c failed"."""
    with pytest.raises(GitError, match=r"^git rev-parse failed: .*not a git repository"):
        git.git("-c", "core.quotePath=false", "-C", str(tmp_path), "rev-parse", cwd=tmp_path)


def test_output_that_is_not_utf8_is_read_with_replacement(tmp_path: Path) -> None:
    """A file in Latin-1 is read as text with replacement, and as bytes whole. Seen red
    before: `git()` decoded strictly and raised UnicodeDecodeError."""
    git.git("init", "-q", cwd=tmp_path)
    blob = git.git("hash-object", "-w", "--stdin", cwd=tmp_path, input="café".encode("latin-1"))
    assert git.git("cat-file", "blob", blob, cwd=tmp_path) == "caf\ufffd"
    assert git.git_bytes("cat-file", "blob", blob, cwd=tmp_path) == b"caf\xe9"


def test_a_git_that_hangs_is_a_git_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetch or push stuck on the network past the timeout. Seen red: the raw
    `subprocess.TimeoutExpired` reached the user as a traceback, and a CI job that was
    claiming slots (which handles `GitError`) left them held."""

    def hangs(argv: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(argv, 120)

    monkeypatch.setattr(git.subprocess, "run", hangs)
    with pytest.raises(GitError, match=r"^git fetch did not finish in 120s$"):
        git.git("-c", "protocol.version=2", "fetch", "origin", cwd=tmp_path)
