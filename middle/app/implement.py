"""The implementation use cases: implement, answer, review, resume, cancel.

Each validates everything a user can get wrong before it creates a row, a worktree or a
session, then hands the run to the engine and reports how it left the workflow.
"""

from __future__ import annotations

import getpass
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from middle.app.control import refuse_if_paused
from middle.app.home import open_home_db
from middle.app.plugins import load_plugins
from middle.app.repo import base_branch, resolve_repo
from middle.app.runtime import (
    EPIC_WORKFLOW,
    PARKED_STATES,
    WORKFLOW,
    Outcome,
    Runtime,
    claim_launch_slot,
    describe,
    live_run,
    parked_run,
    runner_of,
)
from middle.config import adapter_choice
from middle.engine.runs import Runs
from middle.errors import (
    AlreadyInFlight,
    EpicBlockedError,
    EpicError,
    MiddleError,
    NothingParkedError,
)
from middle.issues.labels import hold_label
from middle.refs import validate_ref, validate_run_ref
from middle.steps.dispatch import fallback_adapter, refuse_if_rate_limited
from middle.steps.fanout import epic_repos
from middle.steps.services import Progress
from middle.store import (
    QUEUED,
    TERMINAL_STATES,
    Row,
    SlotsBusy,
    set_rate_limit,
)
from middle.system import git

if TYPE_CHECKING:
    from middle.engine import Runner
    from middle.issues.base import Issue, IssueStore


def implement(
    repo: str | Path,
    ref: str,
    agent: str | None = None,
    progress: Progress | None = None,
    *,
    force: bool = False,
    source: str = "manual",
    parallel: int | None = None,
    config: dict[str, Any] | None = None,
) -> Outcome:
    """Dispatch the issue and run it in the foreground until it parks or settles. An
    issue nobody approved, or an Epic with open blockers, is refused unless `force`.

    With `parallel` (or `parallel` in the Epic's meta or the repo's `[repo]` policy) an
    Epic's sub-issues fan out, each to an agent of its own (`middle.workflows.epic`).
    `config` replaces the repo's merged configuration (a CI job's, capped to the agent
    slots it holds)."""
    if parallel is not None and parallel < 1:
        raise MiddleError(f"--parallel {parallel}: give a number of agents, 1 or more")
    ref = validate_ref(ref)
    runtime = Runtime(git.repo_root(resolve_repo(repo)), config=config)
    root, config = runtime.root, runtime.config
    issue = runtime.issues.load(ref)
    if issue.closed:
        raise EpicError(f"Epic {ref} is closed ({issue.source}); reopen it to dispatch it")
    held = hold_label(issue.labels)
    if held is not None:  # never dispatched, not even with --force
        how = runtime.issues.how_to_unlabel(ref, held)
        raise EpicError(f"issue {ref} is labelled {held}, so it is never dispatched; {how}")
    if not issue.approved and not force:
        how = runtime.issues.how_to_approve(ref, issue)
        raise EpicError(f"issue {ref} is not approved; {how}, or dispatch it anyway with --force")
    blockers = [] if force else runtime.issues.open_blockers(ref)
    if blockers:
        raise EpicBlockedError(
            f"Epic {ref} is blocked by {', '.join(blockers)} (still open); dispatch those "
            f"first, or pass --force"
        )
    pinned = agent or issue.adapter
    adapter = pinned or config["repo"].get("default_adapter") or config["global"]["default_adapter"]
    if not pinned:
        chosen = fallback_adapter(runtime.db, config, adapter, runtime.plugins.adapters)
        if chosen != adapter and progress is not None:
            progress.note(f"{adapter} is rate-limited: using {chosen} ([global] adapter_fallback)")
        adapter = chosen
    try:
        runner = runtime.runner(adapter, progress)
        runner.services.adapter.check_available()
    except MiddleError as exc:
        why = adapter_choice(config, agent, issue.adapter)
        raise type(exc)(f"{exc} (middle chose the {adapter} adapter from {why})") from exc
    refuse_if_paused(runtime.db, str(root))
    refuse_if_rate_limited(runtime.db, adapter)  # before any row exists
    run_input: dict[str, Any] = {
        "repo": str(root),
        "ref": ref,
        "adapter": adapter,
        "base": base_branch(config, root),
        "source": source,
    }
    workflow, workflow_id = WORKFLOW, f"impl-{uuid.uuid4().hex[:10]}"
    fan_out = fan_out_of(issue, config, parallel)
    if parallel is not None and not issue.sub_issues:
        raise EpicError(
            f"issue {ref} has no sub-issues, so --parallel has nothing to fan out; "
            f"dispatch it without --parallel"
        )
    if issue.sub_issues and (fan_out or issue.repos or any(s.repo for s in issue.sub_issues)):
        _, repos, _ = epic_repos(
            root, issue, runtime.db, runtime.issues.mode
        )  # a bad `repos:` or `repo:`: before any row
        fan_out = fan_out or (1 if len(repos) > 1 else None)  # one agent works in one repo
    if fan_out and issue.sub_issues:
        workflow, workflow_id = EPIC_WORKFLOW, f"epic-{uuid.uuid4().hex[:10]}"
        run_input["parallel"] = int(fan_out)
    try:
        result = runner.start(workflow, run_input, workflow_id)
    except AlreadyInFlight as exc:
        undriven = _undriven(runner, root, ref)
        if undriven is None:
            raise
        raise undriven from exc
    return describe(runner, result, ref)


def fan_out_of(issue: Issue, config: dict[str, Any], parallel: int | None = None) -> int | None:
    """The agents an Epic's sub-issues fan out to: `--parallel`, else the Epic's own
    `parallel` meta, else the repo's `[repo] parallel`; None when it does not fan out by
    any of them (an Epic across repos still fans out, one agent at a time)."""
    chosen = parallel or issue.parallel or config["repo"].get("parallel")
    return int(chosen) if chosen and issue.sub_issues else None


def answer(repo: str | Path, ref: str, text: str, progress: Progress | None = None) -> Outcome:
    """Record a human's answer and continue the run in the same worktree."""
    if not text.strip():
        raise MiddleError("--text is empty; say what the agent should know")
    runtime = Runtime(git.repo_root(resolve_repo(repo)))
    row, park = parked_run(runtime.runs, runtime.root, validate_run_ref(ref), "answer")
    written = runtime.issues.written_answer(ref.partition("/")[0])  # a child asks in its Epic
    if written is not None:  # never overwrite what a person wrote into the Epic file
        raise NothingParkedError(
            f"question {written.id} of issue {ref} already has an answer written in "
            f"{runtime.issues.link(ref)}; send it with: middle poll (or edit it there)"
        )
    if park["reason"] not in ("asked-question", "bare-stop", "gates-failed"):
        raise NothingParkedError(
            f"issue {ref} is waiting for a review, not an answer; use: middle review "
            f"--issue {ref} --approve (or --request-changes '...')"
        )
    signal = {"kind": "answer", "text": text, "author": _user()}
    return _continue(runtime, row, signal, progress)


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
    runtime = Runtime(git.repo_root(resolve_repo(repo)))
    epic, _, sub = validate_run_ref(ref).partition("/")  # `REF/SUB`: one sub-issue's round
    row, park = parked_run(runtime.runs, runtime.root, epic, "review")
    if park["reason"] not in ("done", "held", "gates-failed"):
        raise NothingParkedError(
            f"issue {epic} is not waiting for a review ({park['reason']}); see: middle status"
        )
    verdict: dict[str, Any] = (
        {"kind": "approve", "author": _user()}
        if approve
        else {"kind": "request-changes", "text": request_changes, "author": _user()}
    )
    if sub:
        verdict["sub"] = _reviewed_sub(runtime, row, epic, sub, approve)
    return _continue(runtime, row, verdict, progress)


def _reviewed_sub(runtime: Runtime, row: Row, epic: str, sub: str, approve: bool) -> str:
    """`review --issue REF/SUB`: requested changes for one sub-issue of a fanned-out Epic."""
    plan = runtime.runs.latest_output(row["id"], "plan-epic")
    if plan is None:
        raise MiddleError(
            f"issue {epic} is not a fanned-out Epic, so it has no sub-issue {sub} to review "
            f"alone; use: middle review --issue {epic}"
        )
    if approve:
        raise MiddleError(
            f"an approval is for the whole Epic; use: middle review --issue {epic} --approve"
        )
    ids = [str(s["id"]) for s in plan["subs"]]
    if sub not in ids:
        raise MiddleError(
            f"issue {epic} has no sub-issue {sub} (it has {', '.join(ids)}); name one of them: "
            f"middle review --issue {epic}/<sub> --request-changes TEXT"
        )
    return sub


def resume(
    repo: str | Path | None, ref: str | None, progress: Progress | None = None
) -> list[Outcome]:
    """Adopt in-flight workflows after a crash: one issue's, or every live one."""
    runs = Runs(open_home_db())
    if ref is not None:
        ref = validate_ref(ref)
        rows = [live_run(runs, git.repo_root(resolve_repo(repo or ".")), ref, "resume")]
    else:  # a fanned-out Epic's children are its parent's to drive
        rows = [r for r in runs.find(kind=WORKFLOW, live=True) if not r["parent_id"]]
    outcomes = []
    for row in rows:
        runner = runner_of(row, progress)
        if row["state"] == "rate-limited":  # (whoever signals a parked run claims for it)
            runner.signal(row["id"], "resume", {"kind": "continue", "author": _user()})
            busy = claim_launch_slot(runner, row, "continue")
            if busy is not None:
                outcomes.append(queued_outcome(row, busy))
                continue
        outcomes.append(describe(runner, runner.resume(row["id"]), row["epic_ref"]))
    return outcomes


def cancel(repo: str | Path, ref: str) -> Outcome:
    """End the issue's live workflow: stop its agent, undo its steps, mark it cancelled.
    An Epic's run takes its children with it; `<ref>/<sub>` is one child, whose parent
    then ends failed, saying so (`_settle_parent`)."""
    ref = validate_run_ref(ref)
    runs = Runs(open_home_db())
    live = live_run(runs, git.repo_root(resolve_repo(repo)), ref, "cancel")
    runner = runner_of(live)
    runs.request_cancel(live["id"])  # first, so a dispatcher reads the ended session as a cancel
    if live["session_name"]:
        runner.services.tmux.kill_session(live["session_name"])
    result = runner.cancel(live["id"], wait=60)
    for child in runs.find(parent_id=live["id"], live=True):  # a fanned-out Epic's children
        runs.request_cancel(child["id"])
        if child["session_name"]:
            runner.services.tmux.kill_session(child["session_name"])
        runner_of(child).cancel(child["id"], wait=60)
    if result.status == "cancelled":
        epic, _, sub = ref.partition("/")  # a child asks in its Epic: close only its own
        asked = (runs.latest_output(live["id"], "launch-and-drive") or {}).get("question")
        if not sub or asked:
            _close_question(runner.services.issues, epic, asked)
    reason = runs.get(live["id"])["end_reason"] or ""
    rescued = reason.removeprefix("cancelled") if reason.startswith("cancelled; ") else ""
    message = f"cancelled workflow {live['id']}{rescued}"  # and where its work was saved
    if live["parent_id"] and result.status == "cancelled":
        message += f"; {_settle_parent(runs, live)}"
    return Outcome(live["id"], ref, result.status, message, True)


def _settle_parent(runs: Runs, child: Row) -> str:
    """After one child's cancel: wake its Epic's run, which starts no other sub-issue and
    fails once the children in flight settle. A parent parked on its children is
    continued here (nothing else would wake it); one a process drives is told; one whose
    process died is left to `resume` (continuing it here would drive its other children)."""
    parent = runs.get(child["parent_id"])
    if parent["state"] in TERMINAL_STATES:
        return f"the Epic's run {parent['id']} had already ended ({parent['state']})"
    runs.deliver(parent["id"], "children", {"from": child["epic_ref"]})
    runner = runner_of(parent)
    if runner.driven(parent["id"]):
        return f"the Epic's run {parent['id']} fails once its other children settle"
    if parent["state"] not in PARKED_STATES:  # its process died: resuming it is a choice
        return (
            f"the Epic's run {parent['id']} is {parent['state']} with no process driving it; "
            f"`middle resume --issue {parent['epic_ref']}` settles it"
        )
    try:
        outcome = describe(runner, runner.resume(parent["id"]), parent["epic_ref"])
    except MiddleError as exc:  # how it fails: the cancelled sub-issue, and how to go on
        return f"the Epic's run {parent['id']} failed: {exc}"
    return f"the Epic's run {parent['id']}: {outcome.message}"


CANCELLED_ANSWER = "No answer: the run was cancelled (middle cancel)."


def _close_question(issues: IssueStore, ref: str, asked: str | None = None) -> None:
    """Resolve the question the cancelled run left open (v1 has only open and resolved),
    so the issue does not keep asking for an answer nobody will read; `asked`: only if it
    is that question (another child of the Epic may have asked the open one)."""
    question = issues.open_question(ref)
    if question is not None and (asked is None or question.text.strip() == asked.strip()):
        issues.record_answer(ref, CANCELLED_ANSWER, author="middle cancel")


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


def _continue(
    runtime: Runtime, row: Row, signal: dict[str, Any], progress: Progress | None
) -> Outcome:
    runner = runtime.runner(str(Runs.input(row)["adapter"]), progress)
    if row["parent_id"]:
        return _continue_child(runtime, runner, row, signal, progress)
    if Runs.meta(row).get("queued"):
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


def _continue_child(
    runtime: Runtime, runner: Runner, row: Row, signal: dict[str, Any], progress: Progress | None
) -> Outcome:
    """A fanned-out Epic's child is its parent's to drive: deliver the child's signal,
    wake the parent, and continue the parent (unless a process drives it already, which
    picks the child up within a second)."""
    if not runner.signal(row["id"], "resume", signal, when_state=PARKED_STATES):
        raise NothingParkedError(
            f"issue {row['epic_ref']} was resumed by someone else a moment ago; see: middle status"
        )
    parent = runtime.runs.get(row["parent_id"])
    runtime.runs.deliver(parent["id"], "children", {"from": row["epic_ref"]})
    parent_runner = runtime.runner(str(Runs.input(parent)["adapter"]), progress)
    if parent_runner.driven(parent["id"]):
        message = f"the Epic's run {parent['id']} (driven now) continues {row['epic_ref']}"
        return Outcome(row["id"], row["epic_ref"], row["state"], message, True)
    return describe(parent_runner, parent_runner.resume(parent["id"]), parent["epic_ref"])


def _undriven(runner: Runner, root: Path, ref: str) -> AlreadyInFlight | None:
    """The refusal to give when the issue's live run is one nobody drives (it was
    detached, or its process died), which will not settle by waiting; None otherwise."""
    live = runner.runs.live(repo=str(root), ref=ref)
    if live is None or live["state"] not in ("launching", "running") or runner.driven(live["id"]):
        return None
    return AlreadyInFlight(
        f"issue {ref} in {root} already has a live workflow {live['id']} ({live['state']}), "
        f"and no middle process drives it; continue it with: middle resume --issue {ref} "
        f"(or end it with `middle cancel --issue {ref}`)"
    )


def queued_outcome(row: Row, busy: SlotsBusy) -> Outcome:
    return Outcome(
        row["id"],
        row["epic_ref"],
        row["state"],
        f"{QUEUED} ({busy}); middle poll (or serve) continues it when a slot frees",
        True,
    )
