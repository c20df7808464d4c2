"""`middle update`: a clean source checkout on its default branch is pulled
(`git pull --ff-only`) and reinstalled with the python running middle; anything else (a
wheel install, a checkout with changes or on another branch) gets the pip command to run,
and nothing is run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from middle.app.ci.workflow import DISTRIBUTION
from middle.app.configure.version import this_install
from middle.errors import GitError, RepoError
from middle.system import git

PIP_COMMAND = f"python -m pip install -U {DISTRIBUTION}"


def update() -> list[str]:
    """Update a source checkout; return what happened, one line each. `RepoError` (with
    the pip command) for a checkout middle will not touch as it is."""
    install = this_install()
    if install.checkout is None:
        return [f"middle {install.version} was installed from a package; update it with: "
                f"{PIP_COMMAND}"]  # fmt: skip
    top = install.checkout
    default = _default_branch(top)
    if install.branch != default:
        raise RepoError(
            f"{top} is on {install.branch or 'a detached HEAD'}, not its default branch "
            f"{default}; switch to it and run middle update again, or run: {PIP_COMMAND}"
        )
    changed = git.changed_paths(top)
    if changed:
        raise RepoError(
            f"{top} has changes no commit holds ({', '.join(changed[:5])}); commit them and "
            f"run middle update again, or run: {PIP_COMMAND}"
        )
    git.git("pull", "--ff-only", "--quiet", cwd=top)
    after = git.git("rev-parse", "--short", "HEAD", cwd=top)
    if after == install.commit:
        return [f"{top} is up to date at {after} ({default}); nothing to do"]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "-e", str(top)]
    done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RepoError(
            f"pulled {top} to {after}, but reinstalling it failed ({why[0]}); run: "
            f"{sys.executable} -m pip install -e {top}"
        )
    return [f"updated {top} from {install.commit} to {after} ({default}) and reinstalled it"]


def _default_branch(top: Path) -> str:
    """origin's default branch, as the clone recorded it (`origin/HEAD`), else main."""
    try:
        head = git.git("symbolic-ref", "--short", "refs/remotes/origin/HEAD", cwd=top)
    except GitError:
        return "main"
    return head.removeprefix("origin/")
