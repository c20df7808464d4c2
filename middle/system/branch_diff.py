"""A branch's diff as git prints it: against its merge base with the base branch, of its
committed head only (what a reviewer approves), and between two commits of it.

Each call is an argument list with `--` before paths; the output is read as bytes and
decoded with replacement, so a file in another encoding cannot break the page. A
failure raises `GitError` with git's own message.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from middle.errors import GitError

CONTEXT_LINES = 12  # git's context around each change; the dashboard folds all but 3
# Fixed formatting whatever the user's config says (prefixes, colour, external tools).
_FORMAT = (
    "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames",
    "--src-prefix=a/", "--dst-prefix=b/", f"--unified={CONTEXT_LINES}",
)  # fmt: skip


@dataclass(frozen=True)
class BranchDiff:
    base: str  # the merge base's SHA
    head: str  # the branch head's SHA
    text: str


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotePath=false", *args], cwd=repo, capture_output=True,
            timeout=120,
        )  # fmt: skip
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise GitError(f"git {args[0]} failed: {said}")
    return done.stdout.decode("utf-8", "replace")


def resolve(repo: Path, rev: str) -> str:
    """The full SHA of commit `rev` (a branch name or a SHA)."""
    return _git(
        repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
    ).strip()


def branch_diff(repo: Path, base: str, branch: str) -> BranchDiff:
    """`branch`'s committed change since it left `base`: merge base to head."""
    head = resolve(repo, f"refs/heads/{branch}")
    base_sha = _git(repo, "merge-base", "--end-of-options", resolve(repo, base), head).strip()
    return BranchDiff(base_sha, head, _git(repo, "diff", *_FORMAT, base_sha, head, "--"))


def diff_between(repo: Path, old: str, new: str, path: str) -> str:
    """What changed in `path` from commit `old` to commit `new` (no context lines)."""
    return _git(
        repo, "diff", *_FORMAT[:-1], "--unified=0", resolve(repo, old), resolve(repo, new),
        "--", f":(literal){path}",
    )  # fmt: skip


def file_lines(repo: Path, sha: str, path: str) -> list[str]:
    """The lines of `path` in commit `sha`; `GitError` if it is not there."""
    return _git(repo, "show", f"{resolve(repo, sha)}:{path}").split("\n")
