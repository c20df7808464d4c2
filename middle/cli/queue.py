"""The tasks of the work queue: the recommender and auto-dispatch."""

from __future__ import annotations

from invoke import Context, Exit

from middle.cli.helpers import REPO_HELP, middle_task
from middle.cli.helpers import console as _console


@middle_task(
    help={
        "repo": REPO_HELP,
        "agent": "the agent adapter for this run (default: [recommender] adapter, then the "
        "repo's default)",
    }
)
def recommend(c: Context, repo: str = ".", agent: str | None = None) -> None:
    """Rank the repo's open Epics with an agent and write the state issue."""
    from middle.app.recommender.recommend import recommend as run_recommend
    from middle.cli.progress import Progress

    with Progress() as progress:
        outcome = run_recommend(repo, progress, agent=agent)
    if not outcome.ok:
        raise Exit(f"middle: recommend {outcome.message}", code=1)
    _console().print(outcome.message, markup=False)


@middle_task(help={"repo": REPO_HELP})
def auto_dispatch(c: Context, repo: str = ".") -> None:
    """One auto-dispatch pass: the eligible Ready items of the plan, one per free slot."""
    from middle.app.home import open_home_db
    from middle.app.repo import resolve_repo
    from middle.app.service.autodispatch import dispatch_ready
    from middle.system import git

    dispatched = dispatch_ready(open_home_db(), git.repo_root(resolve_repo(repo)))
    if not dispatched:
        _console().print("Nothing to dispatch.")
    for found in dispatched:
        _console().print(
            f"dispatched {found.ref} ({found.workflow_id}): {found.reason}", markup=False
        )
