"""The dashboard's actions, through the same use cases as the CLI.

Quick ones (take over, release, clear a rate limit, pause, unpause) call the app layer in
the request. Long ones (answer, review, resume, cancel, dispatch) run the agent or wait for
it, so they run as a spawned `middle` process, exactly the CLI command a person would type;
when it ends, its one-line result is recorded as a `dashboard.action` event, which the
live feed carries to every open tab.

Before spawning, the request checks that the run is still where the page showed it (same
workflow, same state, the same reason for parking): an action on a run that has moved on
is refused with a message saying where it is now, never a stale success.

A form the page would never send (a field missing, a repository or ref that is not one)
raises `FormError` or the CLI's own validation error before anything runs: the request
is answered 400 with the reason as its notice.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.app.home import open_home_db
from middle.app.repo import resolve_repo
from middle.app.status import park_of
from middle.config import middle_home
from middle.errors import InvalidRefError, RepoError, RunMovedOnError, UnknownWorkflowError
from middle.refs import validate_ref
from middle.store import get_workflow, record_event
from middle.system import git

from .views import ANSWERABLE, REVIEWABLE


class FormError(Exception):
    """A POSTed form the dashboard cannot act on: a field missing. Not a `MiddleError`:
    the CLI never sees it; the page answers 400 with it as the notice."""


# What makes a request a bad one (400) rather than one refused for where its run is now.
BAD_REQUEST = (FormError, RepoError, InvalidRefError, UnknownWorkflowError)


def form_field(form: dict[str, Any], name: str, what: str) -> str:
    """The form's `name` field; `FormError` if it is missing or blank."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise FormError(f"the form names no {what} ({name}); reload the page and try again")
    return value


@dataclass
class Job:
    action: str
    ref: str
    workflow_id: str | None
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%H:%M:%S"))
    status: str = "running"  # running, ok, failed
    message: str = ""


class Jobs:
    """The spawned commands of this server, newest first (kept in memory, 50 at most)."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or middle_home()
        self.recent: deque[Job] = deque(maxlen=50)

    def spawn(self, job: Job, argv: list[str], cwd: str | None = None) -> Job:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "middle", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, cwd=cwd, start_new_session=True,
        )  # fmt: skip
        self.recent.appendleft(job)
        threading.Thread(target=self._finish, args=(job, process), daemon=True).start()
        return job

    def _finish(self, job: Job, process: subprocess.Popen[str]) -> None:
        output, _ = process.communicate()
        lines = [line for line in output.splitlines() if line.strip()]
        job.status = "ok" if process.returncode == 0 else "failed"
        job.message = lines[-1].removeprefix("middle: ") if lines else f"exit {process.returncode}"
        with (self.home / "logs" / "dashboard-actions.log").open("a") as log:
            log.write(f"{job.action} {job.ref}: exit {process.returncode}\n{output}\n")
        db = open_home_db(self.home)
        try:
            record_event(
                db,
                job.workflow_id,
                "dashboard.action",
                {"action": job.action, "ref": job.ref, "ok": job.status == "ok",
                 "message": f"{job.action} {job.ref}: {job.message}"},
            )  # fmt: skip
        finally:
            db.close()


def expect(
    db: Database, workflow_id: str, states: tuple[str, ...], reasons: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The run, if it is still in one of `states` (and parked for one of `reasons`)."""
    row = get_workflow(db, workflow_id)
    where = row["state"]
    if row["state"] in states:
        if not reasons:
            return row
        reason = park_of(db, row).get("reason")
        if reason in reasons:
            return row
        where = f"{row['state']} ({reason})"
    raise RunMovedOnError(
        f"issue {row['epic_ref']} has moved on: it is {where} now; nothing was sent"
    )


def answer(jobs: Jobs, db: Database, workflow_id: str, text: str) -> Job:
    if not text.strip():
        raise RunMovedOnError("the answer is empty; say what the agent should know")
    row = expect(db, workflow_id, ("waiting-human",), ANSWERABLE)
    argv = ["answer", "--issue", row["epic_ref"], "--repo", row["repo"], f"--text={text}"]
    return jobs.spawn(Job("answer", row["epic_ref"], workflow_id), argv, row["repo"])


def review(jobs: Jobs, db: Database, workflow_id: str, verdict: str, feedback: str) -> Job:
    row = expect(db, workflow_id, ("waiting-human",), REVIEWABLE)
    argv = ["review", "--issue", row["epic_ref"], "--repo", row["repo"]]
    if verdict == "approve":
        argv.append("--approve")
    else:
        if not feedback.strip():
            raise RunMovedOnError("Request changes needs the feedback text")
        argv.append(f"--request-changes={feedback}")
    return jobs.spawn(Job(verdict, row["epic_ref"], workflow_id), argv, row["repo"])


def cancel(jobs: Jobs, db: Database, workflow_id: str) -> Job:
    live = ("pending", "launching", "running", "waiting-human", "rate-limited")
    row = expect(db, workflow_id, live)
    argv = ["cancel", "--issue", row["epic_ref"], "--repo", row["repo"]]
    return jobs.spawn(Job("cancel", row["epic_ref"], workflow_id), argv, row["repo"])


def resume(jobs: Jobs, db: Database, workflow_id: str) -> Job:
    row = expect(db, workflow_id, ("pending", "launching", "running", "rate-limited"))
    argv = ["resume", "--issue", row["epic_ref"], "--repo", row["repo"]]
    return jobs.spawn(Job("resume", row["epic_ref"], workflow_id), argv, row["repo"])


def dispatch(jobs: Jobs, repo: str, ref: str) -> Job:
    """Spawn `middle implement` in `repo`, once the repository and the ref are valid."""
    ref = validate_ref(ref)
    root = str(git.repo_root(resolve_repo(repo)))
    argv = ["implement", "--issue", ref, "--repo", root]
    return jobs.spawn(Job("implement", ref, None), argv, root)
