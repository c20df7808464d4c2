"""The watchdog: one pass over `launching` and `running` workflows, catching stuck ones:
implementation runs, and the recommender's and documentation runs (agent turns in tmux
too, whose dispatcher can die as well; a live recommender left so would keep `serve`
from ever starting the next).

- Launching for longer than the launch timeout: the run fails, `stuck-launching`.
- Its tmux session vanished while no dispatcher drives it: if the agent left
  `blocked.json` (an implementation's), the run is resumed (it parks with the question
  and arms its signal); otherwise it fails, `session-vanished`.
- Idle (no hook and no transcript write) for `idle_warning_seconds` (default 5 min): a
  warning event; for `idle_kill_seconds` (default 15 min): the session is killed and the
  run fails, `idle-timeout`. Skipped while a human controls the session.

A run that a live dispatcher drives is told through `fail_requested` in `meta_json`; the
dispatcher's turn loop stops on it. A run nobody drives is ended here, under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from middle.app.home import open_home_db
from middle.app.runtime import WORKFLOW, runner_of
from middle.app.service.poll import Starter, spawn_resume
from middle.config import load_config, middle_home
from middle.engine.runs import Runs
from middle.engine.runstate import describe_error
from middle.errors import WorkflowBusyError
from middle.store import (
    last_hook_at,
    list_workflows,
)
from middle.system.tmux import Tmux
from middle.system.worktree import sentinel_path

IDLE_WARNING_SECONDS = 5 * 60
IDLE_KILL_SECONDS = 15 * 60


@dataclass(frozen=True)
class Finding:
    ref: str
    workflow_id: str
    action: str  # failed, resumed, warned, told-dispatcher, or "error: ..."
    repo: str = ""


def watchdog_once(now: datetime | None = None, start: Starter = spawn_resume) -> list[Finding]:
    """One pass. A run that cannot be checked (its repo's config is broken, tmux timed
    out) is reported as an `error: ...` finding, and the pass goes on to the next. A run
    to continue is handed to `start` (under serve, its run host)."""
    now = now or datetime.now(UTC)
    db = open_home_db()
    tmux = Tmux()
    findings = []
    for row in list_workflows(db, state=["launching", "running"]):  # every kind of run
        try:
            action = _check(db, row, tmux, now, start)
        except Exception as exc:  # per run: one broken repo must not stop the pass
            action = f"error: {describe_error(exc)}"
        if action is not None:
            ref = row["epic_ref"] or f"({row['kind']})"  # a recommender's or docs run
            findings.append(Finding(ref, row["id"], action, row["repo"]))
    return findings


def _check(db: Any, row: dict[str, Any], tmux: Tmux, now: datetime, start: Starter) -> str | None:
    run_input = Runs.input(row)
    limits = load_config(middle_home(), Path(run_input["repo"]))["limits"]
    verdict = _verdict(db, row, tmux, limits, now)
    if verdict is None:
        return None
    return _act(row, run_input, verdict, tmux, limits, now, start)


def _verdict(
    db: Any, row: dict[str, Any], tmux: Tmux, limits: dict[str, Any], now: datetime
) -> str | None:
    """What is wrong with this run, if anything: a reason name, or "warn-idle"."""
    age = (now - datetime.fromisoformat(row["updated_at"])).total_seconds()
    if row["state"] == "launching" and age > float(limits.get("launch_timeout_seconds", 120)):
        return "stuck-launching"
    session = row["session_name"]
    if row["state"] == "running" and session and not tmux.has_session(session):
        worktree = Path(row["worktree_path"] or "/nonexistent")
        asked = row["kind"] == WORKFLOW and sentinel_path(worktree, "blocked.json").exists()
        return "blocked" if asked else "session-vanished"  # only an implementation asks
    if row["controlled_by"] == "human" or not session:
        return None
    idle = (now - _last_activity(db, row)).total_seconds()
    if idle > float(limits.get("idle_kill_seconds", IDLE_KILL_SECONDS)):
        return "idle-timeout"
    if idle > float(limits.get("idle_warning_seconds", IDLE_WARNING_SECONDS)):
        warned = Runs.meta(row).get("idle_warned_at")
        return None if warned and warned >= _last_activity(db, row).isoformat() else "warn-idle"
    return None


def _last_activity(db: Any, row: dict[str, Any]) -> datetime:
    """The newest sign of the agent doing something: its last hook, its transcript's last
    write, or the run's creation. Not `updated_at`: the dispatcher's heartbeat bumps it."""
    moments = [datetime.fromisoformat(row["created_at"])]
    hook = last_hook_at(db, row["id"])
    if hook:
        moments.append(datetime.fromisoformat(hook))
    if row["transcript_path"] and Path(row["transcript_path"]).exists():
        mtime = Path(row["transcript_path"]).stat().st_mtime
        moments.append(datetime.fromtimestamp(mtime, UTC))
    return max(moments)


def _act(
    row: dict[str, Any],
    run_input: dict[str, Any],
    verdict: str,
    tmux: Tmux,
    limits: dict[str, Any],
    now: datetime,
    start: Starter,
) -> str | None:
    runner = runner_of(row)
    db, runs = runner.db, runner.runs
    if verdict == "warn-idle":
        runs.event(row["id"], "watchdog.idle-warning", {})
        runs.note(row["id"], {"idle_warned_at": datetime.now(UTC).isoformat()})
        return "warned"
    try:
        with runner.locks.hold(row["id"]):  # free: no dispatcher is driving this run
            # Decide again from what is true now: the run may have parked, or ended,
            # between the unlocked read and taking the lock.
            fresh = runs.get(row["id"])
            if fresh["state"] != row["state"] or _verdict(db, fresh, tmux, limits, now) != verdict:
                return None
            if verdict != "blocked":
                if not runs.transition(row["id"], "failed", leaving=fresh["state"], reason=verdict):
                    return None
                if fresh["session_name"]:
                    tmux.kill_session(fresh["session_name"])
                runs.event(row["id"], "watchdog.failed", {"reason": verdict})
                return "failed"
    except WorkflowBusyError:
        if verdict in ("idle-timeout", "stuck-launching"):
            runs.note(row["id"], {"fail_requested": verdict})
            if row["session_name"]:
                tmux.kill_session(row["session_name"])
            runs.event(row["id"], "watchdog.fail-requested", {"reason": verdict})
            return "told-dispatcher"
        return None  # a live dispatcher sees a vanished session itself
    start(row["id"], run_input)  # once the lock is let go: the new driver takes it
    return "resumed"
