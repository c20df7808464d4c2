"""The steps of one child of a fanned-out Epic (issue 23): its worktree and branch off
the integration branch, and the merge back into it.

A child is the run of one sub-issue. It shares its Epic's `ref` (the issue its agent
reads) and names its sub-issue in `sub`; its subject is `<ref>/<sub>`, so the store's
one-live-run-per-issue index holds one child per sub-issue. middle merges a child whose
turn is done and whose gates passed: a fast-forward where it can, else a merge commit.
On a conflict it resolves nothing: the child's agent gets another turn, in its own
worktree, to rebase onto the integration head.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.engine import StepContext, step
from middle.engine.locks import RunLocks
from middle.errors import GitError
from middle.refs import repo_slug, session_name
from middle.steps.dispatch import agent_worktree
from middle.steps.services import services
from middle.steps.transcripts import keep_transcript
from middle.store import database_file
from middle.system import git
from middle.system.files import write_private

MERGE_WAIT_SECONDS = 600.0  # one merge at a time into an Epic's integration branch


def integration_branch(ref: str) -> str:
    return f"middle/epic-{ref}"


def sub_name(sub: str) -> str:
    """A sub-issue's id as a name part (of a branch, a folder, a run's id): a sub-issue in
    another repository, `owner/name#n`, becomes `owner-name-n`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", sub)


def child_branch(ref: str, sub: str) -> str:
    """`middle/epic-<ref>-<sub>`: not `middle/epic-<ref>/<sub>`, which git cannot hold
    beside the integration branch `middle/epic-<ref>`."""
    return f"{integration_branch(ref)}-{sub_name(sub)}"


def child_worktree(home: Path, repo: Path, ref: str, sub: str) -> Path:
    return home / "worktrees" / repo_slug(repo) / f"epic-{ref}-{sub_name(sub)}"


def evidence_file(home: Path, repo: Path, ref: str, sub: str) -> Path:
    """Where a merged child's evidence is kept: what merged, at which heads, its gates."""
    return home / "evidence" / repo_slug(repo) / f"epic-{ref}" / f"{sub_name(sub)}.json"


def remove_child_worktree(ctx: StepContext) -> None:
    """Compensation: end the child's session and remove its worktree (its branch stays)."""
    row = ctx.runs.get(ctx.workflow_id)
    if row["session_name"]:
        services(ctx).tmux.kill_session(row["session_name"])
    output = ctx.results.get("prepare-child") or {}
    if output.get("worktree"):
        git.remove_worktree(Path(ctx.input["repo"]), Path(output["worktree"]))


@step("prepare-child", compensate=remove_child_worktree)
def prepare_child(ctx: StepContext) -> dict[str, Any]:
    """Check out `middle/epic-<ref>-<sub>` from the integration branch's head in the
    child's own worktree, ready for its agent as any run's is (`agent_worktree`: middle's
    skills, which the child's brief points to, stamped in). Safe to re-run."""
    repo, ref, sub = Path(ctx.input["repo"]), str(ctx.input["ref"]), str(ctx.input["sub"])
    home = services(ctx).home
    path = child_worktree(home, repo, ref, sub)
    branch = child_branch(ref, sub)
    session = session_name(repo, f"epic-{ref}-{sub_name(sub)}")
    created = agent_worktree(ctx, path, branch, session, start=str(ctx.input["integration"]))
    return {"worktree": str(path), "branch": branch, "created": created}


@step("merge-child", stop=stop_after_attempt(3))
def merge_child(ctx: StepContext) -> dict[str, Any]:
    """Merge the child's branch into the integration branch, one merge at a time.
    Merged (now or before a crash): tick the sub-issue and keep its evidence. A
    conflict: ask the child's agent to rebase (the next turn's brief)."""
    repo, ref, sub = Path(ctx.input["repo"]), str(ctx.input["ref"]), str(ctx.input["sub"])
    integration = str(ctx.input["integration"])
    branch = child_branch(ref, sub)
    home = services(ctx).home
    locks = RunLocks.beside(database_file(ctx.db))
    try:
        with locks.hold(f"{ctx.input['parent']}.integration", wait=MERGE_WAIT_SECONDS):
            head = git.git("rev-parse", f"refs/heads/{branch}", cwd=repo)
            target = git.git("rev-parse", f"refs/heads/{integration}", cwd=repo)
            if not git.is_ancestor(repo, head, target):
                conflicts = git.merge_conflicts(repo, target, head)  # a test merge, as poll's
                if conflicts:
                    ctx.record_event(
                        "epic.conflict", {"sub": sub, "files": conflicts, "head": target}
                    )
                    return {
                        "merged": False,
                        "next": "continue",
                        "brief": "conflict",
                        "files": conflicts,
                        "integration": integration,
                        "head": target,
                    }
                worktree = Path(ctx.input["integration_worktree"])
                message = f"middle: merge sub-issue {sub} of {ref} ({branch})"
                git.merge_branch(worktree, branch, message)
                target = git.git("rev-parse", "HEAD", cwd=worktree)
            services(ctx).issues.tick_sub_issue(ref, sub)
    finally:
        locks.close()
    turn = ctx.results.get("launch-and-drive") or {}
    evidence = {
        "epic": ref,
        "sub": sub,
        "branch": branch,
        "head": head,
        "merged_into": integration,
        "integration_head": target,
        "gates": turn.get("gates") or {},
        "given_evidence": turn.get("given_evidence") or [],
    }
    path = evidence_file(home, repo, ref, sub)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, json.dumps(evidence, indent=2).encode())
    ctx.record_event("epic.merged", {"sub": sub, "head": head, "integration_head": target})
    return {"merged": True, "next": "finish", "head": head, "integration_head": target,
            "evidence": str(path)}  # fmt: skip


@step("report-to-parent", stop=stop_after_attempt(3))
def report_to_parent(ctx: StepContext) -> dict[str, Any]:
    """Tell the Epic's run how this child ended, through a durable signal
    (`child-<sub>`), and wake it (`children`); then the worktree goes, the branch stays."""
    parent, sub = str(ctx.input["parent"]), str(ctx.input["sub"])
    merge = ctx.results.get("merge-child") or {}
    turn = ctx.results.get("launch-and-drive") or {}
    report = {
        "sub": sub,
        "merged": bool(merge.get("merged")) and ctx.results.get("route-child") == "merge",
        "head": merge.get("head"),
        "integration_head": merge.get("integration_head"),
        "evidence": merge.get("evidence"),
        "given_evidence": turn.get("given_evidence") or [],
    }
    ctx.runs.deliver(parent, f"child-{sub}", report)
    ctx.runs.deliver(parent, "children", {"from": sub})  # a wake-up: False if one waits
    worktree = (ctx.results.get("prepare-child") or {}).get("worktree")
    if worktree:
        keep_transcript(ctx)
        try:
            git.remove_worktree(Path(ctx.input["repo"]), Path(worktree))
        except GitError as exc:  # the branch holds the work; a left folder is only noise
            ctx.record_event("epic.worktree-left", {"path": worktree, "error": str(exc)})
    return report


def route_child_turn(ctx: StepContext) -> str:
    """After a child's turn: merge a done, end a failure, park anything else."""
    outcome = ctx.results["launch-and-drive"]["outcome"]
    return {"done": "merge", "failed": "end"}.get(outcome, "park")


def another_child_turn(ctx: StepContext) -> bool:
    """Another turn after a conflict, or after a human's signal asked for one."""
    if ctx.results.get("route-child") == "merge":
        return bool((ctx.results.get("merge-child") or {}).get("next") == "continue")
    decision = ctx.results.get("resume-or-finalize") or {}
    return ctx.results.get("route-child") == "park" and decision.get("next") in (
        "continue",
        "hold",
    )
