"""`recommend`: run the recommender workflow for one repo, now, in the foreground."""

from __future__ import annotations

import uuid
from pathlib import Path

from middle.app.repo import base_branch, resolve_repo
from middle.app.runtime import Outcome, Runtime
from middle.config import workflow_adapter
from middle.steps.dispatch import refuse_if_rate_limited
from middle.steps.services import Progress
from middle.system import git

WORKFLOW = "recommender"


def recommend(
    repo: str | Path, progress: Progress | None = None, *, agent: str | None = None
) -> Outcome:
    """Rank the repo's open Epics with the configured agent and write the state issue."""
    runtime = Runtime(git.repo_root(resolve_repo(repo)))
    adapter = agent or workflow_adapter(runtime.config, "recommender")
    runner = runtime.runner(adapter, progress)
    runner.services.adapter.check_available()
    refuse_if_rate_limited(runtime.db, adapter)
    run_input = {
        "repo": str(runtime.root),
        "adapter": adapter,
        "base": base_branch(runtime.config, runtime.root),
        "source": "manual",
    }
    workflow_id = f"rec-{uuid.uuid4().hex[:10]}"
    result = runner.start(WORKFLOW, run_input, workflow_id)
    row = runtime.runs.get(workflow_id)
    if row["state"] == "completed":
        output = runtime.runs.latest_output(workflow_id, "write-state-issue") or {}
        ready = ", ".join(output.get("ready", [])) or "none"
        message = f"wrote {output.get('where', 'the state issue')} (ready, in order: {ready})"
        return Outcome(workflow_id, "-", row["state"], message, True)
    reason = row["end_reason"] or result.status
    return Outcome(workflow_id, "-", row["state"], f"{row['state']}: {reason}", False)
