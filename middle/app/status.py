"""`status`: one summary per workflow, for people (a table) and for CI (JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.errors import MiddleError
from middle.store import list_workflows
from middle.store.checkpoints import current_step, load_checkpoints
from middle.store.records import last_event


def workflow_summaries(db: Database) -> list[dict[str, Any]]:
    """Every workflow, oldest first, with its current step and its last event."""
    now = datetime.now(UTC)
    summaries = []
    for row in list_workflows(db):
        step = current_step(db, row["id"]) or {}
        event = last_event(db, row["id"]) or {}
        created = datetime.fromisoformat(row["created_at"])
        meta = json.loads(row["meta_json"] or "{}")
        summaries.append(
            {
                "id": row["id"],
                "kind": row["kind"],
                "repo": row["repo"],
                "ref": row["epic_ref"],
                "state": row["state"],
                "step": step.get("name"),
                "step_status": step.get("status"),
                "attempts": step.get("attempts", 0),
                "age_seconds": round((now - created).total_seconds(), 1),
                "session": row["session_name"],
                "worktree": _worktree(row["worktree_path"]),
                "last_event": event.get("type"),
                "last_event_at": event.get("ts"),
                "end_reason": row["end_reason"],
                "pr_number": row["pr_number"],
                "pr_url": meta.get("pr_url"),
                "resumed_by": _resumed_by(db, row["id"]),
                "queued": meta.get("queued"),
                "rescue": meta.get("rescue"),
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
        )
    return summaries


def broken_configs(db: Database) -> dict[str, str]:
    """Repos with live workflows whose merged config cannot be read, and why: poll, serve
    and the watchdog skip their runs until it is fixed."""
    from middle.config import load_config, middle_home

    broken: dict[str, str] = {}
    for repo in sorted({row["repo"] for row in list_workflows(db, live=True)}):
        try:
            load_config(middle_home(), Path(repo))
        except MiddleError as exc:
            broken[repo] = str(exc)
    return broken


def _resumed_by(db: Database, workflow_id: str) -> str | None:
    """Whose signal last resumed the run: "answer by @dana", "approve by @carol"."""
    for checkpoint in reversed(load_checkpoints(db, workflow_id)):
        if checkpoint["name"].partition("#")[0] == "wait-for-resume" and checkpoint["output_json"]:
            signal = json.loads(checkpoint["output_json"])
            return f"{signal.get('kind', 'signal')} by {signal.get('author') or 'someone'}"
    return None


def status_note(summary: dict[str, Any]) -> str:
    """The one thing a person should know about a run: why it waits or ended, its PR."""
    parts = [
        summary.get("queued"),
        summary.get("end_reason"),
        summary.get("resumed_by"),
        summary.get("pr_url"),
    ]
    return "; ".join(str(part) for part in parts if part)


def _worktree(path: str | None) -> str | None:
    """The worktree's path, or that it is gone (approval and compensation remove it)."""
    if path is None:
        return None
    return path if Path(path).exists() else f"{path} (removed)"


def humanize_age(seconds: float) -> str:
    """`42s`, `7m`, `3h`, `2d`: an age a person reads at a glance."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def github_quota(repo: str) -> str | None:
    """GitHub's API quota for the user's `gh` login, when `repo` is in GitHub mode."""
    from middle import git
    from middle.app.repo import resolve_repo
    from middle.config import load_config, middle_home
    from middle.github import Gh

    try:
        root = git.repo_root(resolve_repo(repo))
        if load_config(middle_home(), root)["epic_store"].get("mode") != "github":
            return None
        core = Gh(root).api("rate_limit")["resources"]["core"]
    except MiddleError as exc:
        return f"GitHub API quota: unknown ({exc})"
    resets = datetime.fromtimestamp(core["reset"], UTC).strftime("%H:%M UTC")
    return (
        f"GitHub API quota: {core['remaining']} of {core['limit']} requests left, resets {resets}"
    )
