"""`middle ci-job`: read the event Actions passed, do the job's work, report it.

Everything a job does is here, behind one command, so the generated workflow holds no
logic of its own (`middle ci-job` is all its run step says).
"""

from __future__ import annotations

import os
from pathlib import Path

from middle import git
from middle.app.ci import JobResult, run_job, sweep
from middle.app.ci_events import read_trigger
from middle.app.ci_output import event_of, report
from middle.app.repo import resolve_repo
from middle.github import Gh, github_slug
from middle.progress import Progress


def job_name() -> str:
    """This job's name in claims and slots: Actions' run id and attempt, else the pid."""
    run = os.environ.get("GITHUB_RUN_ID")
    if run:
        return f"run-{run}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    return f"local-{os.getpid()}"


def ci_job(
    repo: str | Path, *, event_name: str, event_path: str, agent: str | None,
    artifacts: str | None, progress: Progress | None = None,
) -> list[JobResult]:  # fmt: skip
    root = git.repo_root(resolve_repo(repo))
    slug = github_slug(root)
    gh = Gh(root)
    trigger = read_trigger(event_name, event_of(event_path), gh, slug)
    job = job_name()
    if trigger.kind == "sweep":
        results = sweep(root, job=job, agent=agent, progress=progress)
    else:
        results = [run_job(root, trigger, job=job, agent=agent, progress=progress)]
    folder = Path(artifacts) if artifacts else None
    for result in results:
        issue_folder = folder / f"issue-{result.issue}" if folder and result.issue else folder
        report(result, trigger.kind, gh=gh, slug=slug, artifacts=issue_folder)
    return results
