"""The documentation workflow's task: `middle docs`."""

from __future__ import annotations

from invoke import Context, Exit

from middle.cli.helpers import REPO_HELP, middle_task
from middle.cli.helpers import console as _console


@middle_task(
    help={
        "repo": REPO_HELP,
        "write": "commit the fixes and offer them for review: a draft pull request in "
        "GitHub mode, a ready branch in file mode (default: [docs] write, else audit only)",
        "agent": "the agent adapter for this run (default: [docs] adapter, then the repo's "
        "default)",
    }
)
def docs(c: Context, repo: str = ".", write: bool = False, agent: str | None = None) -> None:
    """Audit the repo's docs with an agent; with --write, fix them on a branch."""
    from middle.app.docs.run import docs as run_docs
    from middle.cli.progress import Progress

    with Progress() as progress:
        outcome, report = run_docs(repo, progress, write=True if write else None, agent=agent)
    if not outcome.ok:
        raise Exit(f"middle: docs {outcome.message}", code=1)
    console = _console()
    console.print(outcome.message, markup=False, highlight=False)
    if report:
        console.print(f"\n{report.rstrip()}", markup=False, highlight=False)
