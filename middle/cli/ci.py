"""The tasks of issue 14 (a run that moves between machines): `state export|import`,
`ci-job` and `ci-route`. `middle.cli.tasks` adds them to its collection."""

from __future__ import annotations

import sys

from invoke import Context, Exit

from middle.cli.helpers import REPO_HELP, middle_task
from middle.cli.helpers import console as _console
from middle.cli.helpers import require as _require


@middle_task(
    help={
        "action": "export or import",
        "issue": "export: the issue whose run to export",
        "workflow": "export: the workflow id to export (instead of --issue)",
        "path": "a directory, or a file if it ends in .json",
        "repo": REPO_HELP,
    }
)
def state(
    c: Context,
    action: str,
    path: str = "",
    issue: str | None = None,
    workflow: str | None = None,
    repo: str = ".",
) -> None:
    """Export a run's state to a file or directory, or import one: middle state export|import."""
    from middle.app.carry.command import export_to, import_from

    _require("state", path=path)
    if action == "export":
        written = export_to(repo, path, ref=issue, workflow_id=workflow)
        for warning in written.warnings:
            print(f"middle: warning: {warning}", file=sys.stderr)
        ids = ", ".join(written.workflow_ids)
        _console().print(f"exported workflow {ids} to {path}", markup=False)
    elif action == "import":
        added = import_from(repo, path)
        summary = ", ".join(f"{table} +{count}" for table, count in added.items())
        _console().print(f"imported {path}: {summary}", markup=False)
    else:
        raise Exit(f"middle: unknown action {action!r}; use: middle state export|import", 1)


@middle_task(
    help={
        "event-name": "the event's name (default: $GITHUB_EVENT_NAME)",
        "event-path": "the event's JSON file (default: $GITHUB_EVENT_PATH)",
        "agent": "the agent adapter (default: from config)",
        "artifacts": "write summary.md, events.jsonl and transcript.jsonl here",
        "repo": REPO_HELP,
    },
    auto_shortflags=False,  # auto -e and -p would read as invoke's --echo and --pty
)
def ci_job(
    c: Context,
    event_name: str = "",
    event_path: str = "",
    agent: str | None = None,
    artifacts: str | None = None,
    repo: str = ".",
) -> None:
    """One CI job: act on a GitHub Actions event for one issue, saving its state ref."""
    import os

    from middle.app.ci.main import ci_job as run_ci_job
    from middle.cli.progress import Progress

    name = event_name or os.environ.get("GITHUB_EVENT_NAME", "")
    path = event_path or os.environ.get("GITHUB_EVENT_PATH", "")
    _require("ci-job", event_name=name)
    with Progress() as progress:
        results = run_ci_job(
            repo, event_name=name, event_path=path, agent=agent, artifacts=artifacts,
            progress=progress,
        )  # fmt: skip
    console = _console()
    if not results:
        console.print("Nothing to do.")
    for result in results:
        console.print(
            f"issue {result.issue or '-'}: {result.state}: {result.message}", markup=False
        )
    failed = [r for r in results if not r.ok]
    if failed:
        raise Exit("\n".join(f"middle: issue {r.issue} {r.message}" for r in failed), code=1)


@middle_task(
    help={
        "event-name": "the event's name (default: $GITHUB_EVENT_NAME)",
        "event-path": "the event's JSON file (default: $GITHUB_EVENT_PATH)",
    },
    auto_shortflags=False,  # an auto -e would read as invoke's --echo
)
def ci_route(c: Context, event_name: str = "", event_path: str = "") -> None:
    """Name the issue an Actions event is for, if its sender may start work.

    Writes `issue=N` to `$GITHUB_OUTPUT` (an empty `issue=` when there is nothing to do)."""
    import os

    from middle.app.ci.main import ci_route as route

    name = event_name or os.environ.get("GITHUB_EVENT_NAME", "")
    path = event_path or os.environ.get("GITHUB_EVENT_PATH", "")
    _require("ci-route", event_name=name)
    issue = route(name, path)
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"issue={issue or ''}\n")
    _console().print(f"issue: {issue}" if issue else "nothing to do for this event", markup=False)
