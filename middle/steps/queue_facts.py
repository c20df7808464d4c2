"""The facts a recommender run starts from, and the dispatcher's three sections.

Everything here is read, never written: the repo's open Epics with their sub-issue
progress and open blockers (through the Epic store), and, from middle's own database, the
live runs, the rate limits and the slots in use.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.agents import BUILTIN_ADAPTERS
from middle.engine.runs import Runs
from middle.errors import MiddleError
from middle.issues.base import EpicStore
from middle.issues.store import FileEpicStore
from middle.state_issue import DispatcherSections, InFlight, RateLimit, SlotUsage
from middle.state_issue.draft import EpicFacts, RunFacts
from middle.store import active_rate_limit, slot_holders

_CHECKBOX = re.compile(r"^\s*- \[[ xX]\] ", re.M)
RUNNING = ("pending", "launching", "running", "rate-limited")


def default_adapter(config: dict[str, Any]) -> str:
    return str(config["repo"].get("default_adapter") or config["global"]["default_adapter"])


def configured_adapters(config: dict[str, Any]) -> list[str]:
    """middle's own adapters and any other that the config names (a plugin's)."""
    return sorted({*(adapter.name for adapter in BUILTIN_ADAPTERS), *config["adapters"]})


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


def gather_epics(store: EpicStore, config: dict[str, Any]) -> list[EpicFacts]:
    """The open dispatch units of the repo, with their progress and open blockers."""
    if isinstance(store, FileEpicStore):
        return _file_epics(store, config)
    return _github_epics(store, config)


def _file_epics(store: FileEpicStore, config: dict[str, Any]) -> list[EpicFacts]:
    found = []
    for ref in store.all_refs():
        try:
            doc = store.document(ref)
        except MiddleError:
            continue  # the file now carries a parse-error block for its owner to see
        if doc.closed:
            continue
        open_subs = sum(1 for sub in doc.sub_issues if not sub.done)
        found.append(
            EpicFacts(
                ref=ref,
                title=doc.title,
                adapter=doc.adapter or default_adapter(config),
                open_subs=open_subs if doc.sub_issues else 1,
                has_subs=bool(doc.sub_issues),
                has_criteria=bool(doc.criteria),
                blockers=tuple(f"#{slug}" for slug in store.open_blockers(ref)),
                link=str(store.path(ref).relative_to(store.repo)),
                open_question=doc.open_question is not None,
            )
        )
    return found


def _github_epics(store: Any, config: dict[str, Any]) -> list[EpicFacts]:
    issues = store.gh.json(
        "issue", "list", "--repo", store.slug, "--state", "open", "--limit", "200",
        "--json", "number,title,body,labels,url",
    )  # fmt: skip
    found = []
    for issue in issues or []:
        labels = [label["name"] for label in issue.get("labels", [])]
        ref = str(issue["number"])
        if "agent-queue:state" in labels or store._parent(ref) is not None:
            continue  # the state issue itself, or a sub-issue (never a dispatch unit)
        subs = store.gh.api(f"repos/{store.slug}/issues/{ref}/sub_issues") or []
        open_subs = sum(1 for sub in subs if sub["state"] == "open")
        agent = next((n.split(":", 1)[1] for n in labels if n.startswith("agent:")), None)
        found.append(
            EpicFacts(
                ref=ref,
                title=issue["title"],
                adapter=agent or default_adapter(config),
                open_subs=open_subs if subs else 1,
                has_subs=bool(subs),
                has_criteria=bool(_CHECKBOX.search(issue.get("body") or "")),
                blockers=tuple(store.open_blockers(ref)),
                link=issue["url"],
            )
        )
    return found


def gather_runs(db: Database, repo: Path, store: EpicStore) -> list[RunFacts]:
    """The repo's live implementation runs."""
    runs, rows = [], Runs(db)
    for row in rows.find(kind="implementation", live=True, repo=str(repo)):
        park = (rows.latest_output(row["id"], "park-for-resume") or {}).get("reason")
        ref = str(row["epic_ref"])
        link = (
            str(store.path(ref).relative_to(store.repo))
            if isinstance(store, FileEpicStore)
            else f"https://github.com/{getattr(store, 'slug', '')}/issues/{ref}"
        )
        runs.append(
            RunFacts(
                ref=ref,
                state=row["state"],
                adapter=row["adapter"],
                session=row["session_name"] or "none",
                park_reason=park,
                heartbeat=relative(row["last_heartbeat"] or row["updated_at"]),
                link=link,
            )
        )
    return runs


def dispatcher_sections(
    db: Database, repo: Path, config: dict[str, Any], runs: list[RunFacts], github: str | None
) -> DispatcherSections:
    """In-flight, Rate limits and Slot usage as they stand now. `github` is the GitHub
    quota line's status in GitHub mode (None leaves that line out)."""
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
    if github is not None:
        limits.append(RateLimit("github", github))
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


def github_quota_status(store: Any) -> str | None:
    """`4612/5000 req/hr · resets in 27m` for a GitHub-mode store, else None."""
    gh = getattr(store, "gh", None)
    if gh is None:
        return None
    try:
        core = gh.api("rate_limit")["resources"]["core"]
    except MiddleError:
        return "UNKNOWN"
    reset = datetime.fromtimestamp(core["reset"], UTC).isoformat()
    return f"{core['used']}/{core['limit']} req/hr · resets in {in_future(reset)}"
