"""The first steps of an implementation run: claim a slot, then the worktree."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle import git
from middle.engine import StepContext, step
from middle.errors import MiddleError
from middle.refs import branch_name, repo_slug, session_name
from middle.store import get_workflow, list_workflows, update_workflow


class SlotsFullError(MiddleError):
    """Every agent slot allowed by max_concurrent is taken."""


def worktree_path(home: Path, repo: Path, ref: str) -> Path:
    return home / "worktrees" / repo_slug(repo) / f"issue-{ref}"


@step("check-slots", stop=stop_after_attempt(1))  # a refusal does not heal by retrying
def check_slots(ctx: StepContext) -> dict[str, Any]:
    """Refuse when `max_concurrent` agents already run, globally or in this repo."""
    config = ctx.services["config"]
    me = get_workflow(ctx.db, ctx.workflow_id)
    busy = [
        row
        for row in list_workflows(ctx.db, state=["launching", "running"])
        if row["id"] != me["id"] and row["created_at"] < me["created_at"]
    ]
    in_repo = [row for row in busy if row["repo"] == me["repo"]]
    limits = (
        ("global", int(config["global"]["max_concurrent"]), busy),
        ("repo", int(config["limits"]["max_concurrent"]), in_repo),
    )
    for scope, limit, taken in limits:
        if len(taken) >= limit:
            names = ", ".join(f"{r['epic_ref']} ({r['id']})" for r in taken)
            raise SlotsFullError(
                f"all {limit} {scope} agent slot(s) are busy: {names}; wait for one to park "
                f"or finish, or raise max_concurrent"
            )
    return {"running": len(busy)}


def remove_worktree(ctx: StepContext) -> None:
    """Compensation: end the agent's session and remove the worktree (the branch stays)."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["epic_ref"])
    ctx.services["tmux"].kill_session(session_name(repo, ref))
    output = ctx.results.get("prepare-worktree") or {}
    if output.get("worktree"):
        git.remove_worktree(repo, Path(output["worktree"]))


@step("prepare-worktree", compensate=remove_worktree)
def prepare_worktree(ctx: StepContext) -> dict[str, Any]:
    """Check out `middle/issue-<ref>` in the issue's own worktree. Safe to re-run: an
    existing worktree is reused, and the session token is made once."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["epic_ref"])
    path = worktree_path(ctx.services["home"], repo, ref)
    branch = branch_name(ref)
    created = git.add_worktree(repo, path, branch, str(ctx.input["base"]))
    git.ignore_middle_files(repo)
    token = get_workflow(ctx.db, ctx.workflow_id)["session_token"] or secrets.token_hex(16)
    update_workflow(
        ctx.db,
        ctx.workflow_id,
        worktree_path=str(path),
        pr_branch=branch,
        session_name=session_name(repo, ref),
        session_token=token,
    )
    return {"worktree": str(path), "branch": branch, "created": created}
