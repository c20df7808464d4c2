"""`status`: one summary per workflow, for people (a table) and for CI (JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from middle.errors import EpicError, MiddleError
from middle.store import TERMINAL_STATES, current_step, last_event, list_workflows, load_checkpoints

if TYPE_CHECKING:  # the issue stores (and the runtime) load when status asks one
    from middle.issues.base import IssueStore
    from middle.store import Readable


def workflow_summaries(db: Readable) -> list[dict[str, Any]]:
    """Every workflow, oldest first, with its current step, its last event and, while it
    is live, the blockers of its Epic that are still open."""
    now = datetime.now(UTC)
    summaries = []
    blockers = _BlockerCache()
    for row in list_workflows(db):
        step = current_step(db, row["id"]) or {}
        event = last_event(db, row["id"]) or {}
        created = datetime.fromisoformat(row["created_at"])
        meta = json.loads(row["meta_json"] or "{}")  # as Runs.meta reads it, without the engine
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
                "last_message": _last_message(db, row["id"]) if row["state"] in PARKED else None,
                "waiting_for": waiting_for(park_of(db, row)) if row["state"] == WAITING else None,
                "blocked_by": blockers.of(row) if row["state"] not in TERMINAL_STATES else None,
                "pr_number": row["pr_number"],
                "pr_url": meta.get("pr_url"),
                "resumed_by": _resumed_by(db, row["id"]),
                "queued": meta.get("queued"),
                "rescue": meta.get("rescue"),
                "failing_gates": (meta.get("gates") or {}).get("failed") or None,
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
        )
    return summaries


def run_label(summary: dict[str, Any]) -> str:
    """What a run is about, in one word: its issue ref, or for a run of no issue (a
    recommender's, a documentation run's) its kind in parentheses, as the dashboard says."""
    return str(summary["ref"]) if summary.get("ref") else f"({summary.get('kind') or 'run'})"


PARKED = ("waiting-human", "rate-limited")
WAITING = "waiting-human"


def park_of(db: Readable, row: dict[str, Any]) -> dict[str, Any]:
    """Why a parked run waits: reason, message and (for a question) the question. The one
    reader of a park, for status and the dashboard alike."""
    if row["state"] not in PARKED:
        return {}
    latest: dict[str, dict[str, Any]] = {}
    for checkpoint in load_checkpoints(db, row["id"]):  # one read for both steps
        name = checkpoint["name"].partition("#")[0]
        if checkpoint["status"] == "completed" and checkpoint["output_json"]:
            latest[name] = json.loads(checkpoint["output_json"])
    park = latest.get("park-for-resume", {})
    turn = latest.get("launch-and-drive", {})
    question = turn.get("question") if park.get("reason") == "asked-question" else None
    return {**park, "question": question}


def waiting_for(park: dict[str, Any]) -> str | None:
    """What a run waiting for a human waits for, on one line: the agent's question (its
    first line), or that its work is ready for review."""
    question = (park.get("question") or "").strip()
    if question:
        return question.splitlines()[0].strip()
    if park.get("reason") == "done":
        return "ready for review"
    return None


def _last_message(db: Readable, workflow_id: str) -> str | None:
    """What the agent said last, from its newest finished turn."""
    turns = [
        cp
        for cp in load_checkpoints(db, workflow_id)
        if cp["name"].partition("#")[0] == "launch-and-drive" and cp["status"] == "completed"
    ]
    if not turns:
        return None
    message = json.loads(turns[-1]["output_json"] or "{}").get("last_message")
    return message if isinstance(message, str) else None


class _BlockerCache:
    """Open blockers per workflow row, one issue store per repo; unknown (None) when the
    repo or its Epic cannot be read now, since status must never fail on that."""

    def __init__(self) -> None:
        self.stores: dict[str, IssueStore | None] = {}

    def of(self, row: dict[str, Any]) -> list[str] | None:
        repo = row["repo"]
        if repo not in self.stores:
            from middle.app.runtime import Runtime

            try:
                root = Path(repo)
                self.stores[repo] = Runtime(root).issues
            except MiddleError:
                self.stores[repo] = None
        store = self.stores[repo]
        if store is None or not row["epic_ref"]:
            return None
        try:
            return store.open_blockers(row["epic_ref"])
        except MiddleError:
            return None


def blocked_epics(repo: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The repo's Epics that wait on open blockers, with those blockers; and, one line
    each, the Epics that cannot be read (status names them and goes on with the rest)."""
    from middle.app.repo import resolve_repo
    from middle.system import git

    try:
        root = git.repo_root(resolve_repo(repo))
        from middle.app.runtime import Runtime  # only inside a repository

        store = Runtime(root).issues
        refs = store.all_refs()
    except MiddleError:
        return [], []
    found, unreadable = [], []
    for ref in refs:
        try:
            open_ones = store.open_blockers(ref)
        except EpicError as exc:
            unreadable.append(str(exc))
            continue
        except MiddleError:
            continue  # the store cannot say now (GitHub down, say): no blockers shown
        if open_ones:
            found.append((ref, open_ones))
    return found, unreadable


def config_problem(repo: str) -> tuple[str, str] | None:
    """Where the config `status` runs under cannot be loaded, and why: the home's
    config.toml, and the policy of the repository `repo` is in (if it is in one)."""
    from middle.app.repo import resolve_repo
    from middle.config import load_config, middle_home
    from middle.system import git

    try:
        root: Path | None = git.repo_root(resolve_repo(repo))
    except MiddleError:
        root = None
    try:
        load_config(middle_home(), root)
    except MiddleError as exc:
        return str(root or middle_home()), str(exc)
    return None


def broken_configs(db: Readable) -> dict[str, str]:
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


def _resumed_by(db: Readable, workflow_id: str) -> str | None:
    """Whose signal last resumed the run: "answer by @dana", "approve by @carol"."""
    for checkpoint in reversed(load_checkpoints(db, workflow_id)):
        if checkpoint["name"].partition("#")[0] == "wait-for-resume" and checkpoint["output_json"]:
            signal = json.loads(checkpoint["output_json"])
            return f"{signal.get('kind', 'signal')} by {signal.get('author') or 'someone'}"
    return None


def status_note(summary: dict[str, Any]) -> str:
    """The one thing a person should know about a run: why it waits or ended, its PR."""
    gates = summary.get("failing_gates")
    parts = [
        summary.get("waiting_for"),
        summary.get("queued"),
        f"gates failed: {', '.join(gates)}" if gates else None,
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


def api_quota(repo: str) -> str | None:
    """The API quota `repo`'s issue store spends (GitHub's, for the user's `gh` login, in
    GitHub mode); None for a store that spends none, or outside a repo."""
    from middle.app.repo import resolve_repo
    from middle.system import git

    try:
        root = git.repo_root(resolve_repo(repo))
        from middle.app.runtime import Runtime  # only inside a repository

        runtime = Runtime(root)
    except MiddleError:
        return None  # outside a repository: no store to ask
    mode = runtime.config["epic_store"].get("mode", "file")
    try:
        quota = runtime.issues.quota()
    except MiddleError as exc:  # the store cannot say (or cannot be built): say so
        return f"API quota ({mode} mode): unknown ({exc})"
    if quota is None:
        return None
    resets = quota.resets_at.strftime("%H:%M UTC")
    return (
        f"{quota.host} API quota: {quota.remaining} of {quota.limit} requests left, resets {resets}"
    )
