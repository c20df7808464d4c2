"""The Invoke tasks: parse arguments, call a use case, print, and pick the exit code.

Mount them in any project's `tasks.py` with `ns.add_collection(middle.tasks.ns)`, or use
`ns` as the root; the `middle` console script runs this same collection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from invoke import Collection, Context, Exit
from invoke.tasks import Task

if TYPE_CHECKING:
    from rich.table import Table

    from middle.app.foreground import Foreground
    from middle.cli.progress import Progress
    from middle.errors import RunDetached

from middle.cli.helpers import ISSUE_HELP, REPO_HELP, middle_task
from middle.cli.helpers import console as _console
from middle.cli.helpers import require as _require
from middle.cli.helpers import whole_number as _whole_number
from middle.errors import MiddleError

T = TypeVar("T")


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@middle_task(
    help={
        "json": "print machine-readable JSON instead of a table",
        "issue": "only this issue's runs, with the gate evidence of each phase",
    }
)
def status(c: Context, json_: bool = False, issue: str | None = None) -> None:
    """Show the state of every workflow."""
    from middle.app.home import read_home_db
    from middle.app.status import (
        api_quota,
        blocked_epics,
        broken_configs,
        here,
        run_label,
        workflow_summaries,
    )
    from middle.store import active_rate_limit, list_rate_limits

    db = read_home_db()
    place = here(".")  # the repository status runs in, found once
    summaries = workflow_summaries(db, place.runtime)
    if issue is not None:
        _issue_status(summaries, issue, json_)
        return
    broken = broken_configs(db)
    if json_:
        print(json.dumps(summaries, indent=2))
        return
    console = _console()
    if summaries:
        console.print(_status_table(summaries))
        for s in summaries:
            if s["last_message"]:
                said = " ".join(s["last_message"].split())
                console.print(f"{run_label(s)}: the agent last said: {said[:300]}", markup=False)
    else:
        console.print("No workflows yet. Start one with: middle implement --issue REF")
    for repo, problem in broken.items():
        console.print(f"config broken in {repo}, its runs wait: {problem}", markup=False)
    if place.problem is not None and place.problem[0] not in broken:
        console.print(f"config broken in {place.problem[0]}: {place.problem[1]}", markup=False)
    for limit in list_rate_limits(db):
        if active_rate_limit(db, limit["adapter"]):
            console.print(
                f"{limit['adapter']} is rate-limited until {limit['reset_at']} ({limit['source']})",
                markup=False,
            )
    quota = api_quota(place.runtime)
    if quota is not None:
        console.print(quota, markup=False)
    blocked, unreadable = blocked_epics(place.runtime)
    for ref, blockers in blocked:
        console.print(f"Epic {ref} is blocked by {', '.join(blockers)}", markup=False)
    for problem in unreadable:
        console.print(f"cannot read an Epic: {problem}", markup=False)


def _issue_status(summaries: list[dict[str, Any]], issue: str, json_: bool) -> None:
    """`status --issue REF`: that issue's runs, each with its phases' gate evidence."""
    from middle.app.status import evidence_lines
    from middle.refs import validate_ref

    ref = validate_ref(issue)  # a bad ref is a MiddleError: one line, exit 1
    summaries = [s for s in summaries if str(s["ref"]) == ref]
    if json_:
        print(json.dumps(summaries, indent=2))
        return
    if not summaries:
        start = f"middle implement --issue {ref}"
        raise Exit(f"middle: no runs of issue {ref}; start one with: {start}", 1)
    console = _console()
    console.print(_status_table(summaries))
    for s in summaries:
        lines = evidence_lines(s["phases"] or [])
        if lines:
            said = f"gate evidence of {s['repo']} issue {ref} ({s['id']}):"
            console.print(said, markup=False)
        for line in lines:
            console.print(line, markup=False)


def _status_table(summaries: list[dict[str, Any]]) -> Table:
    """Five columns that read at 80 columns: repo, ref, state and age stay whole, the
    note folds. Sessions and worktrees are in `status --json`."""
    from pathlib import Path

    from rich import box
    from rich.table import Column, Table

    from middle.app.status import humanize_age, run_label, status_note

    table = Table(
        Column("repo", no_wrap=True),
        Column("ref", no_wrap=True),
        Column("state", no_wrap=True),
        Column("age", no_wrap=True),
        Column("note", overflow="fold", ratio=1),
        box=box.SIMPLE_HEAD,
    )
    for s in summaries:
        note = status_note(s) or f"step {s['step'] or '-'}, last event {s['last_event'] or '-'}"
        label = run_label(s)
        ref = f"└ {label}" if s.get("parent") else label  # a fanned-out Epic's child
        age = humanize_age(s["age_seconds"])
        cells = [Path(s["repo"]).name, ref, s["state"], age, note]
        table.add_row(*(escape(cell or "-") for cell in cells))
    return table


@middle_task(help={"repo": "also check this repository's policy and Epics (default: .)"})
def doctor(c: Context, repo: str = ".") -> None:
    """Check the toolchain and the state; exit 1 if anything is broken."""
    from middle.app.doctor import run_checks
    from middle.app.repo import resolve_repo
    from middle.config import middle_home
    from middle.system import git

    marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
    try:
        root = git.repo_root(resolve_repo(repo))
    except MiddleError:
        root = None  # not in a repository: check the machine and the state only
    checks = run_checks(middle_home(), root)
    console = _console()
    for check in checks:
        console.print(f"{marks[check.verdict]} {escape(check.name)}: {escape(check.detail)}")
    failed = [check.name for check in checks if check.verdict == "fail"]
    if failed:
        raise Exit(f"middle doctor: {len(failed)} check(s) failed: {', '.join(failed)}", code=1)


@middle_task(
    help={
        "repo": "the repository whose .middle/plugins/ to load (default: current directory)",
        "json": "print machine-readable JSON",
    }
)
def steps(c: Context, repo: str = ".", json_: bool = False) -> None:
    """List registered steps, each workflow's order, and the agent adapters."""
    from middle.app.steps import describe_steps

    described = describe_steps(repo)
    if json_:
        print(json.dumps(described, indent=2))
        return
    console = _console()
    if not described["steps"]:
        console.print("No steps registered.")
    else:
        from rich.table import Table

        table = Table("step", "retry policy", "compensation", "origin")
        for s in described["steps"]:
            cells = (s["name"], s["policy"], s["compensation"] or "-", s["origin"])
            table.add_row(*(escape(cell) for cell in cells))
        console.print(table)
    for name, workflow in described["workflows"].items():
        console.print(f"\nworkflow [bold]{escape(name)}[/] ({escape(workflow['origin'])}):")
        for line in workflow["order"]:
            console.print(f"  {line}", markup=False)
    console.print("\nagent adapters:")
    for adapter in described["adapters"]:
        tested = "-".join(dict.fromkeys(adapter["tested_versions"])) or "any"
        console.print(
            f"  {adapter['name']} ({adapter['origin']}; tested with {tested})", markup=False
        )


@middle_task(
    help={"workflows": "how many 3-step workflows to time (default 300)"},
    auto_shortflags=False,  # an auto -w would read as invoke's -w (--warn-only)
)
def bench(c: Context, workflows: str = "300") -> None:
    """Time the durable engine against the raw SQLite floor; print JSON."""
    import tempfile
    from pathlib import Path

    from middle.app.bench import bench_engine

    count = _whole_number("--workflows", workflows, 1, None, "a whole number, 1 or more")
    with tempfile.TemporaryDirectory(prefix="middle-bench-") as workdir:
        print(json.dumps(bench_engine(Path(workdir), count), indent=2))


def _foreground(repo: str, issue: str | None, drive: Callable[[Progress], T]) -> T:
    """Run `drive`, a use case that drives a run until it parks or settles, with a live
    progress line. A SIGINT or SIGTERM lets go of the run, and a second Ctrl-C within
    2 s cancels it (`middle.app.foreground`)."""
    from middle.app.foreground import Foreground
    from middle.cli.progress import Progress
    from middle.errors import RunDetached

    with Foreground() as foreground:
        try:
            with Progress() as progress:
                return drive(progress)
        except RunDetached as detached:
            _let_go(foreground, detached, repo, issue)


def _let_go(
    foreground: Foreground, detached: RunDetached, repo: str, issue: str | None
) -> NoReturn:
    """Say how the run was left: detached (exit 128 + the signal's number: 130 for a
    Ctrl-C, 143 for a SIGTERM), or cancelled by a second Ctrl-C (exit 1, as any cancel)."""
    import shlex
    import signal
    import sys

    from middle.app.foreground import CANCEL_WINDOW, detached_run
    from middle.app.implement import cancel as run_cancel

    code = 128 + signal.Signals[detached.signal].value
    row = detached_run(detached, repo, issue)
    if row is None:  # the signal came before the dispatch, or after the run parked
        raise Exit("middle: interrupted", code=code)
    ref = row["epic_ref"]
    if not foreground.again:
        where = "" if repo == "." else f" --repo {shlex.quote(row['repo'])}"
        print(
            f"middle: detached; the agent keeps working. Continue with: middle resume "
            f"--issue {ref}{where}",
            file=sys.stderr,
            flush=True,
        )
        if foreground.first == signal.SIGINT:
            print(
                f"middle: Ctrl-C again within {CANCEL_WINDOW:g} s cancels the run instead",
                file=sys.stderr,
                flush=True,
            )
    if not foreground.cancel_asked():
        raise Exit(code=code)
    print(
        f"middle: a second Ctrl-C: cancelling the run of issue {ref}; its uncommitted "
        f"work is rescued to a branch, as `middle cancel` does",
        file=sys.stderr,
        flush=True,
    )
    outcome = run_cancel(row["repo"], ref)
    _console().print(f"issue {ref}: {outcome.message}", markup=False)
    raise Exit(code=1)


def _report(outcome: Any) -> None:
    """Print how the workflow was left; exit 1 with the reason unless that is a success."""
    if not outcome.ok:
        raise Exit(f"middle: issue {outcome.ref} {outcome.message}", code=1)
    console = _console()
    console.print(f"issue {outcome.ref}: {outcome.state} (workflow {outcome.workflow_id})")
    console.print(outcome.message, markup=False)


@middle_task(
    help={
        "issue": ISSUE_HELP,
        "repo": REPO_HELP,
        "agent": "the agent adapter: claude, codex or command (default: from config)",
        "force": "dispatch even if the issue is not approved or its blockers are still open",
        "parallel": "fan an Epic's sub-issues out to N agents at once, on one integration "
        "branch (default: the Epic's or the repo's `parallel`, else one agent)",
    },
    auto_shortflags=False,  # an auto -f would read as invoke's -f (--config)
)
def implement(
    c: Context,
    issue: str = "",
    repo: str = ".",
    agent: str | None = None,
    force: bool = False,
    parallel: str | None = None,
) -> None:
    """Dispatch an agent at an issue and run it until it parks or settles."""
    _require("implement", issue=issue)
    from middle.app.implement import implement as run_implement

    agents = (
        None
        if parallel is None
        else _whole_number("--parallel", str(parallel), 1, None, "a number of agents, 1 or more")
    )

    def run(p: Any) -> Any:
        return run_implement(repo, issue, agent, p, force=force, parallel=agents)

    _report(_foreground(repo, issue, run))


@middle_task(help={"issue": ISSUE_HELP, "repo": REPO_HELP, "text": "the answer, verbatim"})
def answer(c: Context, issue: str = "", text: str = "", repo: str = ".") -> None:
    """Answer the agent's question and continue in the same worktree."""
    _require("answer", issue=issue, text=text)
    from middle.app.implement import answer as run_answer

    _report(_foreground(repo, issue, lambda progress: run_answer(repo, issue, text, progress)))


@middle_task(
    help={
        "issue": ISSUE_HELP,
        "repo": REPO_HELP,
        "approve": "accept the branch: the run completes, the branch stays",
        "request-changes": "send this feedback to the agent for another round",
    },
    auto_shortflags=False,  # an auto -e would read as invoke's -e (--echo)
)
def review(
    c: Context,
    issue: str = "",
    repo: str = ".",
    approve: bool = False,
    request_changes: str | None = None,
) -> None:
    """Give the local-mode review verdict on a finished branch."""
    _require("review", issue=issue)
    from middle.app.implement import review as run_review

    _report(
        _foreground(
            repo,
            issue,
            lambda progress: run_review(
                repo, issue, approve=approve, request_changes=request_changes, progress=progress
            ),
        )
    )


@middle_task(help={"issue": "only this issue (default: every live workflow)", "repo": REPO_HELP})
def resume(c: Context, issue: str | None = None, repo: str = ".") -> None:
    """Adopt in-flight workflows after a crash or restart."""
    from middle.app.implement import resume as run_resume

    outcomes = _foreground(repo, issue, lambda progress: run_resume(repo, issue, progress))
    if not outcomes:
        _console().print("No live workflows to resume.")
    failed = [o for o in outcomes if not o.ok]
    for outcome in outcomes:
        if outcome.ok:
            _report(outcome)
    if failed:
        raise Exit("\n".join(f"middle: issue {o.ref} {o.message}" for o in failed), code=1)


@middle_task(help={"issue": ISSUE_HELP, "repo": REPO_HELP})
def cancel(c: Context, issue: str = "", repo: str = ".") -> None:
    """End an issue's workflow: stop the agent, undo its steps, mark it cancelled."""
    _require("cancel", issue=issue)
    from middle.app.implement import cancel as run_cancel

    outcome = run_cancel(repo, issue)
    _console().print(f"issue {outcome.ref}: {outcome.message}")


@middle_task(help={"action": "clear", "adapter": "the adapter: claude, codex or command"})
def rate_limit(c: Context, action: str, adapter: str) -> None:
    """Clear an adapter's recorded usage limit: middle rate-limit clear ADAPTER."""
    from middle.app.implement import clear_rate_limit

    if action != "clear":
        raise Exit(f"middle: unknown action {action!r}; use: middle rate-limit clear ADAPTER", 1)
    clear_rate_limit(adapter)
    _console().print(f"{adapter} is available for dispatch again.")


@middle_task(
    help={
        "repo": REPO_HELP,
        "github": "issues live on GitHub (GitHub mode)",
        "ci": "also write .github/workflows/middle.yml: each issue a GitHub Actions job",
        "dry-run": "print what init would write, and write nothing",
        "force": "write even if the working tree has changes no commit holds",
        "upgrade-skills": "refresh the skills init wrote to this middle's version",
    },
    auto_shortflags=False,  # an auto -f would read as invoke's -f (--config)
)
def init(
    c: Context,
    repo: str = ".",
    github: bool = False,
    ci: bool = False,
    dry_run: bool = False,
    force: bool = False,
    upgrade_skills: bool = False,
) -> None:
    """Set a repository up for middle (idempotent; middle uninit undoes it)."""
    from middle.app.configure.init import init_repo

    changes = init_repo(
        repo, github=github, ci=ci, dry_run=dry_run, force=force, upgrade_skills=upgrade_skills
    )
    console = _console()
    for change in changes:
        console.print(change if dry_run else f"✓ {change}", markup=False)
    if not changes:
        console.print("Already set up; nothing changed.")


@middle_task(
    help={
        "repo": REPO_HELP,
        "dry-run": "print what uninit would remove, and remove nothing",
        "force": "remove even if the repository has live runs",
    },
    auto_shortflags=False,  # an auto -f would read as invoke's -f (--config)
)
def uninit(c: Context, repo: str = ".", dry_run: bool = False, force: bool = False) -> None:
    """Remove what middle init added to a repository; keep what you changed."""
    from middle.app.configure.uninit import uninit_repo

    console = _console()
    for line in uninit_repo(repo, dry_run=dry_run, force=force):
        console.print(line, markup=False)


@middle_task()
def demo(c: Context) -> None:
    """Run the whole loop on a sample repo with the bundled stand-in agent."""
    from middle.app.demo import run_demo
    from middle.cli.progress import Progress

    console = _console()
    with Progress() as progress:
        run_demo(lambda text: console.print(text, markup=False, highlight=False), progress)


# The background service's tasks, and those of issues 12, 13 and 14, live in modules of
# their own, on the same helpers.
from middle.cli.ci import ci_job, ci_route, state  # noqa: E402
from middle.cli.configure import config, update, version  # noqa: E402
from middle.cli.dashboard import dashboard, pause, unpause  # noqa: E402
from middle.cli.docs import docs  # noqa: E402
from middle.cli.queue import auto_dispatch, recommend  # noqa: E402
from middle.cli.service import poll, serve, service, start, stop, watchdog  # noqa: E402
from middle.cli.verify import audit_issues  # noqa: E402

# What a user is doing, and the commands for it, in the order `middle --help` lists them.
# This is the one list of middle's commands: `ns` is made from it. A new command goes in
# the group of what its user is doing (tests/e2e/test_cli_basics.py holds every task to one).
GROUPS: dict[str, tuple[Task[Any], ...]] = {
    "Run an issue": (implement, answer, review, resume, cancel, docs, demo),
    "Watch": (status, steps, dashboard),
    "Keep runs moving (the service)": (serve, start, stop, service, poll, watchdog),
    "The queue": (recommend, auto_dispatch, pause, unpause, rate_limit),
    "Verify": (doctor, audit_issues),
    "Configure": (init, uninit, config, version, update),
    "CI": (ci_job, ci_route, state),
    "Measure": (bench,),
}

ns = Collection(*(command for commands in GROUPS.values() for command in commands))
