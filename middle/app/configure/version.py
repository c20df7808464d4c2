"""`middle version`: this install's version, and for a source install (a git checkout
holding the package) its commit and branch. git is asked quietly: any failure means
"not a checkout", as for a wheel install."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import middle
from middle import __version__
from middle.errors import GitError
from middle.system import git


@dataclass(frozen=True)
class Install:
    version: str
    checkout: Path | None  # the git checkout the package runs from; None for a wheel
    commit: str = ""
    branch: str = ""  # "" for a detached HEAD


def this_install() -> Install:
    package = Path(middle.__file__).resolve().parent
    try:
        top = Path(git.git("rev-parse", "--show-toplevel", cwd=package)).resolve()
        if top != package.parent:  # e.g. a virtualenv's site-packages inside a checkout
            return Install(__version__, None)
        commit = git.git("rev-parse", "--short", "HEAD", cwd=top)
        branch = git.git("branch", "--show-current", cwd=top)
    except GitError:
        return Install(__version__, None)
    return Install(__version__, top, commit, branch)


def version_line(install: Install) -> str:
    if install.checkout is None:
        return f"middle {install.version}"
    branch = f"branch {install.branch}" if install.branch else "detached HEAD"
    return f"middle {install.version} (commit {install.commit}, {branch})"
