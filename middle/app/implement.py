"""The implementation use cases: implement, answer, review, resume, cancel.

Each validates everything a user can get wrong before it creates a row, a worktree or a
session, then hands the run to the engine and reports how it left the workflow.
"""

from __future__ import annotations

import getpass
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle import git
from middle.app.control import refuse_if_paused
from middle.app.home import open_home_db
from middle.app.plugins import load_plugins, open_issue_store
from middle.app.repo import resolve_repo
from middle.config import adapter_choice, load_config, middle_home
from middle.engine import Registry, Runner, RunResult
from middle.errors import (
    EpicBlockedError,
    EpicError,
    MiddleError,
    NothingParkedError,
    UnknownWorkflowError,
)
from middle.progress import Progress
from middle.refs import validate_ref
from middle.steps.dispatch import raise_rate_limited
from middle.store import find_live_implementation, get_workflow, list_workflows
from middle.store.checkpoints import load_checkpoints
from middle.store.limits import active_rate_limit, set_rate_limit
from middle.store.records import request_cancel
from middle.store.slots import QUEUED, SlotsBusy, claim_slot_at_launch
from middle.tmux import Tmux

WORKFLOW = "implementation"
PARKED_STATES = ("waiting-human", "rate-limited")


@dataclass(frozen=True)
class Outcome:
    """How a command left a workflow, in words, and whether that is a success (exit 0)."""

    workflow_id: str
    ref: str
    state: str
    message: str
    ok: bool


def implement(
    repo: str | Path,
    ref: str,
    agent: str | None = None,
    progress: Progress | None = None,
    *,
    force: bool = False,
    source: str = "manual",
) -> Outcome:
    """Dispatch the issue and run it in the foreground until it parks or settles. An
    issue nobody approved, or an Epic with open blockers, is refused unless `force`."""
    ref = validate_ref(ref)
    root = git.repo_root(resolve_repo(repo))
    config = load_config(middle_home(), root)
    registry = load_plugins(root).registry
    store = registry.issue_store(root, config)
    issue = store.load(ref)
    if issue.closed:
        raise EpicError(f"Epic {ref} is closed ({issue.source}); reopen it to dispatch it")
    if not issue.approved and not force:
        how = (
            f"add the approved label (gh issue edit {ref} --add-label approved)"
            if config["epic_store"].get("mode") == "github"
            else f"set `approved: true` in its meta block ({issue.source})"
        )
        raise EpicError(f"issue {ref} is not approved; {how}, or dispatch it anyway with --force")
    blockers = [] if force else store.open_blockers(ref)
    if blockers:
        raise EpicBlockedError(
            f"Epic {ref} is blocked by {', '.join(blockers)} (still open); dispatch those "
            f"first, or pass --force"
        )
    adapter = (
        agent or issue.adapter or config["repo"].get("default_adapter")
        or config["global"]["default_adapter"]
    )  # fmt: skip
    try:
        registry.adapter(adapter, config).check_available()
    except MiddleError as exc:
        why = adapter_choice(config, agent, issue.adapter)
        raise type(exc)(f"{exc} (middle chose the {adapter} adapter from {why})") from exc
    run_input = {
        "repo": str(root),
        "epic_ref": ref,
        "adapter": adapter,
        "base": git.current_branch(root),
        "source": source,
    }
    runner = runner_for(run_input, progress, config=config, registry=registry)
    refuse_if_paused(runner.db, str(root))
    limited = active_rate_limit(runner.db, adapter)
    if limited is not None:  # refused before any row exists (check-slots is the backstop)
        raise_rate_limited(adapter, limited)
    workflow_id = f"impl-{uuid.uuid4().hex[:10]}"
    return describe(runner, runner.start(WORKFLOW, run_input, workflow_id), ref)


def answer(repo: str | Path, ref: str, text: str, progress: Progress | None = None) -> Outcome:
    """Record a human's answer and continue the run in the same worktree."""
    if not text.strip():
        raise MiddleError("--text is empty; say what the agent should know")
    db, row, park = _parked(repo, ref, "answer")
    store = open_issue_store(Path(row["repo"]))
    written = store.written_answer(ref)
    if written is not None:  # never overwrite what a person wrote into the Epic file
        raise NothingParkedError(
            f"question {written.id} of issue {ref} already has an answer written in "
            f"{store.link(ref)}; send it with: middle poll (or edit it there)"
        )
    if park["reason"] not in ("asked-question", "bare-stop", "gates-failed"):
        raise NothingParkedError(
            f"issue {ref} is waiting for a review, not an answer; use: middle review "
            f"--issue {ref} --approve (or --request-changes '...')"
        )
    return _continue(db, row, {"kind": "answer", "text": text, "author": _user()}, progress)


def review(
    repo: str | Path,
    ref: str,
    *,
    approve: bool,
    request_changes: str | None,
    progress: Progress | None = None,
) -> Outcome:
    """The local-mode review verdict: approve, or request changes with feedback."""
    if approve == (request_changes is not None):
        raise MiddleError("give exactly one of --approve or --request-changes TEXT")
    if request_changes is not None and not request_changes.strip():
        raise MiddleError("--request-changes needs the feedback text")
    db, row, park = _parked(repo, ref, "review")
    if park["reason"] not in ("done", "held", "gates-failed"):
        raise NothingParkedError(
            f"issue {ref} is not waiting for a review ({park['reason']}); see: middle status"
        )
    verdict: dict[str, Any] = (
        {"kind": "approve", "author": _user()}
        if approve
        else {"kind": "request-changes", "text": request_changes, "author": _user()}
    )
    return _continue(db, row, verdict, progress)


def resume(
    repo: str | Path | None, ref: str | None, progress: Progress | None = None
) -> list[Outcome]:
    """Adopt in-flight workflows after a crash: one issue's, or every live one."""
    db = open_home_db()
    if ref is not None:
        ref = validate_ref(ref)
        root = git.repo_root(resolve_repo(repo or "."))
        live = find_live_implementation(db, repo=str(root), epic_ref=ref)
        if live is None:
            raise NothingParkedError(f"issue {ref} in {root} has no live workflow to resume")
        rows = [live]
    else:
        rows = list_workflows(db, kind=WORKFLOW, live=True)
    outcomes = []
    for row in rows:
        run_input = json.loads(row["meta_json"])["input"]
        runner = runner_for(run_input, progress)
        if row["state"] == "rate-limited":  # (whoever signals a parked run claims for it)
            runner.signal(row["id"], "resume", {"kind": "continue", "author": _user()})
            busy = claim_launch_slot(runner, row, "continue")
            if busy is not None:
                outcomes.append(queued_outcome(row, busy))
                continue
        outcomes.append(describe(runner, runner.resume(row["id"]), row["epic_ref"]))
    return outcomes


def cancel(repo: str | Path, ref: str) -> Outcome:
    """End the issue's live workflow: stop its agent, undo its steps, mark it cancelled."""
    ref = validate_ref(ref)
    root = git.repo_root(resolve_repo(repo))
    db = open_home_db()
    live = find_live_implementation(db, repo=str(root), epic_ref=ref)
    if live is None:
        raise NothingParkedError(f"issue {ref} in {root} has no live workflow to cancel")
    runner = runner_for(json.loads(live["meta_json"])["input"], None)
    request_cancel(db, live["id"])  # first, so a dispatcher reads the ended session as a cancel
    if live["session_name"]:
        runner.services["tmux"].kill_session(live["session_name"])
    result = runner.cancel(live["id"], wait=60)
    return Outcome(live["id"], ref, result.status, f"cancelled workflow {live['id']}", True)


def clear_rate_limit(adapter: str) -> None:
    """Mark an adapter available again by hand (after its limit reset early, say)."""
    known = load_plugins(None).registry.adapters
    if adapter not in known:
        raise MiddleError(f"unknown adapter {adapter!r}; middle knows {', '.join(sorted(known))}")
    set_rate_limit(
        open_home_db(), adapter, status="available", reset_at=None, source="cleared by hand"
    )


# -- helpers ----------------------------------------------------------------------------


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "human"


def runner_for(
    run_input: dict[str, Any],
    progress: Progress | None,
    *,
    config: dict[str, Any] | None = None,
    registry: Registry | None = None,
) -> Runner:
    """A runner whose steps get this run's services: config, store, adapter, tmux.
    A caller that already loaded the config or the plugins passes them in."""
    repo = Path(run_input["repo"])
    home = middle_home()
    config = config if config is not None else load_config(home, repo)
    registry = registry if registry is not None else load_plugins(repo).registry
    services = {
        "home": home,
        "config": config,
        "store": registry.issue_store(repo, config),
        "adapter": registry.adapter(run_input["adapter"], config),
        "tmux": Tmux(),
        "progress": progress,
    }
    on_step = progress.step if progress is not None else None
    return Runner(open_home_db(home), registry, services=services, on_step=on_step)


def _parked(
    repo: str | Path, ref: str, verb: str
) -> tuple[Database, dict[str, Any], dict[str, Any]]:
    """The issue's parked workflow and why it parked; refuses if it is not parked."""
    ref = validate_ref(ref)
    root = git.repo_root(resolve_repo(repo))
    db = open_home_db()
    live = find_live_implementation(db, repo=str(root), epic_ref=ref)
    if live is None or live["state"] not in PARKED_STATES:
        what = f"is {live['state']}" if live else "has no live workflow"
        raise NothingParkedError(
            f"nothing to {verb}: issue {ref} in {root} {what}; see: middle status"
        )
    park = latest_output(db, live["id"], "park-for-resume")
    if park is None:
        raise UnknownWorkflowError(f"workflow {live['id']} is parked but recorded no reason")
    return db, live, park


def latest_checkpoint(db: Database, workflow_id: str, step: str) -> dict[str, Any] | None:
    """The newest completed checkpoint of `step` in any loop iteration."""
    found = [
        cp
        for cp in load_checkpoints(db, workflow_id)
        if cp["name"].partition("#")[0] == step and cp["status"] == "completed"
    ]
    return found[-1] if found else None


def latest_output(db: Database, workflow_id: str, step: str) -> dict[str, Any] | None:
    checkpoint = latest_checkpoint(db, workflow_id, step)
    return json.loads(checkpoint["output_json"]) if checkpoint else None


def _continue(
    db: Database, row: dict[str, Any], signal: dict[str, Any], progress: Progress | None
) -> Outcome:
    runner = runner_for(json.loads(row["meta_json"])["input"], progress)
    if json.loads(row["meta_json"]).get("queued"):
        raise NothingParkedError(
            f"issue {row['epic_ref']} already has its signal and waits for a free slot; "
            f"see: middle status"
        )
    if not runner.signal(row["id"], "resume", signal, when_state=PARKED_STATES):
        raise NothingParkedError(
            f"issue {row['epic_ref']} was resumed by someone else a moment ago; see: middle status"
        )
    busy = claim_launch_slot(runner, row, signal["kind"])
    if busy is not None:
        return queued_outcome(row, busy)
    return describe(runner, runner.resume(row["id"]), row["epic_ref"])


# Signals whose continuation launches the agent again, and so needs a slot.
LAUNCHING_SIGNALS = ("answer", "request-changes", "continue")


def claim_launch_slot(runner: Runner, row: dict[str, Any], kind: str) -> SlotsBusy | None:
    """Claim an agent slot for the launch a signal of `kind` leads to; when none is free
    the run stays parked, marked queued, with its signal delivered for later."""
    if kind not in LAUNCHING_SIGNALS:
        return None  # an approval or a PR's end launches nothing
    adapter = str(json.loads(row["meta_json"])["input"]["adapter"])
    return claim_slot_at_launch(runner.db, row["id"], adapter, runner.services["config"])


def queued_outcome(row: dict[str, Any], busy: SlotsBusy) -> Outcome:
    return Outcome(
        row["id"],
        row["epic_ref"],
        row["state"],
        f"{QUEUED} ({busy}); middle poll (or serve) continues it when a slot frees",
        True,
    )


def describe(runner: Runner, result: RunResult, ref: str) -> Outcome:
    row = get_workflow(runner.db, result.workflow_id)
    state = row["state"]
    if result.status == "parked":
        park = latest_output(runner.db, result.workflow_id, "park-for-resume") or {}
        return Outcome(result.workflow_id, ref, state, park.get("message", "parked"), True)
    if state == "completed":
        branch = row["pr_branch"] or f"middle/issue-{ref}"
        message = f"branch {branch} is ready; its worktree was removed"
        return Outcome(result.workflow_id, ref, state, message, True)
    reason = row["end_reason"] or state
    return Outcome(result.workflow_id, ref, state, f"{state}: {reason}", False)
