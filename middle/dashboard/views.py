"""What each page shows, as plain data for the templates: the Needs-you lists, a page of
runs, one run's inspector, the Epics and the repos. Reads only; actions are in actions.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.app.control import CONTROLLABLE_STATES, attach_command
from middle.app.runtime import PARKED_STATES, Runtime
from middle.app.status import park_of, phase_evidence
from middle.config import load_config, middle_home
from middle.engine.runs import Runs
from middle.errors import MiddleError
from middle.issues import IssueStore
from middle.store import (
    active_rate_limit,
    distinct_values,
    list_rate_limits,
    list_repo_settings,
    live_counts_by_repo,
    load_checkpoints,
    recent_events,
    runs_in_states,
    runs_page,
    slots_in_use,
)
from middle.system.tmux import Tmux

from .transcript import read_transcript

ANSWERABLE = ("asked-question", "bare-stop", "gates-failed")
REVIEWABLE = ("done", "held", "gates-failed")
PAGE_SIZE = 50


def subject(run: Mapping[str, Any]) -> str:
    """What a run is about, as a person reads it: its issue, or for a run of no issue (the
    recommender's) its kind and repository."""
    if run.get("epic_ref") and run.get("parent_id"):  # a fanned-out Epic's child
        epic, _, sub = str(run["epic_ref"]).partition("/")
        return f"{epic}: sub-issue {sub}"
    if run.get("epic_ref"):
        return str(run["epic_ref"])
    return f"{run.get('kind') or 'run'} ({Path(str(run.get('repo') or '')).name or '?'})"


def one_line(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class NeedsYou:
    questions: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    limited_runs: list[dict[str, Any]]
    limits: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    queued: list[dict[str, Any]]

    @property
    def count(self) -> int:
        return len(self.questions) + len(self.reviews) + len(self.limits) + len(self.failed)


def needs_you(db: Database) -> NeedsYou:
    questions, reviews, limited_runs = [], [], []
    for row in runs_in_states(db, PARKED_STATES):
        park = park_of(db, row)
        item = {**row, "park": park}
        if row["state"] == "rate-limited":
            limited_runs.append(item)
        elif park.get("reason") in REVIEWABLE:
            reviews.append(item)
        if row["state"] == "waiting-human" and park.get("reason") in ANSWERABLE:
            questions.append(item)
    limits = [limit for limit in list_rate_limits(db) if active_rate_limit(db, limit["adapter"])]
    failed = [
        {**row, "reason": one_line(row["end_reason"] or row["state"])}
        for row in runs_in_states(db, ("failed", "compensated"), limit=10)
    ]
    queued = runs_in_states(db, ("pending",), limit=20)
    return NeedsYou(questions, reviews, limited_runs, limits, failed, queued)


def runs_view(db: Database, filters: dict[str, str], page: int) -> dict[str, Any]:
    rows, total = runs_page(
        db,
        repo=filters.get("repo") or None,
        state=filters.get("state") or None,
        adapter=filters.get("adapter") or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return {
        "runs": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "filters": filters,
        "choices": {c: distinct_values(db, c) for c in ("repo", "state", "adapter")},
    }


def _duration(start: str | None, end: str | None) -> str:
    from datetime import UTC, datetime

    if not start:
        return ""
    begin = datetime.fromisoformat(start)
    finish = datetime.fromisoformat(end) if end else datetime.now(UTC)
    seconds = (finish - begin).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def inspector(db: Database, row: dict[str, Any], tmux: Tmux) -> dict[str, Any]:
    steps = [
        {**cp, "duration": _duration(cp["started_at"], cp["finished_at"])}
        for cp in load_checkpoints(db, row["id"])
    ]
    events = recent_events(db, limit=200, workflow_id=row["id"])
    for event in events:
        event["summary"] = one_line(event["payload_json"], 240)
    session = row["session_name"]
    live_session = bool(session) and row["state"] in CONTROLLABLE_STATES
    pane = tmux.capture(session) if live_session and session else ""
    meta = Runs.meta(row)
    title = None
    try:
        store = Runtime(Path(row["repo"])).issues
        if not store.remote and row["epic_ref"]:  # a live page must not call an API per render
            title = store.load(row["epic_ref"]).title
    except MiddleError as exc:
        title = f"(cannot read the Epic: {one_line(str(exc))})"
    return {
        "run": row,
        "park": park_of(db, row),
        "steps": steps,
        "events": events,
        "transcript": read_transcript(row["transcript_path"]),
        "pane": pane,
        "live_session": live_session,
        "attach": attach_command(session) if session else None,
        "branch": row["pr_branch"] or f"middle/issue-{row['epic_ref']}",
        "epic_title": title,
        "source": meta.get("input", {}).get("source"),
        "phases": phase_evidence(meta),
    }


def known_repos(db: Database, extra: tuple[str, ...] = ()) -> list[str]:
    """Repos with runs or settings, plus `extra` (the one the dashboard started in)."""
    repos = set(distinct_values(db, "repo")) | set(extra)
    repos.update(str(row["repo"]) for row in list_repo_settings(db))
    return sorted(repos)


def repos_view(db: Database, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    settings = {row["repo"]: json.loads(row["config_json"]) for row in list_repo_settings(db)}
    slots = slots_in_use(db)
    live = live_counts_by_repo(db)
    out = []
    for repo in known_repos(db, extra):
        try:
            limit = int(load_config(middle_home(), Path(repo))["limits"]["max_concurrent"])
        except (MiddleError, KeyError, ValueError):
            limit = 0
        out.append(
            {
                "repo": repo,
                "paused": bool(settings.get(repo, {}).get("paused")),
                "slots": slots.get(repo, 0),
                "max_concurrent": limit,
                "live": live.get(repo, 0),
            }
        )
    return out


REMOTE_TTL = 60.0  # seconds a remote store's Epic list is reused: live refreshes re-render
EpicCache = dict[str, tuple[float, list[dict[str, Any]]]]


def _epics_of(store: IssueStore, repo: str, cache: EpicCache) -> list[dict[str, Any]]:
    """The repo's Epics; from a remote store (GitHub mode) reused for a minute, so a page
    that refreshes on every event does not call the API each time."""
    import time

    if store.remote:
        cached = cache.get(repo)
        if cached and time.monotonic() - cached[0] < REMOTE_TTL:
            return cached[1]
    epics: list[dict[str, Any]] = []
    for ref in store.all_refs():
        try:
            issue = store.load(ref)
        except MiddleError as exc:
            epics.append({"ref": ref, "title": one_line(str(exc)), "bad": True})
            continue
        epics.append(
            {"ref": ref, "title": issue.title, "approved": issue.approved, "closed": issue.closed}
        )
    if store.remote:
        cache[repo] = (time.monotonic(), epics)
    return epics


def epics_view(
    db: Database, extra: tuple[str, ...] = (), cache: EpicCache | None = None
) -> list[dict[str, Any]]:
    """Per repo: its Epics (file mode or GitHub mode), approval, state, and live run."""
    cache = {} if cache is None else cache
    out = []
    for repo in known_repos(db, extra):
        entry: dict[str, Any] = {"repo": repo, "epics": [], "error": None, "mode": "?"}
        try:
            store = Runtime(Path(repo)).issues
            entry["mode"] = store.mode
            live = {
                row["epic_ref"]: row
                for row in runs_in_states(db, ("pending", "launching", "running", *PARKED_STATES))
                if row["repo"] == repo
            }
            entry["epics"] = [
                {**epic, "run": live.get(epic["ref"])} for epic in _epics_of(store, repo, cache)
            ]
        except MiddleError as exc:
            entry["error"] = one_line(str(exc))
        out.append(entry)
    return out
