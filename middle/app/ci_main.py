"""`middle ci-job`: read the event Actions passed, do the job's work, report it.

Everything a job does is here, behind one command, so the generated workflow holds no
logic of its own (`middle ci-job` is all its run step says).
"""

from __future__ import annotations

import base64
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


def git_auth_from_env() -> None:
    """On Actions, let git fetch and push with the job's token (`GH_TOKEN`) the way
    actions/checkout does, but through git's environment config, so the token is never
    written to `.git/config` (the checkout runs with `persist-credentials: false`)."""
    token = os.environ.get("GH_TOKEN")
    if os.environ.get("GITHUB_ACTIONS") != "true" or not token:
        return
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    index = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    os.environ[f"GIT_CONFIG_KEY_{index}"] = "http.https://github.com/.extraheader"
    os.environ[f"GIT_CONFIG_VALUE_{index}"] = f"AUTHORIZATION: basic {basic}"
    os.environ["GIT_CONFIG_COUNT"] = str(index + 1)


def ci_route(event_name: str, event_path: str, repo: str | Path = ".") -> str | None:
    """The issue this event is for, if whoever sent it may start work (else None)."""
    root = git.repo_root(resolve_repo(repo))
    slug = github_slug(root)
    trigger = read_trigger(event_name, event_of(event_path), Gh(root), slug)
    return None if trigger.skip is not None else trigger.issue


def ci_job(
    repo: str | Path, *, event_name: str, event_path: str, agent: str | None,
    artifacts: str | None, progress: Progress | None = None,
) -> list[JobResult]:  # fmt: skip
    root = git.repo_root(resolve_repo(repo))
    git_auth_from_env()
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
