"""Issue refs and the names derived from them (branch, tmux session, worktree folder)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from middle.errors import InvalidRefError

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def validate_ref(ref: str) -> str:
    """`ref` if it is a GitHub number or an Epic slug; `InvalidRefError` otherwise.

    The pattern keeps refs safe everywhere they are used: in paths (no separators, no
    leading dot), branch names and tmux session names.
    """
    if not _REF.fullmatch(ref) or ".." in ref or ref.endswith((".", ".lock")):
        raise InvalidRefError(
            f"--issue {ref!r} is not a valid ref; use an issue number or an Epic slug "
            f"(letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )
    return ref


# A sub-issue in another GitHub repository, as an Epic across repos names it: owner/name#n.
_OTHER_REPO_SUB = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}#[0-9]{1,10}")


def validate_run_ref(ref: str) -> str:
    """A ref, or `<ref>/<sub>`: a fanned-out Epic's child, as `status` names it (a sub in
    another repository is `owner/name#n`)."""
    epic, slash, sub = ref.partition("/")
    if slash and (_REF.fullmatch(sub) or _OTHER_REPO_SUB.fullmatch(sub)) and ".." not in sub:
        validate_ref(epic)
        return ref
    return validate_ref(ref)


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def repo_slug(repo: Path) -> str:
    """A readable name for the repo, unique per checkout: its folder name plus a short hash
    of its resolved path, so two repos both called `proj` never share a worktree folder."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", repo.name) or "repo"
    return f"{name}-{_short_hash(str(repo.resolve()))}"


def branch_name(ref: str) -> str:
    return f"middle/issue-{ref}"


def issue_of_branch(branch: str) -> str | None:
    """The GitHub issue number a `middle/issue-<n>` branch is for (`branch_name`'s
    inverse), or None for any other branch."""
    match = re.fullmatch(r"middle/issue-([0-9]+)", branch)
    return match[1] if match else None


def epic_of_branch(branch: str) -> str | None:
    """The GitHub issue number a fanned-out Epic's integration branch `middle/epic-<n>` is
    for, or None (a child's `middle/epic-<n>-<sub>` among them: it has no pull request)."""
    match = re.fullmatch(r"middle/epic-([0-9]+)", branch)
    return match[1] if match else None


def session_name(repo: Path, ref: str) -> str:
    """The tmux session of (repo, ref): readable, and distinct for distinct pairs.

    tmux treats '.' and ':' as target separators, so '.' becomes '_'; the trailing hash of
    the repo path and the ref as given keeps `fix.1` and `fix_1` apart.
    """
    name = re.sub(r"[^A-Za-z0-9_-]", "_", repo.name) or "repo"
    readable = ref.replace(".", "_")
    return f"middle-{name}-{readable}-{_short_hash(str(repo.resolve()), ref)}"
