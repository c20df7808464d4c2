"""`launch-and-drive`: one agent turn in tmux, from the brief to a classified stop.

A turn: launch the CLI (or adopt its live session), wait until it is ready (answering the
dialogs its adapter knows), deliver the prompt and wait for the CLI to confirm it, then
wait for the turn to end: a hook, a line in the CLI's own log, a permission prompt on its
screen, or the session ending. Bare stops and failing gates are nudged, at most 3 times.

Its progress is recorded in `meta_json` (`turns.<round>`: launched, prompted, nudges), so
a dispatcher that died mid-turn and runs this step again adopts the live session instead
of launching a second agent, and drains the hooks it sent meanwhile.

A turn that parks on a permission prompt, or on a start-up screen middle does not know,
leaves the session running: the human's answer is typed into it in the next round.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.agents.base import BaseAdapter, Signal, Stop, consume_sentinels
from middle.agents.launch import agent_environment, env_file, launch_argv
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
SCREEN_SECONDS = 0.5  # how often the pane is read while a turn runs
MAX_NUDGES = 3
SUBMIT_ATTEMPTS = 3
ACCEPT_SECONDS = 10.0  # per submit attempt, for the CLI to confirm the prompt
PASTE_SETTLE_SECONDS = 0.1  # CLIs take an Enter right after a paste as part of the paste
LIVE_PARKS = ("permission", "dialog")  # question kinds answered inside the live session
TURN_ENDS = ("stop", "rate-limited", "failed", "ended")


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
        self.previous = previous or {}
        self.adapter: BaseAdapter = ctx.services["adapter"]
        self.tmux: Tmux = ctx.services["tmux"]
        self.progress = ctx.services.get("progress")
        self.limits = ctx.services["config"]["limits"]
        row = get_workflow(ctx.db, ctx.workflow_id)
        self.worktree = Path(row["worktree_path"])
        self.session = row["session_name"]
        self.branch = row["pr_branch"]
        self.token = row["session_token"]
        self.session_id = row["session_id"]
        self.key = str(ctx.round)
        self.state: dict[str, Any] = json.loads(row["meta_json"]).get("turns", {}).get(self.key, {})
        self.pending: list[Signal] = []  # signals read while waiting for something else
        self.last_tool = ""
        self.keep_session = False
        self.session_over = False
        self.last_message: str | None = None  # what the agent last said, for `status`

    # -- bookkeeping --------------------------------------------------------------------

    def remember(self, **fields: Any) -> None:
        self.state.update(fields)
        merge_workflow_meta(self.ctx.db, self.ctx.workflow_id, {"turns": {self.key: fields}})

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        record_event(self.ctx.db, self.ctx.workflow_id, kind, payload)

    def note(self, text: str) -> None:
        if self.progress is not None:
            self.progress.note(text)

    def poll(self) -> None:
        """Drain the hooks and the CLI's own files into `pending` signals. A hook sent
        before this session's launch is the last session's (its exit, say), and a turn end
        reported before the latest prompt ended an earlier turn (a CLI may report one end
        twice, by a hook and in its log): both are recorded, and signal nothing."""
        launched = float(self.state.get("launched_epoch") or 0)
        prompted = float(self.state.get("prompted_epoch") or launched)
        for hook in drain_hooks(self.ctx.db, self.ctx.workflow_id, self.worktree, self.token):
            if self.progress is not None:
                self.progress.hook(hook.event)
            sent = hook.sent_at if hook.sent_at is not None else time.time()
            if sent < launched:
                continue
            if hook.event == "SessionStart":
                self.remember(session_started=True)
            said = hook.payload.get("last_assistant_message") or hook.payload.get(
                "last-assistant-message"
            )
            if isinstance(said, str) and said.strip():
                self.last_message = said.strip()[-2000:]
            signal = self.adapter.read_hook(hook)
            if (
                signal is not None
                and signal.kind == "ended"
                and not self.state.get("session_started")
            ):
                continue  # Claude ends the session it resumes from as the new one starts
            if signal is not None and not (signal.kind in TURN_ENDS and sent < prompted):
                self.pending.append(signal)
        if launched:
            for signal in self.adapter.watch(self.worktree, prompted):
                if signal.kind == "session":
                    fields = {"session_id": signal.detail, "transcript_path": signal.path}
                    update_workflow(self.ctx.db, self.ctx.workflow_id, **fields)
                    self.session_id = signal.detail
                else:
                    self.pending.append(signal)

    def take(self, *kinds: str) -> Signal | None:
        """The oldest pending signal of one of `kinds`; tool signals update `last_tool`,
        and the end of a turn that already ended once is dropped."""
        ended = self.state.get("ended_turns", [])
        for signal in list(self.pending):
            if signal.kind == "tool":
                self.last_tool = signal.detail
                self.pending.remove(signal)
            elif signal.kind in TURN_ENDS and signal.turn is not None and signal.turn in ended:
                self.pending.remove(signal)
        for signal in self.pending:
            if signal.kind in kinds:
                self.pending.remove(signal)
                if signal.kind in TURN_ENDS and signal.turn is not None:
                    self.remember(ended_turns=[*ended, signal.turn][-20:])
                return signal
        return None

    def pane(self, lines: int = 60) -> str | None:
        """The visible screen, or None once the session is gone."""
        if not self.tmux.has_session(self.session):
            return None
        return self.tmux.capture(self.session, lines)

    # -- the turn -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if "output" in self.state:  # the turn ended, but the process died before its checkpoint
            return dict(json.loads(self.state["output"]))
        self.adapter.prepare(self.worktree)
        brief = self.previous
        live = brief.get("question_kind") in LIVE_PARKS and brief.get("brief") == "answer"
        if live and (self.state.get("launched_at") or self.tmux.has_session(self.session)):
            brief = self.answer_in_session(brief)
        elif live:  # the session it waited in is gone: start again, answer in the brief
            self.note("the session that asked is gone; starting a new one")
        if not self.state.get("launched_at"):
            self.launch()
        elif self.tmux.has_session(self.session):
            self.note(f"adopting the live agent session {self.session}")
            self.event("agent.adopted", {"session": self.session})
        try:
            if not self.state.get("prompted_at"):
                self.prompt_kind, text = self.write_brief(brief)
                stop = self.start_up()
                if stop is not None:
                    return self.finish(stop, stop.kind)
                self.deliver(self.adapter.prompt_text(self.prompt_kind, text))  # type: ignore[arg-type]
                update_workflow(self.ctx.db, self.ctx.workflow_id, state="running")
                self.remember(prompted_at=utcnow())
                self.note(f"the agent accepted the {self.prompt_kind} brief")
            stop, outcome = self.drive()
            return self.finish(stop, outcome)
        finally:
            if not self.keep_session:
                self.tmux.kill_session(self.session)
            env_file(self.worktree).unlink(missing_ok=True)

    def write_brief(self, brief: dict[str, Any]) -> tuple[str, str]:
        """Write `.middle/prompt.md` for this turn; return its kind and text."""
        kind = brief.get("brief", "initial")
        if kind == "answer":
            text = answer_brief(brief.get("question", ""), brief.get("text", ""))
        elif kind == "resume":
            text = resume_brief(brief.get("text", ""), int(brief.get("review_round", 1)))
        else:
            kind = "initial"
            issue = self.ctx.services["store"].load(str(self.ctx.input["epic_ref"]))
            ceiling = issue.complexity_ceiling or int(self.limits["complexity_ceiling"])
            text = initial_brief(issue, ceiling)
        write_brief(self.worktree, text)
        return kind, text

    def answer_in_session(self, brief: dict[str, Any]) -> dict[str, Any]:
        """Type the human's answer into the session that is waiting for it. Returns the
        brief still to deliver: none after a permission, the interrupted one after a dialog."""
        if not self.state.get("launched_at"):
            self.remember(launched_at=utcnow(), launched_epoch=time.time(), session_started=True)
            text = str(brief.get("text", ""))
            if brief.get("question_kind") == "permission":
                keys, instead = self.adapter.permission_keys(text)
                self.event("agent.permission-answered", {"keys": list(keys)})
                self.press(*keys)
                if instead:  # denied: say what to do instead, as a prompt of its own
                    self.wait_for_screen("ready")
                    self.deliver(instead)
                update_workflow(self.ctx.db, self.ctx.workflow_id, state="running")
                self.remember(prompted_at=utcnow())
            else:
                self.event("agent.dialog-answered", {"by": "human"})
                self.tmux.paste(self.session, text)
                time.sleep(PASTE_SETTLE_SECONDS)
                self.tmux.send_keys(self.session, "Enter")
        return dict(brief.get("then") or {})

    def launch(self) -> None:
        """Start the CLI in its tmux session, with an allow-listed environment."""
        hook_vars = {
            "MIDDLE_SESSION": self.session,
            "MIDDLE_SESSION_TOKEN": self.token,
            "MIDDLE_EPIC": str(self.ctx.input["epic_ref"]),
            "MIDDLE_WORKFLOW_ID": self.ctx.workflow_id,
        }
        env = agent_environment(os.environ, self.adapter.env_patterns(), hook_vars)
        resume = self.resumable_session()
        argv = self.adapter.launch_argv(self.worktree, resume_session=resume)
        consume_sentinels(self.worktree)  # a stale sentinel must not end this turn
        self.tmux.kill_session(self.session)  # a leftover from a turn that never ended
        update_workflow(self.ctx.db, self.ctx.workflow_id, state="launching")
        self.tmux.new_session(self.session, self.worktree, launch_argv(self.worktree, argv, env))
        self.remember(launched_at=utcnow(), launched_epoch=time.time())
        self.event("agent.launched", {"session": self.session, "argv": argv})
        self.note(f"launched {self.adapter.name} in tmux session {self.session}")

    def resumable_session(self) -> str | None:
        """A later round continues the agent's conversation, where its transcript is still
        on this machine; otherwise the brief alone carries the context."""
        if not self.previous or not self.session_id:
            return None
        row = get_workflow(self.ctx.db, self.ctx.workflow_id)
        path = row["transcript_path"]
        return self.session_id if path and Path(path).exists() else None

    def start_up(self) -> Stop | None:
        """Wait until the CLI is ready for a prompt, answering the dialogs its adapter
        knows. A screen nobody knows that stays up parks as a question for a human."""
        timeout = float(self.limits.get("launch_timeout_seconds", 120))
        unknown_after = float(self.limits.get("unknown_screen_seconds", 20))
        started = began = time.monotonic()
        previous_pane = None
        while True:
            self.ctx.check_cancelled()
            self.poll()
            pane = self.pane()
            if pane is None:
                raise AgentError(
                    f"the {self.adapter.name} agent exited right after launch, before it was "
                    f"ready; run `{' '.join(self.adapter.argv())}` by hand in a checkout of "
                    f"the repo to see why"
                )
            screen = self.adapter.screen(pane, bool(self.state.get("session_started")))
            if screen.kind == "ready":
                self.event("agent.ready", {"seconds": round(time.monotonic() - began, 3)})
                return None
            settled, previous_pane = pane == previous_pane, pane
            if screen.kind == "dialog" and settled:  # drawn and idle: keys are not lost
                self.event("agent.dialog-answered", {"dialog": screen.name, "keys": screen.keys})
                self.note(f"answered the {self.adapter.name} {screen.name} dialog")
                self.press(*screen.keys)
                started = time.monotonic()
            elif self.adapter.knows_screens and time.monotonic() - started > unknown_after:
                return self.screen_question(pane)
            elif time.monotonic() - started > timeout:
                raise AgentError(
                    f"the {self.adapter.name} agent was not ready within {timeout:g}s (no "
                    f"SessionStart hook); is its hook config calling .middle/hooks/hook.sh?"
                )
            time.sleep(POLL_SECONDS)

    def press(self, *keys: str) -> None:
        """Press keys one at a time, as a person would: a TUI redraws between keys, and
        one that arrives mid-redraw can be dropped."""
        for key in keys:
            self.tmux.send_keys(self.session, key)
            time.sleep(PASTE_SETTLE_SECONDS)

    def screen_question(self, pane: str) -> Stop:
        """Park on a start-up screen middle does not know, with the screen as the question;
        the answer is typed into the session, then the brief is delivered."""
        self.keep_session = True
        screen = "\n".join(line.rstrip() for line in pane.strip().splitlines()[-25:])
        self.event("agent.unknown-screen", {"pane": screen})
        question = (
            f"The {self.adapter.name} agent shows a screen middle does not know, so it has "
            f"not started. Answer with what to type there (it is sent, then Enter), or take "
            f"over with: tmux attach -t {self.session}\n\n{screen}"
        )
        return Stop("asked-question", question=question, question_kind="dialog")

    def wait_for_screen(self, kind: str, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pane = self.pane()
            if pane is None or self.adapter.screen(pane, True).kind == kind:
                return
            time.sleep(POLL_SECONDS)

    def deliver(self, text: str) -> None:
        """Paste `text` as one input and press Enter; wait for the CLI to confirm it, and
        press Enter again if it did not, a bounded number of times. A prompt that is never
        confirmed fails the turn, with the screen in the event log."""
        text = text.rstrip()
        self.pending.clear()  # what they said belongs to earlier prompts
        self.remember(prompted_epoch=time.time())
        self.tmux.paste(self.session, text)
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            time.sleep(PASTE_SETTLE_SECONDS)
            self.tmux.send_keys(self.session, "Enter")
            if not self.adapter.confirms_prompts:
                return
            accepted = self.wait_for_acceptance()
            if accepted is not None:
                exact = accepted.detail.rstrip() == text
                self.event("agent.prompt-accepted", {"attempt": attempt, "exact": exact})
                return
            self.event("agent.prompt-retried", {"attempt": attempt})
        pane = (self.pane(40) or "(the session is gone)").strip()
        self.event("agent.prompt-not-accepted", {"attempts": SUBMIT_ATTEMPTS, "pane": pane})
        raise AgentError(
            f"the agent did not accept the prompt after {SUBMIT_ATTEMPTS} tries; its screen "
            f"is in the event log (agent.prompt-not-accepted), or look: "
            f"tmux attach -t {self.session}"
        )

    def wait_for_acceptance(self) -> Signal | None:
        deadline = time.monotonic() + ACCEPT_SECONDS
        while time.monotonic() < deadline:
            self.ctx.check_cancelled()
            self.poll()
            accepted = self.take("accepted")
            if accepted is not None:
                return accepted
            time.sleep(POLL_SECONDS)
        return None

    def check_interrupted(self) -> None:
        """Stop the turn if `middle cancel` or the watchdog asked (one read per poll)."""
        cancel, ended_by = run_requests(self.ctx.db, self.ctx.workflow_id)
        if cancel:
            raise WorkflowCancelled(self.ctx.workflow_id)
        if ended_by is not None:
            raise AgentError(f"the watchdog ended this turn: {ended_by}")

    def wait_for_stop(self) -> Stop:
        """Until the turn ends (a hook, the CLI's log, its screen, its exit, or the turn
        timeout); then classify the stop."""
        timeout = float(self.limits.get("turn_timeout_seconds", 4 * 3600))
        deadline = time.monotonic() + timeout
        beat = checked = 0.0
        while True:
            self.check_interrupted()
            self.poll()
            signal = self.take(*TURN_ENDS)
            if signal is not None:
                self.session_over = signal.kind == "ended"
                break
            # Hooks are a cheap directory read; asking tmux is a process, so less often.
            if time.monotonic() - checked >= SCREEN_SECONDS:
                checked = time.monotonic()
                pane = self.pane(60)
                if pane is None:
                    self.ctx.check_cancelled()  # `middle cancel` ends the session too
                    self.session_over = True
                    signal = Signal("ended", "the session vanished")
                    break
                screen = self.adapter.screen(pane, True)
                if screen.kind == "permission":
                    return self.permission_question(pane)
                if screen.kind in ("dialog", "rate-limited"):
                    self.event("agent.dialog-answered", {"dialog": screen.name})
                    self.press(*screen.keys)
                if screen.kind == "rate-limited":
                    signal = Signal("rate-limited", screen.name, reset=screen.reset)
                    break
            if time.monotonic() > deadline:
                self.event("agent.turn-timeout", {"seconds": timeout})
                signal = Signal("stop", f"the turn timed out after {timeout:g}s")
                break
            if time.monotonic() - beat > 5:
                update_workflow(self.ctx.db, self.ctx.workflow_id, last_heartbeat=utcnow())
                beat = time.monotonic()
            time.sleep(POLL_SECONDS)
        stop = self.adapter.classify_stop(self.worktree, signal, self.transcript_tail())
        if stop.kind == "bare-stop" and signal.detail.startswith("the turn timed out"):
            stop = Stop("bare-stop", reason=signal.detail)
        if (
            stop.kind == "bare-stop"
            and self.session_over
            and not self.tmux.has_session(self.session)
        ):
            raise AgentError(
                f"the agent's tmux session {self.session} ended without a Stop hook or a "
                f"sentinel (did the agent crash, or tmux die?)"
            )
        return stop

    def permission_question(self, pane: str) -> Stop:
        """Park with the session alive, waiting on its permission prompt."""
        self.keep_session = True
        self.poll()
        self.take()
        asked = self.last_tool or _dialog_excerpt(pane, "Do you want to proceed?")
        self.event("agent.permission-asked", {"tool": asked})
        question = (
            f"The agent asks permission to run {asked}\n"
            f"Answer 'yes' to allow it, or say what it should do instead."
        )
        return Stop("asked-question", question=question, question_kind="permission")

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
            if stop.question_kind == "permission":
                return stop, stop.kind
            nudge = "continue"
            if stop.kind == "done":  # in GitHub mode, done also needs a ready PR
                missing = self.ctx.services["store"].confirms_done(self.branch)
                if missing is not None:
                    consume_sentinels(self.worktree)
                    stop, nudge = Stop("bare-stop", reason=missing), missing
            nudges = int(self.state.get("nudges", 0))
            if stop.kind == "bare-stop" and nudges < MAX_NUDGES and self.can_nudge():
                self.remember(nudges=nudges + 1)
                why = stop.reason or "stopped without a sentinel"
                self.event("agent.nudged", {"nudge": nudges + 1, "why": why})
                self.note(f"the agent {why}; nudging ({nudges + 1}/3)")
                self.deliver(nudge)
                continue
            if stop.kind == "done" and gates:
                failing = [r for r in run_gates(gates, self.worktree) if not r.passed]
                self.state["failing_gates"] = [r.name for r in failing]
                gate_nudges = int(self.state.get("gate_nudges", 0))
                if failing and gate_nudges < MAX_NUDGES and self.can_nudge():
                    self.remember(gate_nudges=gate_nudges + 1)
                    report = "; ".join(f"{r.name}: {r.output.strip()[-300:]}" for r in failing)
                    self.event("gates.failed", {"report": report})
                    consume_sentinels(self.worktree)
                    self.deliver(
                        f"Verification failed, so the work is not done yet: {report} "
                        f"Fix it, commit, and write .middle/done.json again.".replace("\n", " ")
                    )
                    continue
                if failing:
                    return stop, "gates-failed"
            return stop, stop.kind

    def can_nudge(self) -> bool:
        return not self.session_over and self.tmux.has_session(self.session)

    def finish(self, stop: Stop, outcome: str) -> dict[str, Any]:
        if outcome == "rate-limited":
            stop = self.record_rate_limit(stop)
        elif outcome != "failed":
            self.clear_rate_limit()
        output = {
            "outcome": outcome,
            "question": stop.question,
            "question_kind": stop.question_kind,
            "context": stop.context,
            "reason": stop.reason,
            "reset_at": stop.reset_at,
            "nudges": int(self.state.get("nudges", 0)),
            "failing_gates": self.state.get("failing_gates", []),
            "last_message": self.last_message,
        }
        if stop.question_kind == "dialog":  # what to deliver once the screen is answered
            output["then"] = {k: v for k, v in self.previous.items() if k != "then"}
        # Recorded before the sentinels go, so a rerun of this step returns the same turn.
        # As JSON text: a merge patch would drop the output's null values.
        self.remember(ended_at=utcnow(), outcome=outcome, output=json.dumps(output))
        consume_sentinels(self.worktree)
        self.event("agent.stopped", {"outcome": outcome, "reason": stop.reason})
        return output

    def record_rate_limit(self, stop: Stop) -> Stop:
        """A usage limit blocks new dispatches on this adapter until it resets. Returns
        the stop with its reset as a timestamp."""
        reset, understood = parse_reset(stop.reset_at, datetime.now(UTC))
        said = f"said {stop.reset_at!r}" if understood else "no reset time understood"
        set_rate_limit(
            self.ctx.db,
            self.adapter.name,
            status="limited",
            reset_at=iso(reset),
            source=f"usage-limit message in workflow {self.ctx.workflow_id} ({said})",
        )
        return Stop(stop.kind, reason=stop.reason, reset_at=iso(reset) if understood else None)

    def clear_rate_limit(self) -> None:
        """A turn that completed shows the adapter works again."""
        if active_rate_limit(self.ctx.db, self.adapter.name) is not None:
            set_rate_limit(
                self.ctx.db,
                self.adapter.name,
                status="available",
                reset_at=None,
                source=f"a turn completed in workflow {self.ctx.workflow_id}",
            )


def _dialog_excerpt(pane: str, marker: str) -> str:
    """The lines of a dialog above its question, which say what it is about."""
    lines = [line.strip(" │╭╮╰╯─") for line in pane.splitlines()]
    end = next((i for i, line in enumerate(lines) if marker in line), len(lines))
    body = [line for line in lines[max(0, end - 8) : end] if line]
    return " / ".join(body) or "(see the session)"
