"""`launch-and-drive`: one agent turn in tmux, from the brief to a classified stop.

A turn's progress is recorded in `meta_json` (`turns.<round>`: launched, prompted), so a
dispatcher that died mid-turn and runs this step again adopts the live session instead of
launching a second agent, and drains the hooks it sent meanwhile.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.agents.base import AgentAdapter, Stop, consume_sentinels
from middle.briefs import answer_brief, initial_brief, resume_brief, write_brief
from middle.engine import StepContext, step
from middle.errors import AgentError, WorkflowCancelled
from middle.gates import load_gates, run_gates
from middle.hooks import drain_hooks
from middle.ratelimits import parse_reset
from middle.refs import session_name
from middle.store import get_workflow, merge_workflow_meta, record_event, update_workflow
from middle.store.base import iso, utcnow
from middle.store.limits import active_rate_limit, set_rate_limit
from middle.store.records import run_requests
from middle.tmux import Tmux

POLL_SECONDS = 0.1
MAX_NUDGES = 3


def end_session(ctx: StepContext) -> None:
    """Compensation: make sure no agent is left running."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["epic_ref"])
    ctx.services["tmux"].kill_session(session_name(repo, ref))


@step("launch-and-drive", stop=stop_after_attempt(1), compensate=end_session)
def launch_and_drive(ctx: StepContext) -> dict[str, Any]:
    """Brief the agent, launch it (or adopt its live session), wait for it to stop,
    classify the stop, nudge or verify as needed, and end the session."""
    previous = ctx.results.get("resume-or-finalize") if ctx.round > 1 else None
    if previous and previous.get("next") == "hold":
        return {"outcome": "held"}
    return Turn(ctx, previous).run()


class Turn:
    def __init__(self, ctx: StepContext, previous: dict[str, Any] | None) -> None:
        self.ctx = ctx
        self.previous = previous
        self.adapter: AgentAdapter = ctx.services["adapter"]
        self.tmux: Tmux = ctx.services["tmux"]
        self.progress = ctx.services.get("progress")
        self.limits = ctx.services["config"]["limits"]
        row = get_workflow(ctx.db, ctx.workflow_id)
        self.worktree = Path(row["worktree_path"])
        self.session = row["session_name"]
        self.branch = row["pr_branch"]
        self.token = row["session_token"]
        self.key = str(ctx.round)
        self.state: dict[str, Any] = json.loads(row["meta_json"]).get("turns", {}).get(self.key, {})

    # -- bookkeeping --------------------------------------------------------------------

    def remember(self, **fields: Any) -> None:
        self.state.update(fields)
        merge_workflow_meta(self.ctx.db, self.ctx.workflow_id, {"turns": {self.key: fields}})

    def note(self, text: str) -> None:
        if self.progress is not None:
            self.progress.note(text)

    def drain(self) -> list[str]:
        hooks = drain_hooks(self.ctx.db, self.ctx.workflow_id, self.worktree, self.token)
        for hook in hooks:
            if self.progress is not None:
                self.progress.hook(hook.event)
        return [hook.event for hook in hooks]

    # -- the turn -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if "output" in self.state:  # the turn ended, but the process died before its checkpoint
            return dict(json.loads(self.state["output"]))
        self.write_brief()
        self.adapter.install_hooks(self.worktree)
        if not self.state.get("launched_at"):
            self.launch()
        elif self.tmux.has_session(self.session):
            self.note(f"adopting the live agent session {self.session}")
            record_event(
                self.ctx.db, self.ctx.workflow_id, "agent.adopted", {"session": self.session}
            )
        try:
            if not self.state.get("prompted_at"):
                self.prompt()
            stop, outcome = self.drive()
            return self.finish(stop, outcome)
        finally:
            self.tmux.kill_session(self.session)

    def write_brief(self) -> None:
        kind = (self.previous or {}).get("brief", "initial")
        if kind == "answer":
            text = answer_brief(self.previous["question"], self.previous["text"])  # type: ignore[index]
        elif kind == "resume":
            text = resume_brief(self.previous["text"], self.previous["review_round"])  # type: ignore[index]
        else:
            issue = self.ctx.services["store"].load(str(self.ctx.input["epic_ref"]))
            ceiling = issue.complexity_ceiling or int(self.limits["complexity_ceiling"])
            text = initial_brief(issue, ceiling)
        write_brief(self.worktree, text)
        self.prompt_kind = "initial" if kind not in ("answer", "resume") else kind

    def launch(self) -> None:
        argv, extra_env = self.adapter.build_launch_command(self.worktree)
        env = {
            "MIDDLE_SESSION": self.session,
            "MIDDLE_SESSION_TOKEN": self.token,
            "MIDDLE_EPIC": str(self.ctx.input["epic_ref"]),
            "MIDDLE_WORKFLOW_ID": self.ctx.workflow_id,
            **extra_env,
        }
        consume_sentinels(self.worktree)  # a stale sentinel must not end this turn
        self.tmux.kill_session(self.session)  # a leftover from a turn that never ended
        update_workflow(self.ctx.db, self.ctx.workflow_id, state="launching")
        self.tmux.new_session(self.session, self.worktree, argv, env)
        self.remember(launched_at=utcnow())
        record_event(
            self.ctx.db,
            self.ctx.workflow_id,
            "agent.launched",
            {"session": self.session, "argv": argv},
        )
        self.note(f"launched {self.adapter.name} in tmux session {self.session}")

    def prompt(self) -> None:
        if not self.adapter.starts_session_on_first_prompt:
            self.wait_for_session_start()
        self.adapter.enter_auto_mode(self.tmux, self.session)
        self.tmux.send_line(self.session, self.adapter.build_prompt_text(self.prompt_kind))  # type: ignore[arg-type]
        update_workflow(self.ctx.db, self.ctx.workflow_id, state="running")
        self.remember(prompted_at=utcnow())
        self.note(f"sent the {self.prompt_kind} brief")

    def wait_for_session_start(self) -> None:
        timeout = float(self.limits.get("launch_timeout_seconds", 120))
        deadline = time.monotonic() + timeout
        while True:
            self.ctx.check_cancelled()
            if "SessionStart" in self.drain() or self.state.get("session_started"):
                self.remember(session_started=True)
                return
            if not self.tmux.has_session(self.session):
                raise AgentError(
                    f"the {self.adapter.name} agent exited right after launch, before its "
                    f"SessionStart hook; run its command by hand in {self.worktree} to see why"
                )
            if time.monotonic() > deadline:
                raise AgentError(
                    f"the {self.adapter.name} agent sent no SessionStart hook within "
                    f"{timeout:g}s; is its hook config calling .middle/hooks/hook.sh?"
                )
            time.sleep(POLL_SECONDS)

    def check_interrupted(self) -> None:
        """Stop the turn if `middle cancel` or the watchdog asked (one read per poll)."""
        cancel, ended_by = run_requests(self.ctx.db, self.ctx.workflow_id)
        if cancel:
            raise WorkflowCancelled(self.ctx.workflow_id)
        if ended_by is not None:
            raise AgentError(f"the watchdog ended this turn: {ended_by}")

    def wait_for_stop(self) -> Stop:
        """Until a Stop hook, the session ending, or the turn timeout; then classify."""
        timeout = float(self.limits.get("turn_timeout_seconds", 4 * 3600))
        deadline = time.monotonic() + timeout
        beat = checked = 0.0
        while True:
            self.check_interrupted()
            if "Stop" in self.drain():
                break
            # Hooks are a cheap directory read; asking tmux is a process, so once a second.
            if time.monotonic() - checked < 1:
                time.sleep(POLL_SECONDS)
                continue
            checked = time.monotonic()
            if not self.tmux.has_session(self.session):
                self.ctx.check_cancelled()  # `middle cancel` ends the session too
                stop = self.adapter.classify_stop(self.worktree, self.transcript_tail())
                if stop.kind == "bare-stop":  # gone without a Stop hook or a sentinel
                    raise AgentError(
                        f"the agent's tmux session {self.session} ended without a Stop hook "
                        f"or a sentinel (did the agent crash, or tmux die?)"
                    )
                return stop
            if time.monotonic() > deadline:
                record_event(
                    self.ctx.db, self.ctx.workflow_id, "agent.turn-timeout", {"seconds": timeout}
                )
                break
            if time.monotonic() - beat > 5:
                update_workflow(self.ctx.db, self.ctx.workflow_id, last_heartbeat=utcnow())
                beat = time.monotonic()
            time.sleep(POLL_SECONDS)
        self.drain()
        return self.adapter.classify_stop(self.worktree, self.transcript_tail())

    def transcript_tail(self) -> str:
        row = get_workflow(self.ctx.db, self.ctx.workflow_id)
        tail = ""
        if row["transcript_path"]:
            path = Path(row["transcript_path"])
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(max(0, path.stat().st_size - 8192))
                    tail = handle.read().decode(errors="replace")
        return tail + "\n" + self.tmux.capture(self.session, 40)

    def drive(self) -> tuple[Stop, str]:
        """Wait for the stop; nudge a bare stop, and send gate failures back, each at most
        three times. Returns the stop and the turn's outcome."""
        gates = load_gates(Path(self.ctx.input["repo"]))
        while True:
            stop = self.wait_for_stop()
            if stop.kind == "done":  # in GitHub mode, done also needs a ready PR
                missing = self.ctx.services["store"].confirms_done(self.branch)
                if missing is not None:
                    consume_sentinels(self.worktree)
                    stop = Stop("bare-stop", reason=missing)
            nudges = int(self.state.get("nudges", 0))
            if (
                stop.kind == "bare-stop"
                and nudges < MAX_NUDGES
                and self.tmux.has_session(self.session)
            ):
                self.remember(nudges=nudges + 1)
                why = stop.reason or "stopped without a sentinel"
                record_event(
                    self.ctx.db,
                    self.ctx.workflow_id,
                    "agent.nudged",
                    {"nudge": nudges + 1, "why": why},
                )
                self.note(f"the agent {why}; nudging ({nudges + 1}/3)")
                self.tmux.send_line(self.session, stop.reason or "continue")
                continue
            if stop.kind == "done" and gates:
                failing = [r for r in run_gates(gates, self.worktree) if not r.passed]
                self.state["failing_gates"] = [r.name for r in failing]
                gate_nudges = int(self.state.get("gate_nudges", 0))
                if failing and gate_nudges < MAX_NUDGES and self.tmux.has_session(self.session):
                    self.remember(gate_nudges=gate_nudges + 1)
                    report = "; ".join(f"{r.name}: {r.output.strip()[-300:]}" for r in failing)
                    record_event(
                        self.ctx.db, self.ctx.workflow_id, "gates.failed", {"report": report}
                    )
                    consume_sentinels(self.worktree)
                    self.tmux.send_line(
                        self.session,
                        f"Verification failed, so the work is not done yet: {report} "
                        f"Fix it, commit, and write .middle/done.json again.".replace("\n", " "),
                    )
                    continue
                if failing:
                    return stop, "gates-failed"
            return stop, stop.kind

    def finish(self, stop: Stop, outcome: str) -> dict[str, Any]:
        self.record_rate_limit(stop, outcome)
        output = {
            "outcome": outcome,
            "question": stop.question,
            "question_kind": stop.question_kind,
            "context": stop.context,
            "reason": stop.reason,
            "reset_at": stop.reset_at,
            "nudges": int(self.state.get("nudges", 0)),
            "failing_gates": self.state.get("failing_gates", []),
        }
        # Recorded before the sentinels go, so a rerun of this step returns the same turn.
        # As JSON text: a merge patch would drop the output's null values.
        self.remember(ended_at=utcnow(), outcome=outcome, output=json.dumps(output))
        consume_sentinels(self.worktree)
        record_event(self.ctx.db, self.ctx.workflow_id, "agent.stopped", {"outcome": outcome})
        return output

    def record_rate_limit(self, stop: Stop, outcome: str) -> None:
        """A usage limit blocks new dispatches on this adapter until it resets; any other
        completed turn shows the adapter works again."""
        adapter = self.adapter.name
        if outcome == "rate-limited":
            reset, understood = parse_reset(stop.reset_at, datetime.now(UTC))
            said = f"said {stop.reset_at!r}" if understood else "no reset time understood"
            set_rate_limit(
                self.ctx.db,
                adapter,
                status="limited",
                reset_at=iso(reset),
                source=f"usage-limit message in workflow {self.ctx.workflow_id} ({said})",
            )
        elif outcome != "failed" and active_rate_limit(self.ctx.db, adapter) is not None:
            set_rate_limit(
                self.ctx.db,
                adapter,
                status="available",
                reset_at=None,
                source=f"a turn completed in workflow {self.ctx.workflow_id}",
            )
