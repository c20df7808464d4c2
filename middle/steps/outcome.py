"""After a turn: park for a human, end the run, or decide what the human's signal means."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.engine import StepContext, step
from middle.issues.base import IssueStore
from middle.refs import branch_name, session_name
from middle.steps.services import services
from middle.steps.transcripts import keep_transcript
from middle.steps.turn import MAX_NUDGES
from middle.system import git
from middle.verify.gates import GateResult

MAX_REVIEW_ROUNDS = 5


def _hints(ref: str, store: IssueStore) -> dict[str, str]:
    """What a person does next, as the run's issue store says (on Actions: a comment)."""
    return {
        "answer": store.how_to_answer(ref),
        "review": store.how_to_review(ref),
        "resume": f"continue with: middle resume --issue {ref}",
    }


@step("park-for-resume", stop=stop_after_attempt(3))
def park_for_resume(ctx: StepContext) -> dict[str, Any]:
    """Record why the run waits and what a human should do. Asked questions go into the
    Epic's conversation (once, even if this step runs again)."""
    turn = ctx.results["launch-and-drive"]
    ref = str(ctx.input["ref"])
    run_ref = ctx.runs.get(ctx.workflow_id)["epic_ref"] or ref  # a child's: `<ref>/<sub>`
    hints = _hints(str(run_ref), services(ctx).issues)
    outcome = turn["outcome"]
    state = "waiting-human"
    if outcome == "asked-question":
        store = services(ctx).issues
        open_question = store.open_question(ref)
        if open_question is None or open_question.text.strip() != turn["question"].strip():
            store.record_question(ref, turn["question"], kind=turn["question_kind"])
        label = "needs a decision (complexity)" if turn["question_kind"] == "complexity" else "asks"
        message = f"the agent {label}:\n\n  {turn['question']}\n\n{hints['answer']}"
    elif outcome == "done":
        message = f"the branch is ready for review.\n{hints['review']}"
        pr = services(ctx).issues.pull_request(branch_name(ref))  # None without PRs
        if pr is not None:
            ctx.runs.record_pull_request(ctx.workflow_id, pr.number, pr.url)
            message = f"pull request #{pr.number} is ready for review: {pr.url}"
    elif outcome == "rate-limited":
        state = "rate-limited"
        when = local_time(turn["reset_at"]) if turn.get("reset_at") else "at an unknown time"
        message = f"the agent hit its usage limit (it resets {when}).\n{hints['resume']}"
    elif outcome == "gates-failed":
        message = f"{gates_still_fail(turn)}\n{hints['answer']}\nor {hints['review']}"
    elif outcome == "held":
        why = (ctx.results.get("resume-or-finalize") or {}).get("why")
        message = (
            f"review round cap ({MAX_REVIEW_ROUNDS}) reached"
            f"{f', and {why}' if why else ''}: a human must take over.\n"
            f"{hints['review']}, or cancel with: middle cancel --issue {ref}"
        )
    elif (seconds := ctx.runs.turn_timed_out(ctx.workflow_id)) is not None:
        message = (
            f"the agent's turn timed out after {seconds:g}s (turn_timeout_seconds under "
            f"[limits]); it may need longer, or help.\n{hints['answer']}"
        )
    else:  # bare-stop
        nudged = int(turn.get("nudges", 0))
        message = (
            f"the agent stopped {nudged} times without finishing.\n{hints['answer']}"
            if nudged >= MAX_NUDGES
            else f"the agent stopped without finishing, and middle could not nudge it (its "
            f"session ended, or a person took it over).\n{hints['answer']}"
        )
    ctx.record_event("workflow.waiting", {"reason": outcome, "message": message})
    return {"reason": outcome, "state": state, "message": message}


@step("record-terminal", stop=stop_after_attempt(3))
def record_terminal(ctx: StepContext) -> dict[str, Any]:
    """The agent gave up: end the run `failed` with its reason; keep branch and worktree
    so a person can see how far it got."""
    reason = ctx.results["launch-and-drive"].get("reason") or "(no reason given)"
    ctx.end("failed", f"agent gave up: {reason}")
    return {"state": "failed", "reason": reason}


@step("resume-or-finalize", stop=stop_after_attempt(3))
def resume_or_finalize(ctx: StepContext) -> dict[str, Any]:
    """Act on the human's signal: an answer, requested changes, a failed CI check or a
    base that moved under the branch, and a phase whose gates failed (`poll`), start
    another turn in the same worktree (all but the
    answer count against the review-round cap);
    an approval removes the worktree and keeps the branch."""
    signal = ctx.results["wait-for-resume"]
    previous = ctx.results.get("resume-or-finalize") if ctx.round > 1 else None
    review_round = int((previous or {}).get("review_round", 0))
    ref = str(ctx.input["ref"])
    kind = signal.get("kind")
    if kind in ("approve", "pr-merged", "pr-closed"):
        repo = Path(ctx.input["repo"])
        recorded = ctx.runs.get(ctx.workflow_id)["session_name"]  # its own name
        services(ctx).tmux.kill_session(recorded or session_name(repo, ref))
        keep_transcript(ctx)
        git.remove_worktree(repo, Path(ctx.results["prepare-worktree"]["worktree"]))
        if kind == "pr-closed":  # middle never merges; a closed PR ends the run
            ctx.end("cancelled", f"pull request #{signal.get('pr')} was closed without merging")
        return {"next": "finish", "review_round": review_round}
    if kind in ("request-changes", "check-failed", "rebase", "phase-failed"):  # rounds too
        if review_round >= MAX_REVIEW_ROUNDS:
            why = round_wanted(signal)
            ctx.record_event(
                "review.round-cap",
                {"rounds": review_round, "kind": kind, "feedback": signal.get("text", "")},
            )
            services(ctx).issues.post_note(
                ref,
                f"middle: {MAX_REVIEW_ROUNDS} review rounds reached without approval, and "
                f"{why}, so the agent stops here. A human needs to take over the branch.",
            )
            return {"next": "hold", "review_round": review_round, "why": why}
        return {
            "next": "continue",
            "brief": "resume",
            "text": signal.get("text", ""),
            "checks": kind == "check-failed",
            "rebase": kind == "rebase",
            "phase": kind == "phase-failed",
            "review_round": review_round + 1,
        }
    if kind == "answer":
        author = signal.get("author", "human")
        if signal.get("on_issue"):  # already where the issue lives: never re-post it
            services(ctx).issues.post_note(
                ref, f"middle: took {author}'s answer ({signal.get('url', '')}) to the agent."
            )
        else:
            services(ctx).issues.record_answer(ref, signal.get("text", ""), author=author)
        turn = ctx.results.get("launch-and-drive") or {}
        return {
            "next": "continue",
            "brief": "answer",
            "text": signal.get("text", ""),
            "question": turn.get("question") or "",
            # a permission or a start-up screen is answered inside the session that asked
            "question_kind": turn.get("question_kind") or "question",
            "then": turn.get("then"),
            "review_round": review_round,
        }
    # "continue": pick the work up again (after a usage limit reset, say)
    return {"next": "continue", "brief": "initial", "review_round": review_round}


def gates_still_fail(turn: dict[str, Any]) -> str:
    """Why a run parked on its gates: after how many reports to the agent, on which
    commit, and each failing gate with the last line of its output."""
    run = turn.get("gates") or {}
    failing = [r for r in run.get("results", []) if r["result"] != "passed"]
    evidence = turn.get("evidence") or {}
    if not failing and evidence and not evidence.get("ok", True):  # gates passed: evidence
        run = evidence
        lines = [f"  {problem}" for problem in evidence.get("problems", [])]
        lines += [f"  {item['criterion']}: {item['why']}" for item in evidence["lacking"]]
    else:
        lines = [f"  {GateResult(**r).summary()}" for r in failing]
    if not lines:  # a turn recorded before results were kept
        lines = [f"  {name}" for name in turn.get("failing_gates", [])]
    reported = int(turn.get("gate_nudges", MAX_NUDGES))
    why = (
        f"after {reported} reports to the agent"
        if reported >= MAX_NUDGES
        else "and middle could not report them to the agent (its session ended, or a "
        "person took it over)"
    )
    on = f" on commit {run['head'][:12]}" if run.get("head") else ""
    said = (
        "acceptance criteria lack evidence" if run is evidence else "verification gates still fail"
    )
    return "\n".join([f"{said}{on}, {why}:", *lines])


def round_wanted(signal: dict[str, Any]) -> str:
    """Why another round was wanted, as a person reads it (said when the cap stops it)."""
    kind = signal.get("kind")
    if kind == "rebase":
        files = ", ".join(str(name) for name in signal.get("files") or []) or "some files"
        return f"the base branch moved and the branch no longer merges onto it ({files} conflict)"
    if kind == "check-failed":
        return "a CI check failed"
    return "changes were requested again"


def local_time(stamp: str) -> str:
    """A stored UTC timestamp as a person here reads it: `at 15:00 on 2026-11-27 (CET)`."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
    return f"at {moment:%H:%M} on {moment:%Y-%m-%d} ({moment:%Z})"


def route_after_turn(ctx: StepContext) -> str:
    return "end" if ctx.results["launch-and-drive"]["outcome"] == "failed" else "park"


def another_turn(ctx: StepContext) -> bool:
    decision = ctx.results.get("resume-or-finalize") or {}
    return ctx.results.get("route") == "park" and decision.get("next") in ("continue", "hold")


def parked_state(ctx: StepContext) -> str:
    return str(ctx.results["park-for-resume"]["state"])
