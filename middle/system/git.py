"""git, as middle uses it: one worktree and branch per issue. Every call is an argument
list (never a shell string), and a failure raises `GitError` carrying git's own message."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from middle.errors import BranchMovedError, GitError, RepoError
from middle.system.worktree import IGNORED

# `info/exclude` patterns: anchored at the worktree's root.
IGNORED_IN_WORKTREES = tuple(f"/{pattern}" for pattern in IGNORED)
GIT_TIMEOUT = 120  # seconds: a git that takes longer (a stuck network) is a failure


def git(
    *args: str, cwd: Path, input: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    """`git_bytes`, its stdout as text and stripped."""
    return git_bytes(*args, cwd=cwd, input=input, env=env).decode("utf-8", "replace").strip()


def git_bytes(
    *args: str, cwd: Path, input: bytes | None = None, env: dict[str, str] | None = None
) -> bytes:
    """Run git and return its stdout as it is (blobs may be any bytes). `env` is laid over
    this process's environment. A failure raises `GitError` naming git's subcommand, with
    git's own message."""
    result = _run(args, cwd=cwd, input=input, env=env)
    if result.returncode != 0:
        raise _failure(args, result)
    return result.stdout


def _run(
    args: tuple[str, ...], *, cwd: Path, input: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    """git itself, whatever it exits with; `GitError` when it cannot run or hangs."""
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, timeout=GIT_TIMEOUT,
            env={**os.environ, **env} if env else None,
        )  # fmt: skip
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {_subcommand(args)} did not finish in {GIT_TIMEOUT}s") from None


def _failure(args: tuple[str, ...], result: subprocess.CompletedProcess[bytes]) -> GitError:
    said = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    return GitError(f"git {_subcommand(args)} failed: {said or f'exit code {result.returncode}'}")


def _subcommand(args: tuple[str, ...]) -> str:
    """The subcommand in git's arguments, past any `-c key=value` and `-C path` before it,
    so an error says "git diff failed", not "git -c failed"."""
    rest = list(args)
    while rest and rest[0] in ("-c", "-C"):
        rest = rest[2:]
    return rest[0] if rest else "git"


# Variables that steer how git finds a repository: with any of them set, git decides.
DISCOVERY_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES")


def repo_root(path: Path) -> Path:
    """The top of the git checkout containing `path`; `RepoError` if there is none.

    Found as git finds it, without starting git (a process costs `status` a tenth of its
    start-up): the nearest folder up from `path` whose `.git` is a repository's folder or
    a worktree's `gitdir:` file. git itself decides, and words the error, when nothing is
    found that way or when its discovery is steered by the environment."""
    if not any(os.environ.get(name) for name in DISCOVERY_VARIABLES):
        start = path.resolve()
        for folder in (start, *start.parents):
            dot_git = folder / ".git"
            if (dot_git / "HEAD").is_file() or _is_gitdir_file(dot_git):
                return folder
    try:
        return Path(git("rev-parse", "--show-toplevel", cwd=path))
    except GitError as exc:
        raise RepoError(f"{path} is not a git repository ({exc})") from None


def _is_gitdir_file(dot_git: Path) -> bool:
    """A linked worktree's (or a submodule's) `.git`: a file that names its git folder."""
    try:
        with dot_git.open("rb") as file:
            return file.read(8) == b"gitdir: "
    except OSError:  # no such file, or a folder
        return False


def current_branch(repo: Path) -> str:
    branch = git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo)
    if branch == "HEAD":
        raise RepoError(f"{repo} has a detached HEAD; check out the base branch first")
    return branch


def branch_exists(repo: Path, branch: str) -> bool:
    try:
        git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repo)
    except GitError:
        return False
    return True


def seen_ref(branch: str) -> str:
    """The local ref holding the head of `branch` on the remote as middle last saw it (it
    fetched or pushed that commit). Only middle writes it, so no one's `git fetch` moves
    it past commits middle never saw."""
    return f"refs/middle/seen/{branch}"


def mark_seen(repo: Path, branch: str, sha: str) -> None:
    """Record `sha` as the head of `branch` on the remote that middle has seen."""
    git("update-ref", seen_ref(branch), sha, cwd=repo)


def forget_seen(repo: Path, branch: str) -> None:
    git("update-ref", "-d", seen_ref(branch), cwd=repo)


def _resolve(repo: Path, ref: str) -> str | None:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo)
    except GitError:
        return None


def push_branch(repo: Path, branch: str, remote: str = "origin") -> None:
    """Push `branch` to `remote` as it is here, rewriting it only over the head middle last
    saw there: `--force-with-lease=<branch>:<sha>`, where <sha> is `seen_ref`, or the
    remote-tracking ref when the branch holds it (fetched and merged: nothing of it is
    lost) or middle saw nothing; with neither, the branch must not exist there yet. So a
    rebase round may rewrite what middle pushed, but a commit someone else pushed in
    between is never overwritten: `BranchMovedError`, and nothing is pushed."""
    target = f"refs/heads/{branch}"
    tracking = _resolve(repo, f"refs/remotes/{remote}/{branch}")
    seen = _resolve(repo, seen_ref(branch))
    if tracking and (seen is None or is_ancestor(repo, tracking, target)):
        seen = tracking  # fetched and brought into the branch: overwriting it loses nothing
    lease = f"--force-with-lease={target}:{seen or ''}"
    try:
        git("push", "--quiet", lease, remote, f"{target}:{target}", cwd=repo)
    except GitError as exc:
        if "stale info" not in str(exc):
            raise
        where = f"at {seen[:12]}" if seen else "absent"
        raise BranchMovedError(
            f"branch {branch} on {remote} moved since middle last saw it ({where}): someone "
            f"pushed commits middle did not see, so it will not overwrite them; bring them "
            f"into the branch (git fetch {remote} {branch}, then merge or rebase onto "
            f"{remote}/{branch}) or delete the branch on {remote}, then try again"
        ) from exc
    mark_seen(repo, branch, git("rev-parse", "--verify", target, cwd=repo))


@contextmanager
def worktree_admin(repo: Path) -> Iterator[None]:
    """Hold `repo`'s worktree lock for the block: one process or thread at a time adds,
    removes or prunes its worktrees, or merges in one. git reads every worktree's admin
    files in these, and fails on one another is half-way through making (a fanned-out
    Epic's children do all of them at once). Not reentrant."""
    fd = os.open(_common_dir(repo) / "middle-worktrees.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a descriptor of its own: threads exclude each other
        yield
    finally:
        os.close(fd)


def add_worktree(repo: Path, path: Path, branch: str, base: str) -> bool:
    """Check out `branch` (created from `base` if new) at `path`; reuse it if it is there.

    Returns whether a worktree was created. Safe to re-run after a failure part-way.
    """
    if (path / ".git").exists():
        check_worktree_belongs(repo, path, branch)
        return False
    with worktree_admin(repo):
        git("worktree", "prune", cwd=repo)  # forget a worktree whose folder was deleted
        path.parent.mkdir(parents=True, exist_ok=True)
        if branch_exists(repo, branch):
            git("worktree", "add", str(path), branch, cwd=repo)
        else:
            git("worktree", "add", "-b", branch, str(path), base, cwd=repo)
    return True


def _common_dir(path: Path) -> Path:
    common = Path(git("rev-parse", "--git-common-dir", cwd=path))
    return (common if common.is_absolute() else path / common).resolve()


def check_worktree_belongs(repo: Path, path: Path, branch: str) -> None:
    """Refuse to reuse a folder at `path` unless it is a worktree of `repo` on `branch`,
    so one repo's agent can never run in, or commit to, another's checkout."""
    owner = _common_dir(path)
    if owner != _common_dir(repo):
        raise GitError(
            f"{path} is a worktree of {owner.parent}, not of {repo}; move it aside "
            f"(git -C {owner.parent} worktree remove {path}) and dispatch again"
        )
    checked_out = git("rev-parse", "--abbrev-ref", "HEAD", cwd=path)
    if checked_out != branch:
        raise GitError(
            f"{path} has branch {checked_out!r} checked out, not {branch!r}; move it aside "
            f"(git -C {repo} worktree remove {path}) and dispatch again"
        )


def has_uncommitted_changes(path: Path) -> bool:
    """Whether the worktree holds edits or new files that no commit has (middle's own
    files are excluded through `info/exclude`, so they never count)."""
    return bool(git("status", "--porcelain", "--untracked-files=all", cwd=path))


def changed_paths(path: Path) -> list[str]:
    """The paths a commit does not hold as they are now: staged, edited, deleted or new
    (not ignored), relative to the checkout's top; empty for a clean tree."""
    staged = git("-c", "core.quotePath=false", "diff", "--cached", "--name-only", cwd=path)
    unstaged = git("-c", "core.quotePath=false", "ls-files", "--modified", "--deleted",
                   "--others", "--exclude-standard", "--full-name", cwd=path)  # fmt: skip
    return sorted({line for line in (staged + "\n" + unstaged).splitlines() if line})


def rescue_uncommitted(repo: Path, path: Path, ref: str) -> str:
    """Commit everything uncommitted in the worktree onto a new branch
    `middle/rescue/<ref>-<n>` (the issue branch is not moved) and return its name."""
    n = 1
    while branch_exists(repo, f"middle/rescue/{ref}-{n}"):
        n += 1
    rescue = f"middle/rescue/{ref}-{n}"
    identity = ["-c", "user.name=middle", "-c", "user.email=middle@localhost"]
    git("switch", "-q", "-c", rescue, cwd=path)
    git("add", "-A", cwd=path)
    git(*identity, "commit", "-q", "--no-verify", "-m", f"middle: rescued work of {ref}", cwd=path)
    return rescue


def merge_conflicts(repo: Path, base: str, head: str) -> list[str]:
    """The files a merge of `head` into `base` leaves conflicted ([] when it merges
    cleanly), from a test merge that touches no checkout and no ref (`git merge-tree`)."""
    args = ("merge-tree", "--write-tree", "--name-only", "--no-messages", "--end-of-options",
            base, head)  # fmt: skip
    result = _run(args, cwd=repo)
    if result.returncode == 0:
        return []
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    tree = lines[0] if lines else ""
    # 1 with a tree first is "conflicts"; anything else (git 2.39 exits 1 for a bad
    # revision too, printing no tree) is a failure
    if result.returncode != 1 or not re.fullmatch(r"[0-9a-f]{40,64}", tree):
        raise _failure(args, result)
    files = [line for line in lines[1:] if line]
    return sorted(set(files)) or ["(a conflict git names no file for)"]


def unseen_commits(repo: Path, known: str, other: str) -> list[str]:
    """Commits of `other` that `known` lacks, one line each (`sha subject`), newest first."""
    out = git("log", "--format=%h %s", "--end-of-options", f"{known}..{other}", cwd=repo)
    return out.splitlines()


def remove_worktree(repo: Path, path: Path) -> None:
    """Remove the worktree (the branch stays). A no-op if it is already gone."""
    with worktree_admin(repo):
        if path.exists():
            git("worktree", "remove", "--force", str(path), cwd=repo)
        git("worktree", "prune", cwd=repo)


def ignore_middle_files(repo: Path) -> None:
    """Keep middle's per-worktree files out of commits, via the repo's `info/exclude`
    (shared by all its worktrees, and never itself committed)."""
    common = Path(git("rev-parse", "--git-common-dir", cwd=repo))
    exclude = (common if common.is_absolute() else repo / common) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    present = exclude.read_text().splitlines() if exclude.exists() else []
    missing = [pattern for pattern in IGNORED_IN_WORKTREES if pattern not in present]
    if missing:
        with exclude.open("a") as handle:
            handle.write("".join(f"{pattern}\n" for pattern in ["# middle", *missing]))


def is_ancestor(repo: Path, commit: str, of: str) -> bool:
    """Whether `commit` is `of` or one of its ancestors."""
    try:
        git("merge-base", "--is-ancestor", commit, of, cwd=repo)
    except GitError:
        return False
    return True


def merge_branch(worktree: Path, branch: str, message: str) -> None:
    """Merge `branch` into the branch checked out at `worktree`: a fast-forward where it
    can, else a merge commit. Find conflicts first with `merge_conflicts` (a test merge
    that touches no checkout): a merge that fails here is a `GitError`, left to abort."""
    identity = ["-c", "user.name=middle", "-c", "user.email=middle@localhost"]
    with worktree_admin(worktree):
        try:
            git(*identity, "merge", "--ff", "--no-edit", "-m", message, "--", branch, cwd=worktree)
        except GitError:  # leave no half-made merge for the next one to trip on
            with contextlib.suppress(GitError):
                git("merge", "--abort", cwd=worktree)
            raise
