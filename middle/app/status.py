"""`status`: one summary per workflow, for people (a table) and for CI (JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from middle.errors import EpicError, MiddleError
from middle.store import TERMINAL_STATES, current_step, last_event, list_workflows, load_checkpoints

if TYPE_CHECKING:  # the issue stores (and the runtime) load when status asks one
    from middle.app.runtime import Runtime
    from middle.issues.base import IssueStore
    from middle.store import Readable


def workflow_summaries(db: Readable, here: Runtime | None = None) -> list[dict[str, Any]]:
    """Every workflow, oldest first (a fanned-out Epic's children right after it, as a
    tree: `parent` names their run), with its current step, its last event and, while it
    is live, the blockers of its Epic that are still open. `here`: the runtime of the
    repository status runs in, if it has one already (its runs' store is not made again)."""
    now = datetime.now(UTC)
    summaries = []
    blockers = _BlockerCache(here)
    for row in list_workflows(db):
        step = current_step(db, row["id"]) or {}
        event = last_event(db, row["id"]) or {}
        created = datetime.fromisoformat(row["created_at"])
        meta = json.loads(row["meta_json"] or "{}")  # as Runs.meta reads it, without the engine
        summaries.append(
            {
                "id": row["id"],
                "parent": row.get("parent_id"),
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
                "blocked_by": (
                    blockers.of(row)
                    if row["state"] not in TERMINAL_STATES and not row.get("parent_id")
                    else None
                ),
                "pr_number": row["pr_number"],
                "pr_url": meta.get("pr_url"),
                "resumed_by": _resumed_by(db, row["id"]),
                "queued": meta.get("queued"),
                "rescue": meta.get("rescue"),
                "failing_gates": (meta.get("gates") or {}).get("failed") or None,
                "phases": phase_evidence(meta) or None,
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
        )
    return as_tree(summaries)


def as_tree(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summaries with each run's children right after it, in their own order."""
    children: dict[str, list[dict[str, Any]]] = {}
    for summary in summaries:
        if summary["parent"]:
            children.setdefault(summary["parent"], []).append(summary)
    ids = {summary["id"] for summary in summaries}
    ordered: list[dict[str, Any]] = []
    for summary in summaries:
        if summary["parent"] and summary["parent"] in ids:
            continue
        ordered.append(summary)
        ordered.extend(children.get(summary["id"], []))
    return ordered


def phase_evidence(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's gate evidence, one record per phase (its latest gate run: the phase, the
    head, passed, and each gate's result), in phase order; for status and the dashboard."""
    phases = meta.get("phases") or {}
    order = sorted(phases, key=lambda phase: (not phase.isdigit(), phase.zfill(12)))
    return [dict(phases[phase]) for phase in order]


def evidence_lines(records: list[dict[str, Any]]) -> list[str]:
    """Each phase's evidence for a person: a line per phase, then one per gate with the
    last line of its output."""
    lines = []
    for record in records:
        verdict = "passed" if record.get("passed") else "failed"
        lines.append(f"phase #{record['phase']}: {verdict} on {str(record['head'])[:12]}")
        for result in record.get("results", []):
            tail = [line.strip() for line in str(result.get("tail", "")).splitlines()]
            said = next((line for line in reversed(tail) if line), "")
            lines.append(
                f"  {result['gate']} [{result['category']}] {result['result']} in "
                f"{float(result['duration_seconds']):.1f}s" + (f": {said}" if said else "")
            )
    return lines


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
    park = latest.get("park-for-resume") or latest.get("park-epic") or {}
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

    def __init__(self, here: Runtime | None = None) -> None:
        self.stores: dict[str, IssueStore | None] = {}
        self.here = here

    def of(self, row: dict[str, Any]) -> list[str] | None:
        repo = row["repo"]
        if repo not in self.stores:
            from middle.app.runtime import Runtime

            try:
                here = self.here
                runtime = here if here is not None and str(here.root) == repo else None
                runtime = runtime or Runtime(Path(repo))
                self.stores[repo] = runtime.issues
            except MiddleError:
                self.stores[repo] = None
        store = self.stores[repo]
        if store is None or not row["epic_ref"]:
            return None
        try:
            return store.open_blockers(row["epic_ref"])
        except MiddleError:
            return None


def blocked_epics(runtime: Runtime | None) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The repo's Epics that wait on open blockers, with those blockers; and, one line
    each, the Epics that cannot be read (status names them and goes on with the rest).
    None: not in a repository (or its config is broken), so no Epics to read."""
    if runtime is None:
        return [], []
    try:
        store = runtime.issues
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


@dataclass(frozen=True)
class Here:
    """The repository `status` runs in, found once for all it asks about it: `runtime` is
    None outside a repository or when its config cannot be loaded, and `problem` says
    where the config is broken (the home's config.toml, or the repo's policy) and why."""

    runtime: Runtime | None
    problem: tuple[str, str] | None


def here(repo: str) -> Here:
    """The repository `repo` is in (one `git rev-parse`), with its config loaded once."""
    from middle.app.repo import resolve_repo
    from middle.config import load_config, middle_home
    from middle.system import git

    try:
        root: Path | None = git.repo_root(resolve_repo(repo))
    except MiddleError:
        root = None
    try:
        config = load_config(middle_home(), root)
    except MiddleError as exc:
        return Here(None, (str(root or middle_home()), str(exc)))
    if root is None:
        return Here(None, None)
    from middle.app.runtime import Runtime  # only inside a repository

    return Here(Runtime(root, config=config), None)


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


def api_quota(runtime: Runtime | None) -> str | None:
    """The API quota the repo's issue store spends (GitHub's, for the user's `gh` login, in
    GitHub mode, with a second line: middle's own gh calls of the last hour, by what they
    cost); None for a store that spends none, or outside a repo."""
    if runtime is None:
        return None  # outside a repository: no store to ask
    mode = runtime.config["epic_store"].get("mode", "file")
    try:
        quota = runtime.issues.quota()
    except MiddleError as exc:  # the store cannot say (or cannot be built): say so
        return f"API quota ({mode} mode): unknown ({exc})"
    if quota is None:
        return None
    resets = quota.resets_at.strftime("%H:%M UTC")
    line = (
        f"{quota.host} API quota: {quota.remaining} of {quota.limit} requests left, resets {resets}"
    )
    if mode != "github":
        return line
    from middle.system.github_cache import GhCache, calls_line

    return f"{line}\n{calls_line(GhCache(runtime.home).calls_last_hour())}"
