"""The first steps of an implementation run: claim a slot, then the worktree."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.engine import StepContext, step
from middle.errors import GitError, RateLimitedError, SlotsFullError
from middle.refs import branch_name, repo_slug, session_name
from middle.steps.services import services
from middle.steps.transcripts import keep_transcript
from middle.store import (
    Readable,
    active_rate_limit,
    busy_scope,
    claim_slot,
    slot_holders,
    write_transaction,
)
from middle.system import git
from middle.system.skills import stamp_skills


def worktree_path(home: Path, repo: Path, ref: str) -> Path:
    return home / "worktrees" / repo_slug(repo) / f"issue-{ref}"


@step("check-slots", stop=stop_after_attempt(1))  # a refusal does not heal by retrying
def check_slots(ctx: StepContext) -> dict[str, Any]:
    """Claim an agent slot, or refuse: when the adapter is rate-limited, or when
    `max_concurrent` agents already run globally, in this repo or on this adapter.
    Counting and claiming are one transaction, so racing dispatches cannot overshoot."""
    config = services(ctx).config
    adapter = str(ctx.input["adapter"])
    with write_transaction(ctx.db):
        refuse_if_rate_limited(ctx.db, adapter)
        full = busy_scope(ctx.db, ctx.workflow_id, adapter, config)
        if full is not None:
            raise SlotsFullError(f"{full}; wait for one to park or finish, or raise max_concurrent")
        claim_slot(ctx.db, ctx.workflow_id)
    return {"running": len(slot_holders(ctx.db, besides=ctx.workflow_id))}


def fallback_adapter(
    db: Readable, config: Mapping[str, Any], adapter: str, registered: Collection[str]
) -> str:
    """`adapter`, or, while it is rate-limited, the next adapter of `[global]
    adapter_fallback` (after `adapter` in that list, wrapping round) that is registered and
    not rate-limited. Only for a run that no one pinned to an adapter (`--agent`, the
    Epic's `adapter:` or an `agent:` label): a pinned run waits for its own adapter."""
    order = [str(name) for name in config["global"].get("adapter_fallback") or ()]
    if not order or active_rate_limit(db, adapter) is None:
        return adapter
    start = order.index(adapter) + 1 if adapter in order else 0
    for name in order[start:] + order[:start]:
        if name != adapter and name in registered and active_rate_limit(db, name) is None:
            return name
    return adapter


def refuse_if_rate_limited(db: Readable, adapter: str) -> None:
    """`RateLimitedError` while `adapter` has a usage limit in force: until when, why,
    and how to lift it. Every dispatch asks before any row exists; `check-slots` asks
    again where it claims the slot."""
    limit = active_rate_limit(db, adapter)
    if limit is None:
        return
    until = limit["reset_at"] or "an unknown time"
    raise RateLimitedError(
        f"the {adapter} adapter is rate-limited until {until} ({limit['source']}); "
        f"dispatch after that, or clear it with: middle rate-limit clear {adapter}"
    )


def remove_worktree(ctx: StepContext) -> None:
    """Compensation: end the agent's session and remove the worktree (the branch stays).
    Uncommitted work is first committed to `middle/rescue/<ref>-<n>`; if that fails the
    worktree is kept. Either way the `end_note` scratch says so, and the run's end reason
    carries it."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["ref"])
    recorded = ctx.runs.get(ctx.workflow_id)["session_name"]
    services(ctx).tmux.kill_session(recorded or session_name(repo, ref))
    output = ctx.results.get("prepare-worktree") or {}
    if not output.get("worktree"):
        return
    path = Path(output["worktree"])
    if path.exists() and git.has_uncommitted_changes(path):
        try:  # never delete the agent's work: save it first, or keep the worktree
            saved = f"uncommitted work saved to branch {git.rescue_uncommitted(repo, path, ref)}"
        except GitError as exc:
            note = f"worktree kept at {path}: it has uncommitted work that could not be saved"
            ctx.runs.save_scratch(ctx.workflow_id, "end_note", f"{note} ({exc})")
            return
        ctx.runs.save_scratch(ctx.workflow_id, "end_note", saved)
    keep_transcript(ctx)
    git.remove_worktree(repo, path)


def agent_worktree(
    ctx: StepContext, path: Path, branch: str | None, session: str, start: str | None = None
) -> bool:
    """The run's worktree at `path`, ready for its agent: on `branch` (made from `start`,
    by default the run's base, if new), or detached at the base for a run that commits
    nothing (the recommender, a docs audit); middle's files ignored, its skills stamped in
    where the branch lacks them, `.middle/` made; the worktree, branch, session and
    session token recorded on the run. Safe to re-run: an existing worktree is reused and
    the token is made once. True when the worktree was made now."""
    repo, base = Path(ctx.input["repo"]), start or str(ctx.input["base"])
    try:
        if branch is not None:
            created = git.add_worktree(repo, path, branch, base)
        elif created := not (path / ".git").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            git.git("worktree", "add", "--detach", str(path), base, cwd=repo)
    except OSError as exc:
        raise GitError(
            f"cannot create the worktree at {path}: {exc.strerror or exc}; check that "
            f"{path.parent} is a writable directory"
        ) from exc
    git.ignore_middle_files(repo)
    stamp_skills(path, str(services(ctx).config["epic_store"].get("mode", "file")))
    (path / ".middle").mkdir(exist_ok=True)
    token = ctx.runs.get(ctx.workflow_id)["session_token"] or secrets.token_hex(16)
    ctx.runs.update(
        ctx.workflow_id,
        worktree_path=str(path),
        pr_branch=branch,
        session_name=session,
        session_token=token,
    )
    return created


@step("prepare-worktree", compensate=remove_worktree)
def prepare_worktree(ctx: StepContext) -> dict[str, Any]:
    """Check out `middle/issue-<ref>` in the issue's own worktree (`agent_worktree`)."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["ref"])
    path = worktree_path(services(ctx).home, repo, ref)
    branch = branch_name(ref)
    created = agent_worktree(ctx, path, branch, session_name(repo, ref))
    return {"worktree": str(path), "branch": branch, "created": created}
