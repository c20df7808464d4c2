"""`middle ci-job`: read the event Actions passed, do the job's work, report it.

Everything a job does is here, behind one command, so the generated workflow holds no
logic of its own (`middle ci-job` is all its run step says).
"""

from __future__ import annotations

import os
from pathlib import Path

from middle.app.ci.events import read_event, read_trigger
from middle.app.ci.job import JobResult, run_job, sweep
from middle.app.ci.output import report
from middle.app.repo import resolve_repo
from middle.steps.services import Progress
from middle.system import git
from middle.system.github import Gh, github_slug


def job_name() -> str:
    """This job's name in claims and slots: Actions' run id and attempt, else the pid."""
    run = os.environ.get("GITHUB_RUN_ID")
    if run:
        return f"run-{run}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    return f"local-{os.getpid()}"


# What `gh auth setup-git` writes, as git's environment config instead of a file: reset
# any other helper for github.com, then ask gh, which answers with the token it holds.
GIT_CREDENTIAL_HELPER = (
    ("credential.https://github.com.helper", ""),
    ("credential.https://github.com.helper", "!gh auth git-credential"),
)


def git_credentials_from_gh() -> None:
    """On Actions, let middle's own git calls (the branch and the state refs) fetch and
    push with the job's token, by asking `gh` for it. Only the helper's name goes into
    this process's environment (the token stays where the workflow put it, `GH_TOKEN`),
    nothing is written to `.git/config` (the checkout runs with
    `persist-credentials: false`), and the agent, whose environment is an allow-list,
    gets neither."""
    if os.environ.get("GITHUB_ACTIONS") != "true" or not os.environ.get("GH_TOKEN"):
        return
    index = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    for offset, (key, value) in enumerate(GIT_CREDENTIAL_HELPER):
        os.environ[f"GIT_CONFIG_KEY_{index + offset}"] = key
        os.environ[f"GIT_CONFIG_VALUE_{index + offset}"] = value
    os.environ["GIT_CONFIG_COUNT"] = str(index + len(GIT_CREDENTIAL_HELPER))


def ci_route(event_name: str, event_path: str, repo: str | Path = ".") -> str | None:
    """The issue this event is for, if whoever sent it may start work (else None)."""
    event = read_event(event_path)
    root = git.repo_root(resolve_repo(repo))
    slug = github_slug(root)
    trigger = read_trigger(event_name, event, Gh(root), slug)
    return None if trigger.skip is not None else trigger.issue


def ci_job(
    repo: str | Path, *, event_name: str, event_path: str, agent: str | None,
    artifacts: str | None, progress: Progress | None = None,
) -> list[JobResult]:  # fmt: skip
    event = read_event(event_path)
    root = git.repo_root(resolve_repo(repo))
    slug = github_slug(root)
    gh = Gh(root)
    trigger = read_trigger(event_name, event, gh, slug)
    git_credentials_from_gh()
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
