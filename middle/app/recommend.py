"""`recommend`: run the recommender workflow for one repo, now, in the foreground."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from middle import git
from middle.app.home import open_home_db
from middle.app.implement import Outcome
from middle.app.plugins import load_plugins
from middle.app.repo import resolve_repo
from middle.config import load_config, middle_home
from middle.engine import Runner
from middle.progress import Progress
from middle.steps.dispatch import raise_rate_limited
from middle.store import get_workflow
from middle.store.checkpoints import load_checkpoints
from middle.store.limits import active_rate_limit
from middle.tmux import Tmux

WORKFLOW = "recommender"


def recommender_adapter(config: dict[str, Any]) -> str:
    return str(
        config["recommender"].get("adapter")
        or config["repo"].get("default_adapter")
        or config["global"]["default_adapter"]
    )


def recommend(
    repo: str | Path, progress: Progress | None = None, *, agent: str | None = None
) -> Outcome:
    """Rank the repo's open Epics with the configured agent and write the state issue."""
    root = git.repo_root(resolve_repo(repo))
    home = middle_home()
    config = load_config(home, root)
    adapter_name = agent or recommender_adapter(config)
    registry = load_plugins(root).registry
    adapter = registry.adapter(adapter_name, config)
    adapter.check_available()
    db = open_home_db(home)
    limited = active_rate_limit(db, adapter_name)
    if limited is not None:
        raise_rate_limited(adapter_name, limited)
    services = {
        "home": home,
        "config": config,
        "store": registry.issue_store(root, config),
        "adapter": adapter,
        "tmux": Tmux(),
        "progress": progress,
    }
    on_step = progress.step if progress is not None else None
    runner = Runner(db, load_plugins(root).registry, services=services, on_step=on_step)
    run_input = {
        "repo": str(root),
        "epic_ref": None,
        "adapter": adapter_name,
        "base": git.current_branch(root),
        "source": "manual",
    }
    workflow_id = f"rec-{uuid.uuid4().hex[:10]}"
    result = runner.start(WORKFLOW, run_input, workflow_id)
    row = get_workflow(db, workflow_id)
    if row["state"] == "completed":
        wrote = next(
            (cp for cp in load_checkpoints(db, workflow_id) if cp["name"] == "write-state-issue"),
            None,
        )
        output = json.loads(wrote["output_json"]) if wrote else {}
        ready = ", ".join(output.get("ready", [])) or "none"
        message = f"wrote {output.get('where', 'the state issue')} (ready, in order: {ready})"
        return Outcome(workflow_id, "-", row["state"], message, True)
    reason = row["end_reason"] or result.status
    return Outcome(workflow_id, "-", row["state"], f"{row['state']}: {reason}", False)
