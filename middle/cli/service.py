"""The tasks that keep runs moving without a person: poll, watchdog, and serve (both, on
a timer, with the dashboard if asked)."""

from __future__ import annotations

import sys

from invoke import Context, Exit

from middle.cli.helpers import console as _console
from middle.cli.helpers import middle_task, port_number


@middle_task()
def poll(c: Context) -> None:
    """One pass over parked workflows: fire the resume signals that are due."""
    from middle.app.service.poll import poll_once
    from middle.cli.progress import Progress

    with Progress() as progress:
        actions = poll_once(progress=progress)
    actions = [action for action in actions if action.error is None]  # noted as they came
    console = _console()
    if not actions:
        console.print("Nothing to resume.")
    for action in actions:
        console.print(f"issue {action.ref}: {action.signal}", markup=False)
        if action.outcome is not None:
            console.print(f"  → {action.outcome.state}: {action.outcome.message}", markup=False)


@middle_task()
def watchdog(c: Context) -> None:
    """One watchdog pass: fail stuck or vanished agent sessions, warn on idle ones."""
    from middle.app.service.watchdog import watchdog_once

    findings = watchdog_once()
    console = _console()
    if not findings:
        console.print("All agent sessions look healthy.")
    for found in findings:
        if found.action.startswith("error: "):  # the pass went on; say which run it skipped
            where = f"issue {found.ref} in {found.repo} ({found.workflow_id})"
            print(f"middle: {where}: cannot check it: {found.action[7:]}", file=sys.stderr)
        else:
            console.print(f"issue {found.ref} ({found.workflow_id}): {found.action}", markup=False)


@middle_task(
    help={
        "poll-seconds": "seconds between poll passes (default: [github] poll_seconds, 10)",
        "watchdog-seconds": "seconds between watchdog passes (default 30)",
        "repo": "the repo whose recommender and auto-dispatch serve runs (default: here)",
        "dashboard": "also serve the browser dashboard (on 127.0.0.1:--port)",
        "port": "the dashboard's port with --dashboard (default 4120)",
    },
    auto_shortflags=False,  # auto -p and -w would read as invoke's --pty, --warn-only
)
def serve(
    c: Context,
    poll_seconds: str = "",
    watchdog_seconds: str = "30",
    repo: str = ".",
    dashboard: bool = False,
    port: str = "4120",
) -> None:
    """Run the poller and the watchdog (and the dashboard) in the foreground until SIGTERM."""
    from middle.app.service.serve import Service

    dashboard_port = port_number(port)  # a bad --port is refused even without --dashboard
    service = Service(
        _seconds("--poll-seconds", poll_seconds) if poll_seconds else None,
        _seconds("--watchdog-seconds", watchdog_seconds),
        repo=repo,
        dashboard_port=dashboard_port if dashboard else None,
    )
    _console().print(f"middle serve: logging to {service.log_path}; stop with SIGTERM or Ctrl-C")
    service.run()


def _seconds(flag: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise Exit(f"middle: {flag} {text!r}: give a positive number of seconds", code=1)
    return seconds


@middle_task(
    help={
        "repo": "the repo whose recommender and auto-dispatch serve runs (default: here)",
        "dashboard": "also serve the browser dashboard (on 127.0.0.1:--port)",
        "port": "the dashboard's port with --dashboard (default 4120; 0 picks a free one)",
    },
    auto_shortflags=False,  # an auto -p would read as invoke's --pty
)
def start(c: Context, repo: str = ".", dashboard: bool = False, port: str = "4120") -> None:
    """Start `middle serve` in the background; its log is $MIDDLE_HOME/logs/serve.log."""
    from middle.app.service.daemon import start_service
    from middle.errors import ServiceError

    dashboard_port = port_number(port)
    try:
        started = start_service(repo, dashboard_port if dashboard else None)
    except ServiceError as exc:
        if exc.log_tail:
            print("middle serve's log, since this start:", file=sys.stderr)
            print(exc.log_tail, file=sys.stderr)
        raise
    console = _console()
    console.print(f"middle serve started (pid {started.pid}); log: {started.log}", markup=False)
    if started.dashboard_url is not None:
        console.print(f"dashboard: {started.dashboard_url}", markup=False)
    console.print("stop it with: middle stop", markup=False)


@middle_task(help={"timeout": "seconds to wait after SIGTERM before SIGKILL (default 10)"})
def stop(c: Context, timeout: str = "10") -> None:
    """Stop the background `middle serve`: SIGTERM, then SIGKILL past --timeout."""
    from middle.app.service.daemon import stop_service

    stopped = stop_service(_seconds("--timeout", timeout))
    pid = stopped.pid
    said = {
        "stopped": f"middle serve stopped (pid {pid})",
        "killed": f"middle serve (pid {pid}) did not stop within {timeout} s of SIGTERM; "
        "killed it (SIGKILL)",
        "not-running": "middle serve is not running",
        "stale": "middle serve is not running; removed a stale serve.pid"
        + (f" (pid {pid} is not middle serve)" if pid is not None else ""),
    }[stopped.outcome]
    _console().print(said, markup=False)


@middle_task(
    help={
        "action": "install",
        "repo": "the repo whose recommender and auto-dispatch serve runs (default: here)",
        "dashboard": "also serve the browser dashboard (on 127.0.0.1:--port)",
        "port": "the dashboard's port with --dashboard (default 4120)",
        "force": "overwrite a unit (or plist) that middle did not write",
    },
    auto_shortflags=False,
)
def service(
    c: Context,
    action: str,
    repo: str = ".",
    dashboard: bool = False,
    port: str = "4120",
    force: bool = False,
) -> None:
    """Write a systemd --user unit (a launchd agent on macOS) that runs middle serve."""
    from middle.app.service.unit import install_service

    if action != "install":
        raise Exit(f"middle: unknown action {action!r}; use: middle service install", 1)
    dashboard_port = port_number(port)
    installed = install_service(repo, dashboard_port if dashboard else None, force=force)
    console = _console()
    console.print(f"wrote {installed.path}", markup=False)
    console.print(f"enable and start it with: {installed.enable}", markup=False)
    for note in installed.notes:
        console.print(note, markup=False)
