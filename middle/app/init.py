"""`init`: set a repository up for middle. Idempotent: a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

from middle.app.repo import resolve_repo
from middle.app.runtime import Runtime
from middle.system import git
from middle.system.worktree import IGNORED

POLICY = """\
# middle's settings for this repository (merged over $MIDDLE_HOME/config.toml).
[repo]
# default_adapter = "claude"      # claude, codex or command

[epic_store]
mode = "{mode}"                   # "file": Epics in planning/epics; "github": GitHub issues
epics_dir = "planning/epics"

[limits]
max_concurrent = 3
complexity_ceiling = 3
# launch_timeout_seconds = 120
# turn_timeout_seconds = 14400
"""

GITIGNORE = IGNORED  # what middle writes into worktrees (middle.system.worktree)


def init_repo(repo: str | Path, *, github: bool = False) -> list[str]:
    """Write what is missing; return one line per change (empty when already set up).
    Then the issue store sets itself up: in GitHub mode (`github=True` for a new policy,
    or the existing policy's mode) the labels middle reads and the state issue, in file
    mode the Epics folder's README."""
    root = git.repo_root(resolve_repo(repo))
    changes = []
    policy = root / ".middle" / "policy.toml"
    if not policy.exists():
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_text(POLICY.format(mode="github" if github else "file"))
        changes.append(f"wrote {policy.relative_to(root)}")
    gitignore = root / ".gitignore"
    present = gitignore.read_text().splitlines() if gitignore.exists() else []
    missing = [line for line in GITIGNORE if line not in present]
    if missing:
        prefix = "" if not present or gitignore.read_text().endswith("\n") else "\n"
        with gitignore.open("a") as handle:
            handle.write(prefix + "\n".join(["# middle", *missing]) + "\n")
        changes.append(f"added {len(missing)} line(s) to .gitignore")
    changes += Runtime(root).issues.set_up()
    return changes
