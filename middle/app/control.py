"""Human control of sessions and repositories: take over / release a run's tmux session,
and pause / unpause dispatch for a repository.

Taking over sets `controlled_by = human`; the watchdog skips such runs (no idle warning,
no idle kill). Pausing a repo records `paused` in `repo_config`; `implement` refuses to
dispatch there and `poll` (so `serve`) fires no resume signal for its parked runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from middle.app.home import open_home_db
from middle.app.repo import resolve_repo
from middle.errors import RepoPausedError, RunMovedOnError
from middle.store import (
    get_workflow,
    merge_repo_settings,
    record_event,
    repo_settings,
    update_workflow,
)
from middle.system import git
from middle.system.tmux import Tmux

CONTROLLABLE_STATES = ("launching", "running")


@dataclass(frozen=True)
class Control:
    workflow_id: str
    ref: str
    controlled_by: str
    attach: str | None  # the exact `tmux attach` command, while a session exists


def attach_command(session_name: str) -> str:
    """What a person types to watch or drive the agent's session."""
    return Tmux().attach_command(session_name)


def take_over(workflow_id: str, db: Database | None = None) -> Control:
    """Hand a running session to a human: the watchdog leaves it alone until released."""
    return _set_control(db or open_home_db(), workflow_id, "human")


def release(workflow_id: str, db: Database | None = None) -> Control:
    """Hand a taken-over session back to middle."""
    return _set_control(db or open_home_db(), workflow_id, "middle")


def _set_control(db: Database, workflow_id: str, who: str) -> Control:
    row = get_workflow(db, workflow_id)
    if who == "human" and row["state"] not in CONTROLLABLE_STATES:
        raise RunMovedOnError(
            f"issue {row['epic_ref']} is {row['state']} now, with no session to take over"
        )
    update_workflow(db, workflow_id, controlled_by=who)
    record_event(db, workflow_id, "control.changed", {"controlled_by": who})
    session = row["session_name"]
    return Control(workflow_id, row["epic_ref"], who, attach_command(session) if session else None)


def _root(repo: str | Path) -> str:
    return str(git.repo_root(resolve_repo(repo)))


def pause_repo(repo: str | Path, db: Database | None = None) -> str:
    """Stop new dispatches (and poll's resumes) for the repo; running turns carry on."""
    root = _root(repo)
    merge_repo_settings(db or open_home_db(), root, {"paused": True})
    return root


def unpause_repo(repo: str | Path, db: Database | None = None) -> str:
    root = _root(repo)
    merge_repo_settings(db or open_home_db(), root, {"paused": None})
    return root


def is_paused(db: Database, root: str) -> bool:
    return bool(repo_settings(db, root).get("paused"))


def refuse_if_paused(db: Database, root: str) -> None:
    if is_paused(db, root):
        raise RepoPausedError(
            f"dispatch is paused for {root}; resume it with: middle unpause --repo {root}"
        )
