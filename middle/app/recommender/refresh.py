"""The dispatcher's side of the state issue between recommender runs: keep In-flight,
Rate limits and Slot usage current, touching nothing else, and start the recommender
every `[recommender] interval` from `serve`."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from middle.app.home import spawn_middle
from middle.app.runtime import Runtime
from middle.config import load_config, middle_home
from middle.config.schema import duration_seconds
from middle.errors import ConfigError
from middle.state_issue import update_dispatcher_sections
from middle.steps.queue_facts import dispatcher_sections, gather_runs, quota_status
from middle.store import list_workflows


def interval_seconds(interval: str) -> float | None:
    """`15m`, `1h30m` → seconds; `off` → None (the default: only `middle recommend`)."""
    text = str(interval).strip()
    if text == "off":
        return None
    total = duration_seconds(text)
    if total is None:
        raise ConfigError(
            f"[recommender] interval = {interval!r} is not a duration like 15m, 1h30m or off"
        )
    if total <= 0:
        raise ConfigError(f"[recommender] interval = {interval!r} must be longer than 0s")
    return float(total)


def refresh_dispatcher_sections(db: Database, repo: Path) -> bool:
    """Rewrite the state issue's dispatcher sections if they changed; whether it wrote.
    No state issue yet: nothing to do. A body that is not v1 raises, untouched."""
    config = load_config(middle_home(), repo)
    store = Runtime(repo, config=config).issues
    location = store.state_location()
    body = location.read()
    if body is None or not body.strip():
        return False
    runs = gather_runs(db, repo, store)
    sections = dispatcher_sections(db, repo, config, runs, quota_status(store))
    updated = update_dispatcher_sections(body, sections)
    if updated == body:
        return False
    location.write(updated)
    return True


def recommender_running(db: Database, repo: Path) -> bool:
    return bool(list_workflows(db, kind="recommender", live=True, repo=str(repo)))


def spawn_recommend(repo: Path) -> None:
    """Run `middle recommend` in its own process, so a long agent turn never blocks serve."""
    spawn_middle(["recommend", "--repo", str(repo)], "recommend")
