"""`serve`: the long-running dispatcher service.

At start it adopts in-flight workflows whose dispatcher died; then it polls every
`poll_seconds` (`[github] poll_seconds` of the home's config, 10: a pass in which nothing
changed on GitHub costs no quota, `middle.issues.github_feed`) and runs the watchdog
every `watchdog_seconds` (30) until SIGTERM or
SIGINT, which end it after the current pass (with --dashboard, also when its dashboard
exits: code 1). Every run it continues is driven on a thread of this one process
(`middle.app.service.host`), so a long agent turn never blocks the loop and fifty live runs
cost one interpreter. It writes
`$MIDDLE_HOME/serve.pid` and logs to `$MIDDLE_HOME/logs/serve.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from middle.app.home import open_home_db
from middle.app.runtime import WORKFLOW, runner_of
from middle.app.service.host import RunHost
from middle.app.service.pidfile import log_path, pid_path, serving_pid
from middle.app.service.poll import poll_once
from middle.app.service.watchdog import watchdog_once
from middle.config import middle_home
from middle.engine.runs import Runs
from middle.engine.runstate import describe_error
from middle.errors import (
    MiddleError,
    ServeAlreadyRunningError,
    ServiceError,
    WorkflowBusyError,
)
from middle.store import (
    archive_runs,
    iso,
    list_workflows,
    prune_events,
    register_repo,
    registered_repos,
)


class Service:
    def __init__(
        self,
        poll_seconds: float | None = None,
        watchdog_seconds: float = 30,
        repo: str | None = None,
        dashboard_port: int | None = None,
    ) -> None:
        self.home = middle_home()
        if poll_seconds is None:
            from middle.config import load_config

            poll_seconds = float(load_config(self.home)["github"]["poll_seconds"])
        self.repo = repo  # registered at the first pass (serve covers every registered repo)
        self.next_recommend: dict[str, float] = {}  # by repo: when its recommender is due
        self.next_docs: dict[str, float] = {}  # by repo: when its documentation run is due
        self.dashboard_port = dashboard_port
        self.poll_seconds = poll_seconds
        self.watchdog_seconds = watchdog_seconds
        self.pidfile = pid_path(self.home)
        self.log_path = log_path(self.home)
        self.stopping = False
        self.host = RunHost(self.log)  # every run serve continues, on a thread of its own

    def log(self, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as handle:
            handle.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {text}\n")

    def claim_pidfile(self) -> None:
        """Refuse while another live `middle serve` owns this home; a pid file whose pid
        died, or now names another process (pids are reused), is taken over."""
        other = serving_pid(self.home)
        if other is not None and other != os.getpid():
            raise ServeAlreadyRunningError(
                f"middle serve is already running (pid {other}, {self.pidfile}); "
                "stop it first: middle stop"
            )
        self.pidfile.write_text(f"{os.getpid()}\n")

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def adopt(self) -> None:
        """Resume live workflows that no dispatcher drives (after a crash or reboot)."""
        db = open_home_db()
        for row in list_workflows(db, kind=WORKFLOW, state=["pending", "launching", "running"]):
            try:
                with runner_of(row).locks.hold(row["id"]):
                    pass  # free: nobody drives it
                self.host.start(row["id"], Runs.input(row))
            except WorkflowBusyError:
                continue
            except Exception as exc:  # per run: a broken repo must not stop the service
                self.log_error(
                    f"adopt: issue {row['epic_ref']} in {row['repo']} ({row['id']})", exc
                )
                continue
            self.log(f"adopted issue {row['epic_ref']} ({row['id']})")

    def start_dashboard(self) -> subprocess.Popen[bytes] | None:
        """`middle dashboard` as a child process: it prints its URL on our stdout, and a
        slow page never delays a poll or a watchdog pass."""
        if self.dashboard_port is None:
            return None
        argv = [sys.executable, "-m", "middle", "dashboard", "--port", str(self.dashboard_port)]
        self.log(f"dashboard on 127.0.0.1:{self.dashboard_port}")
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def check_dashboard(self, dashboard: subprocess.Popen[bytes] | None) -> None:
        """serve --dashboard ends with its dashboard (a port taken, a crash), exit code 1,
        rather than run on without what it was asked for: `middle start` reports it, and
        a supervisor's Restart=on-failure starts both again."""
        if dashboard is None or self.stopping or dashboard.poll() is None:
            return  # a Ctrl-C reaches the dashboard too: that is a stop, not a failure
        message = (
            f"the dashboard exited (code {dashboard.returncode}), so serve stops too; "
            f"its last words are in {self.log_path}"
        )
        self.log(message)
        raise ServiceError(message)

    def log_error(self, where: str, exc: BaseException) -> None:
        """One line for a user's mistake; the traceback too for anything else (a bug)."""
        if isinstance(exc, MiddleError):
            self.log(f"{where}: {exc}")
        else:
            self.log(f"{where}: {describe_error(exc)}\n{traceback.format_exc().rstrip()}")

    def pass_safely(self, name: str, run_pass: Callable[[], None]) -> None:
        """Run one watchdog or poll pass; an error is logged and the service carries on."""
        try:
            run_pass()
        except Exception as exc:
            self.log_error(f"{name} pass failed", exc)

    def watch(self) -> None:
        for found in watchdog_once(start=self.host.start):
            if found.action.startswith("error: "):
                where = f"watchdog: issue {found.ref} in {found.repo} ({found.workflow_id})"
                self.log(f"{where}: cannot check it: {found.action[7:]}")
            else:
                self.log(f"watchdog: issue {found.ref} ({found.workflow_id}): {found.action}")

    def poll(self) -> None:
        for action in poll_once(background=True, start=self.host.start):
            if action.error is not None:
                self.log(f"poll: issue {action.ref} ({action.workflow_id}): {action.error}")
            else:
                self.log(f"poll: issue {action.ref} ({action.workflow_id}): {action.signal}")

    def run(self) -> None:
        self.claim_pidfile()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.stop)
        self.log(f"started (pid {os.getpid()}), polling every {self.poll_seconds:g}s")
        dashboard = self.start_dashboard()
        try:
            self.pass_safely("adopt", self.adopt)
            next_poll = next_watch = next_retain = time.monotonic()
            while not self.stopping:
                self.check_dashboard(dashboard)
                now = time.monotonic()
                if now >= next_watch:
                    self.pass_safely("watchdog", self.watch)
                    next_watch = now + self.watchdog_seconds
                if now >= next_poll:
                    self.pass_safely("poll", self.poll)
                    next_poll = now + self.poll_seconds
                    self.queue_tick(now)
                if now >= next_retain:
                    self.pass_safely("retention", self.retain)
                    next_retain = now + 3600  # hourly: days-long limits need no more
                time.sleep(0.2)
        finally:
            if dashboard is not None:
                dashboard.terminate()
                dashboard.wait(timeout=10)
            self.pidfile.unlink(missing_ok=True)
            self.log("stopped")

    def retain(self) -> None:
        """Forget what `[retention]` says is old: finished runs' events after
        `events_days`, and finished runs after `runs_days` (archived: the `workflows` row
        stays, marked; its other rows go). Live runs are never touched."""
        from middle.config import load_config

        days = load_config(self.home)["retention"]
        now, db = datetime.now(UTC), open_home_db()
        pruned = prune_events(db, iso(now - timedelta(days=int(days["events_days"]))))
        archived = archive_runs(db, iso(now - timedelta(days=int(days["runs_days"]))))
        if pruned or archived:
            self.log(f"retention: pruned {pruned} event(s), archived {len(archived)} run(s)")
        from middle.system.github_cache import GhCache

        GhCache(self.home).prune(days=7)  # GitHub pages not read for a week

    def served_repos(self) -> list[str]:
        """The repos a pass covers: every registered repo (`store/repos.py`), with the
        `--repo` serve was started for registered first."""
        db = open_home_db()
        if self.repo is not None:
            from middle.app.repo import resolve_repo
            from middle.system import git

            register_repo(db, str(git.repo_root(resolve_repo(self.repo))))
        return [repo for repo in registered_repos(db) if Path(repo).is_dir()]  # not deleted

    def queue_tick(self, now: float) -> None:
        """Issue 13, once per poll, for every registered repo whose recommender is on (an
        `interval`, or `auto_dispatch`): start its recommender when its interval is due,
        keep its state issue's dispatcher sections current, and auto-dispatch into every
        free slot if enabled. A failure is logged for its repo; it never stops the
        service, nor the other repos' turns."""
        try:
            repos = self.served_repos()
        except MiddleError as exc:
            self.log(f"queue: {exc}")
            return
        for repo in repos:
            try:
                self.queue_repo(repo, now)
            except MiddleError as exc:
                self.log(f"queue: {repo}: {exc}")
            try:
                self.docs_repo(repo, now)
            except MiddleError as exc:
                self.log(f"docs: {repo}: {exc}")

    def docs_repo(self, repo: str, now: float) -> None:
        """`[docs] enabled`: start the repo's documentation run every `interval` (never a
        second while one is live)."""
        from middle.app.docs.run import docs_running, spawn_docs
        from middle.app.recommender.refresh import interval_seconds
        from middle.config import load_config
        from middle.system import git

        root = git.repo_root(Path(repo))
        settings = load_config(self.home, root)["docs"]
        every = interval_seconds(settings["interval"]) if settings["enabled"] else None
        if every is None or now < self.next_docs.get(repo, 0.0):
            return
        self.next_docs[repo] = now + every
        if not docs_running(open_home_db(), root):
            spawn_docs(root)
            self.log(f"docs: started for {root}")

    def queue_repo(self, repo: str, now: float) -> None:
        from middle.app.recommender.refresh import (
            interval_seconds,
            recommender_running,
            refresh_dispatcher_sections,
            spawn_recommend,
        )
        from middle.app.service.autodispatch import dispatch_ready
        from middle.config import load_config
        from middle.system import git

        root = git.repo_root(Path(repo))
        settings = load_config(self.home, root)["recommender"]
        every = interval_seconds(settings["interval"])
        if every is None and not settings.get("auto_dispatch"):
            return  # the recommender is off for this repo: serve leaves its state alone
        db = open_home_db()
        if every is not None and now >= self.next_recommend.get(repo, 0.0):
            self.next_recommend[repo] = now + every
            if not recommender_running(db, root):
                spawn_recommend(root)
                self.log(f"recommend: started for {root}")
        refresh_dispatcher_sections(db, root)
        for dispatched in dispatch_ready(db, root, start=self.host.start):
            self.log(
                f"auto-dispatch: issue {dispatched.ref} ({dispatched.workflow_id}): "
                f"{dispatched.reason}"
            )
