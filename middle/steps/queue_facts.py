"""The facts a recommender run starts from, and the dispatcher's three sections.

Everything here is read, never written: the repo's open Epics with their sub-issue
progress and open blockers (through the issue store), and, from middle's own database, the
live runs, the rate limits and the slots in use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.agents import BUILTIN_ADAPTERS
from middle.engine.runs import Runs
from middle.errors import MiddleError
from middle.issues.base import IssueStore
from middle.state_issue import DispatcherSections, InFlight, RateLimit, SlotUsage
from middle.state_issue.draft import EpicFacts, RunFacts
from middle.store import active_rate_limit, slot_holders

RUNNING = ("pending", "launching", "running", "rate-limited")


def default_adapter(config: dict[str, Any]) -> str:
    return str(config["repo"].get("default_adapter") or config["global"]["default_adapter"])


def configured_adapters(config: dict[str, Any], registered: Iterable[str] = ()) -> list[str]:
    """middle's own adapters, those a plugin registered, and any other the config names."""
    builtin = (adapter.name for adapter in BUILTIN_ADAPTERS)
    return sorted({*builtin, *registered, *config["adapters"]})


def relative(since: str | None, now: datetime | None = None) -> str:
    """`42s ago`, `3m ago`: how long since an ISO time (`unknown` without one)."""
    if not since:
        return "unknown"
    now = now or datetime.now(UTC)
    seconds = max(
        0, int((now - datetime.fromisoformat(since.replace("Z", "+00:00"))).total_seconds())
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def in_future(until: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    seconds = max(
        0, int((datetime.fromisoformat(until.replace("Z", "+00:00")) - now).total_seconds())
    )
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def gather_epics(store: IssueStore, config: dict[str, Any]) -> list[EpicFacts]:
    """The open dispatch units of the repo, with their progress and open blockers."""
    return store.open_issues(default_adapter(config))


def gather_runs(db: Database, repo: Path, store: IssueStore) -> list[RunFacts]:
    """The repo's live implementation runs."""
    runs, rows = [], Runs(db)
    for row in rows.find(kind="implementation", live=True, repo=str(repo)):
        park = (rows.latest_output(row["id"], "park-for-resume") or {}).get("reason")
        ref = str(row["epic_ref"])
        runs.append(
            RunFacts(
                ref=ref,
                state=row["state"],
                adapter=row["adapter"],
                session=row["session_name"] or "none",
                park_reason=park,
                heartbeat=relative(row["last_heartbeat"] or row["updated_at"]),
                link=store.link(ref),
            )
        )
    return runs


def completed_refs(db: Database, repo: Path) -> list[str]:
    """Issues whose newest implementation run completed (approved, or its PR merged):
    the work is done, though the issue stays open until a person merges and closes it,
    so the recommender must not rank it for dispatch again."""
    newest: dict[str, str] = {}
    for row in Runs(db).find(kind="implementation", repo=str(repo)):  # oldest first
        newest[str(row["epic_ref"])] = row["state"]
    return sorted(ref for ref, state in newest.items() if state == "completed")


def dispatcher_sections(
    db: Database,
    repo: Path,
    config: dict[str, Any],
    runs: list[RunFacts],
    quota: tuple[str, str] | None,
) -> DispatcherSections:
    """In-flight, Rate limits and Slot usage as they stand now. `quota` is the issue
    store's API quota line, (name, status), from `quota_status` (None leaves it out)."""
    flights = tuple(
        InFlight(r.ref, r.adapter, "running", r.heartbeat, r.session)
        for r in runs
        if r.state in RUNNING
    )
    limits = []
    for adapter in configured_adapters(config):
        limit = active_rate_limit(db, adapter)
        if limit is None:
            limits.append(RateLimit(adapter, "AVAILABLE"))
        elif limit["reset_at"]:
            until = str(limit["reset_at"])
            limits.append(RateLimit(adapter, f"RATE LIMITED until {until} (in {in_future(until)})"))
        else:
            limits.append(RateLimit(adapter, "UNKNOWN"))
    if quota is not None:
        limits.append(RateLimit(*quota))
    holders = slot_holders(db, besides="")
    repo_max = int(config["limits"]["max_concurrent"])
    in_repo = [h for h in holders if h["repo"] == str(repo)]
    per_adapter = tuple(
        (
            adapter,
            sum(1 for h in in_repo if h["adapter"] == adapter),
            int(config["adapters"].get(adapter, {}).get("max_concurrent") or repo_max),
        )
        for adapter in configured_adapters(config)
    )
    slots = SlotUsage(
        per_adapter,
        (len(in_repo), repo_max),
        (len(holders), int(config["global"]["max_concurrent"])),
    )
    return DispatcherSections(flights, tuple(limits), slots)


def quota_status(store: IssueStore) -> tuple[str, str] | None:
    """The Rate limits line of a store that spends an API quota, named after its mode:
    (`github`, `4612/5000 req/hr · resets in 27m`); None for a store that spends none."""
    try:
        quota = store.quota()
    except MiddleError:
        return store.mode, "UNKNOWN"
    if quota is None:
        return None
    reset = quota.resets_at.isoformat()
    return store.mode, f"{quota.used}/{quota.limit} req/hr · resets in {in_future(reset)}"
