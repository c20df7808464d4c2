"""The recommender's steps: gather the facts, brief an agent in a read-only worktree,
check the plan it wrote against v1 (re-prompting with the errors a bounded number of
times), then resolve blockers, apply the dispatcher's sections and write the state issue.

The worktree is a detached checkout of the base branch's HEAD: nothing the agent commits
there is kept, and only `.middle/plan.md` is read back.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tenacity import retry_if_not_exception_type, stop_after_attempt

from middle.engine import StepContext, step
from middle.errors import StateIssueError
from middle.issues.labels import excluded_category, hold_label
from middle.issues.state_location import write_state
from middle.refs import repo_slug
from middle.state_issue import (
    BlockedItem,
    BlockerStatus,
    Excluded,
    NeedsHuman,
    ReadyRow,
    StateIssue,
    cut_title,
    parse,
    render,
    resolve_blockers,
    v1_interval,
    validate,
    with_dispatcher_sections,
)
from middle.state_issue.draft import EpicFacts, RunFacts, draft_plan
from middle.steps.dispatch import agent_worktree
from middle.steps.queue_facts import (
    completed_refs,
    configured_adapters,
    dispatcher_sections,
    gather_epics,
    gather_runs,
    quota_status,
)
from middle.steps.recommend_brief import recommender_brief
from middle.steps.services import services
from middle.steps.turn import CheckedTurn
from middle.store import utcnow
from middle.system import git

PLAN = Path(".middle") / "plan.md"
FACTS = Path(".middle") / "queue.json"


def _remove_worktree(ctx: StepContext) -> None:
    output = ctx.results.get("prepare-recommender") or {}
    if output.get("session"):
        services(ctx).tmux.kill_session(output["session"])
    if output.get("worktree"):
        git.remove_worktree(Path(ctx.input["repo"]), Path(output["worktree"]))


@step("gather-queue", stop=stop_after_attempt(2))
def gather_queue(ctx: StepContext) -> dict[str, Any]:
    """Read the open Epics, their progress and blockers, and the live runs."""
    repo, store = Path(ctx.input["repo"]), services(ctx).issues
    epics = gather_epics(store, services(ctx).config)
    runs = gather_runs(ctx.db, repo, store)
    return {
        "epics": [dataclasses.asdict(e) for e in epics],
        "runs": [dataclasses.asdict(r) for r in runs],
        "completed": completed_refs(ctx.db, repo),
    }


@step("prepare-recommender", compensate=_remove_worktree)
def prepare_recommender(ctx: StepContext) -> dict[str, Any]:
    """A detached worktree holding the facts and middle's own draft plan (valid v1)."""
    repo, config = Path(ctx.input["repo"]), services(ctx).config
    path = services(ctx).home / "worktrees" / repo_slug(repo) / f"recommender-{ctx.workflow_id}"
    session = f"middle-{repo_slug(repo)}--recommender-{ctx.workflow_id[-8:]}"
    agent_worktree(ctx, path, None, session)
    facts = ctx.results["gather-queue"]
    draft = _draft(ctx, facts)
    (path / FACTS).write_text(json.dumps(facts, indent=2))
    (path / PLAN).write_text(render(draft))
    return {
        "worktree": str(path),
        "session": session,
        "adapters": configured_adapters(config, services(ctx).plugins.adapters),
    }


def _epics(facts: dict[str, Any]) -> list[EpicFacts]:
    return [
        EpicFacts(**{**e, "blockers": tuple(e["blockers"]), "labels": tuple(e.get("labels", ()))})
        for e in facts["epics"]
    ]


def _held(facts: dict[str, Any]) -> dict[str, Excluded]:
    """The Excluded row of each Epic a hold label keeps from dispatch, by ref."""
    held = {}
    for epic in _epics(facts):
        label = hold_label(epic.labels)
        if label is not None:
            held[epic.ref] = Excluded(
                epic.ref, excluded_category(label), f"labelled {label}; never dispatched"
            )
    return held


def _finished(facts: dict[str, Any]) -> dict[str, NeedsHuman]:
    """The Needs-human row of each open Epic whose newest run completed, by ref: its
    branch waits for a person to merge it and close the Epic, not for another run."""
    completed = set(facts.get("completed", ()))
    return {
        epic.ref: NeedsHuman(
            epic.ref,
            "ready for review",
            "its run completed; merge its branch and close the issue",
            epic.link,
        )
        for epic in _epics(facts)
        if epic.ref in completed
    }


def without_finished(state: StateIssue, finished: dict[str, NeedsHuman]) -> StateIssue:
    """`state` with no finished Epic ranked: each moves from Ready to Needs human."""
    ready = [row for row in state.ready if row.ref not in finished]
    listed = {item.ref for item in state.needs_human}
    return dataclasses.replace(
        state,
        ready=tuple(dataclasses.replace(row, rank=rank) for rank, row in enumerate(ready, 1)),
        needs_human=state.needs_human
        + tuple(row for ref, row in finished.items() if ref not in listed),
    )


def without_held(state: StateIssue, held: dict[str, Excluded]) -> StateIssue:
    """`state` with no held Epic ranked: each moves from Ready to Excluded, and the
    ranks close up. The plan an agent wrote gets the same rule as middle's draft."""
    ready = [row for row in state.ready if row.ref not in held]
    listed = {item.ref for item in state.excluded}
    return dataclasses.replace(
        state,
        ready=tuple(dataclasses.replace(row, rank=rank) for rank, row in enumerate(ready, 1)),
        excluded=state.excluded + tuple(e for ref, e in held.items() if ref not in listed),
    )


def _draft(ctx: StepContext, facts: dict[str, Any]) -> Any:
    held, finished = _held(facts), _finished(facts)
    epics = [epic for epic in _epics(facts) if epic.ref not in held and epic.ref not in finished]
    runs = [RunFacts(**r) for r in facts["runs"]]
    state = draft_plan(
        epics,
        runs,
        generated=utcnow(),
        run_id=ctx.workflow_id[-8:],
        interval=str(services(ctx).config["recommender"]["interval"]),
    )
    state = without_finished(without_held(state, held), finished)
    return with_dispatcher_sections(state, _sections(ctx, facts))


def _sections(ctx: StepContext, facts: dict[str, Any]) -> Any:
    store = services(ctx).issues
    runs = [RunFacts(**r) for r in facts["runs"]]
    quota = quota_status(store)
    return dispatcher_sections(ctx.db, Path(ctx.input["repo"]), services(ctx).config, runs, quota)


class RecommenderTurn(CheckedTurn):
    """A turn over the plan file, with the recommender's brief; `check-plan` reads it."""

    check_step = "check-plan"

    def checked_brief(self, errors: list[str]) -> str:
        facts = self.ctx.results["gather-queue"]
        config = services(self.ctx).config
        adapters = configured_adapters(config, services(self.ctx).plugins.adapters)
        return recommender_brief(facts, adapters, errors)


@step("recommend-turn", stop=stop_after_attempt(1))
def recommend_turn(ctx: StepContext) -> dict[str, Any]:
    """One agent turn over the plan file."""
    return RecommenderTurn(ctx, None).run()


@step("check-plan", stop=stop_after_attempt(1))
def check_plan(ctx: StepContext) -> dict[str, Any]:
    """Parse and validate the plan the agent left; the errors go into the next brief."""
    turn = ctx.results["recommend-turn"]
    if turn["outcome"] in ("failed", "rate-limited"):
        raise StateIssueError(
            f"the recommender agent ended its turn {turn['outcome']}: "
            f"{turn.get('reason') or turn.get('reset_at') or 'no reason given'}"
        )
    worktree = Path(ctx.results["prepare-recommender"]["worktree"])
    mode = services(ctx).issues.mode
    try:
        text = (worktree / PLAN).read_text(encoding="utf-8")
        errors = validate(
            parse(text),
            adapters=configured_adapters(services(ctx).config, services(ctx).plugins.adapters),
            mode=mode,
        )
    except FileNotFoundError:
        errors = [f"{PLAN} is missing; write the plan there"]
    except StateIssueError as exc:
        errors = [str(exc)]
    ctx.record_event("recommender.plan-checked", {"attempt": ctx.round, "errors": errors})
    return {"ok": not errors, "errors": errors, "attempt": ctx.round}


def another_attempt(ctx: StepContext) -> bool:
    checked = ctx.results["check-plan"]
    limit = int(services(ctx).config["recommender"]["max_attempts"])
    return not checked["ok"] and int(checked["attempt"]) < limit


@step(
    "write-state-issue",
    stop=stop_after_attempt(3),
    retry=retry_if_not_exception_type(StateIssueError),  # a refusal does not heal
)
def write_state_issue(ctx: StepContext) -> dict[str, Any]:
    """Resolve blockers against live state, apply the dispatcher's sections, and write
    the state issue (never over a body that is not v1). Safe to re-run: it rewrites the
    same plan."""
    checked = ctx.results["check-plan"]
    if not checked["ok"]:
        raise StateIssueError(
            f"the recommender's plan is still not valid v1 after {checked['attempt']} "
            f"attempt(s): {checked['errors'][0]}"
        )
    worktree = Path(ctx.results["prepare-recommender"]["worktree"])
    store, facts = services(ctx).issues, ctx.results["gather-queue"]
    titles = {e["ref"]: e for e in facts["epics"]}
    plan = parse((worktree / PLAN).read_text(encoding="utf-8"))

    def lookup(ref: str) -> BlockerStatus:
        state, title = store.blocker_status(ref.removeprefix("#"))
        return BlockerStatus(state, title)

    def promote(item: BlockedItem) -> ReadyRow:
        known = titles.get(item.ref, {})
        return ReadyRow(
            0,
            item.ref,
            cut_title(str(known.get("title") or item.ref)),
            str(known.get("adapter") or ctx.input["adapter"]),
            int(known.get("open_subs") or 1),
            f"blocker `{item.blocker.ref}` closed; re-ranked on the next run",
        )

    state = without_held(resolve_blockers(plan, lookup, promote), _held(facts))
    state = without_finished(state, _finished(facts))
    interval = v1_interval(str(services(ctx).config["recommender"]["interval"]))
    state = dataclasses.replace(
        state, generated=utcnow(), run_id=ctx.workflow_id[-8:], interval=interval
    )
    state = with_dispatcher_sections(state, _sections(ctx, facts))
    location = store.state_location()
    write_state(location, state)
    _remove_worktree(ctx)
    ctx.record_event(
        "recommender.wrote",
        {"where": location.where, "ready": [row.ref for row in state.ready]},
    )
    return {"where": location.where, "ready": [row.ref for row in state.ready]}
