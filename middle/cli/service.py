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
        "poll-seconds": "seconds between poll passes (default 60)",
        "watchdog-seconds": "seconds between watchdog passes (default 30)",
        "repo": "the repo whose recommender and auto-dispatch serve runs (default: here)",
        "dashboard": "also serve the browser dashboard (on 127.0.0.1:--port)",
        "port": "the dashboard's port with --dashboard (default 4120)",
    },
    auto_shortflags=False,  # auto -p and -w would read as invoke's --pty, --warn-only
)
def serve(
    c: Context,
    poll_seconds: str = "60",
    watchdog_seconds: str = "30",
    repo: str = ".",
    dashboard: bool = False,
    port: str = "4120",
) -> None:
    """Run the poller and the watchdog (and the dashboard) in the foreground until SIGTERM."""
    from middle.app.service.serve import Service

    dashboard_port = port_number(port)  # a bad --port is refused even without --dashboard
    service = Service(
        _seconds("--poll-seconds", poll_seconds),
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
