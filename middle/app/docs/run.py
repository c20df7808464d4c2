"""`docs`: run the documentation workflow for one repo, now, in the foreground; and the
`[docs]` interval `serve` keeps for every registered repo.

By default it audits: the agent's report is kept as `$MIDDLE_HOME/docs/<repo>/<run>.md`
and nothing is committed or pushed. With `--write` (or `[docs] write = true`) the agent
commits its fixes on `middle/docs-<run>`, which must pass the repo's gates; middle then
opens a draft pull request (GitHub mode) or leaves the branch ready (file mode).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlite_utils import Database

from middle.app.home import spawn_middle
from middle.app.repo import base_branch, resolve_repo
from middle.app.runtime import Outcome, Runtime
from middle.config import workflow_adapter
from middle.engine.locks import RunLocks
from middle.engine.runs import Runs
from middle.errors import DocsError
from middle.steps.dispatch import refuse_if_rate_limited
from middle.steps.services import Progress
from middle.store import database_file, list_workflows
from middle.system import git

WORKFLOW = "documentation"


def docs_running(db: Database, repo: Path) -> bool:
    """Whether a process drives a documentation run for `repo` now (a live run nobody
    drives is one whose process died: the next `docs` ends it)."""
    locks = RunLocks.beside(database_file(db))
    try:
        live = list_workflows(db, kind=WORKFLOW, live=True, repo=str(repo))
        return any(locks.is_held(row["id"]) for row in live)
    finally:
        locks.close()


def docs(
    repo: str | Path,
    progress: Progress | None = None,
    *,
    write: bool | None = None,
    agent: str | None = None,
    source: str = "manual",
) -> tuple[Outcome, str | None]:
    """Audit the repo's docs with an agent (and with `write`, fix them on a branch). The
    outcome, and the report's text when the run completed."""
    runtime = Runtime(git.repo_root(resolve_repo(repo)))
    adapter = agent or workflow_adapter(runtime.config, "docs")
    writing = bool(runtime.config["docs"]["write"] if write is None else write)
    runner = runtime.runner(adapter, progress)
    for row in list_workflows(runtime.db, kind=WORKFLOW, live=True, repo=str(runtime.root)):
        if runner.driven(row["id"]):
            raise DocsError(
                f"a documentation run for {runtime.root} is live already ({row['id']}); "
                "see: middle status"
            )
        # nobody drives it: the process running it died. End it (its worktree and session
        # go), or it would hold the repo's documentation runs off for ever.
        runtime.runner(str(Runs.input(row).get("adapter") or adapter)).cancel(row["id"], wait=0)
        if progress is not None:
            progress.note(f"ended documentation run {row['id']}: the process driving it died")
    runner.services.adapter.check_available()
    refuse_if_rate_limited(runtime.db, adapter)
    run_input = {
        "repo": str(runtime.root),
        "adapter": adapter,
        "base": base_branch(runtime.config, runtime.root),
        "write": writing,
        "source": source,
    }
    workflow_id = f"docs-{uuid.uuid4().hex[:10]}"
    result = runner.start(WORKFLOW, run_input, workflow_id)
    row = runtime.runs.get(workflow_id)
    if row["state"] != "completed":
        reason = row["end_reason"] or result.status
        return Outcome(workflow_id, "-", row["state"], f"{row['state']}: {reason}", False), None
    done = runtime.runs.latest_output(workflow_id, "finish-docs") or {}
    report = Path(done["report"])
    if done.get("offered"):
        said = f"{done['commits']} commit(s) offered: {done['offered']}"
    elif writing:
        said = "no commits: nothing to offer"
    else:
        said = "an audit: nothing committed or pushed"
    message = f"docs report kept at {report} ({said})"
    return Outcome(workflow_id, "-", row["state"], message, True), report.read_text()


def spawn_docs(repo: Path) -> None:
    """Run `middle docs` in its own process, so a long agent turn never blocks serve."""
    spawn_middle(["docs", "--repo", str(repo)], "docs")
