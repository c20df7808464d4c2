"""A branch's diff as git prints it: against its merge base with the base branch, of its
committed head only (what a reviewer approves), and between two commits of it.

Each call is an argument list with `--` before paths; the output is read as bytes and
decoded with replacement, so a file in another encoding cannot break the page. A
failure raises `GitError` with git's own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from middle.errors import GitError
from middle.system.git import git_bytes

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
    return git_bytes("-c", "core.quotePath=false", *args, cwd=repo).decode("utf-8", "replace")


def _rev(rev: str) -> str:
    """A revision as an argument: never an option (git 2.39's rev-parse and merge-base
    take no `--end-of-options`)."""
    if not rev or rev.startswith("-"):
        raise GitError(f"{rev!r} is not a revision")
    return rev


def resolve(repo: Path, rev: str) -> str:
    """The full SHA of commit `rev` (a branch name or a SHA)."""
    return _git(repo, "rev-parse", "--verify", "--quiet", f"{_rev(rev)}^{{commit}}").strip()


def tips(repo: Path, base: str, branch: str) -> tuple[str, str]:
    """The SHAs `base` and branch `branch` point at, in one call."""
    said = _git(
        repo, "rev-parse", f"{_rev(base)}^{{commit}}", f"refs/heads/{branch}^{{commit}}",
    ).split()  # fmt: skip
    return said[0], said[1]


def diff_from(repo: Path, base_tip: str, head: str) -> BranchDiff:
    """Commit `head`'s change since it left commit `base_tip`: merge base to head."""
    base = _git(repo, "merge-base", _rev(base_tip), _rev(head)).strip()
    return BranchDiff(base, head, _git(repo, "diff", *_FORMAT, base, head, "--"))


def branch_diff(repo: Path, base: str, branch: str) -> BranchDiff:
    """`branch`'s committed change since it left `base`: merge base to head."""
    return diff_from(repo, *tips(repo, base, branch))


def diff_between(repo: Path, old: str, new: str, path: str) -> str:
    """What changed in `path` from commit `old` to commit `new` (no context lines)."""
    return _git(
        repo, "diff", *_FORMAT[:-1], "--unified=0", resolve(repo, old), resolve(repo, new),
        "--", f":(literal){path}",
    )  # fmt: skip


def file_lines(repo: Path, sha: str, path: str) -> list[str]:
    """The lines of `path` in commit `sha`; `GitError` if it is not there."""
    return _git(repo, "show", f"{resolve(repo, sha)}:{path}").split("\n")
