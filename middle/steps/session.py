"""The agent's live session, as a turn drives it: what the CLI says (its hooks, its own
files, its screen) turned into signals, and how to type to it (keys, a confirmed prompt).

`AgentSession` never decides what a turn means; `middle.steps.turn` does. It holds the
turn's durable record (`TurnRecord`, the run's `turns` scratch), so a dispatcher that died
and adopts the session knows which prompt is the latest and which turn ends it has seen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from middle.agents.base import BaseAdapter, Signal, Stop
from middle.agents.screens import trailing_menu
from middle.engine import StepContext
from middle.errors import AgentError, WorkflowCancelled
from middle.steps.services import services
from middle.store import utcnow
from middle.system.hooks import drain_hooks

POLL_SECONDS = 0.1
SCREEN_SECONDS = 0.5  # how often the pane is read while a turn runs
SUBMIT_ATTEMPTS = 3
ACCEPT_SECONDS = 10.0  # per submit attempt, for the CLI to confirm the prompt
PASTE_SETTLE_SECONDS = 0.1  # CLIs take an Enter right after a paste as part of the paste
_BOX = " │╭╮╰╯─"  # a box's sides, stripped off a line
_DASHES = re.compile("[\u2500-\u257f]+")  # a line of box drawing: a rule, a dashed rule
TURN_ENDS = ("stop", "rate-limited", "failed", "ended")
STALE_BEFORE_PROMPT = (*TURN_ENDS, "permission")  # said of an earlier prompt: not this one


class TurnRecord:
    """One turn's progress in the run's `turns` scratch, by round: launched, prompted,
    nudges, the turn ends seen. Written as it happens, so it survives the dispatcher."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.key = str(ctx.round)
        turns = ctx.runs.scratch(ctx.workflow_id, "turns") or {}
        self.state: dict[str, Any] = dict(turns.get(self.key, {}))

    def remember(self, **fields: Any) -> None:
        self.state.update(fields)
        self.ctx.runs.save_scratch(self.ctx.workflow_id, "turns", {self.key: fields})


class AgentSession:
    def __init__(self, ctx: StepContext, record: TurnRecord) -> None:
        self.ctx = ctx
        self.record = record
        self.state = record.state
        self.adapter: BaseAdapter = services(ctx).adapter
        self.tmux = services(ctx).tmux
        self.progress = services(ctx).progress
        self.limits = services(ctx).config["limits"]
        row = ctx.runs.get(ctx.workflow_id)
        self.worktree = Path(row["worktree_path"])
        self.session = row["session_name"]
        self.token = row["session_token"]
        self.session_id = row["session_id"]
        self.pending: list[Signal] = []  # signals read while waiting for something else
        self.last_tool = ""
        self.keep_session = False  # a park that waits inside the session
        self.session_over = False
        self.last_message: str | None = None  # what the agent last said, for `status`

    def remember(self, **fields: Any) -> None:
        self.record.remember(**fields)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        self.ctx.record_event(kind, payload)

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
            signal = self.adapter.read_hook(hook)
            said = hook.payload.get("last_assistant_message") or hook.payload.get(
                "last-assistant-message"
            )
            # Only a hook the adapter reads as the agent's says what the agent said: Codex
            # also notifies for its thread-title request, and that one may come last.
            if signal is not None and isinstance(said, str) and said.strip():
                self.last_message = said.strip()[-2000:]
            if (
                signal is not None
                and signal.kind == "ended"
                and not self.state.get("session_started")
            ):
                continue  # Claude ends the session it resumes from as the new one starts
            if signal is not None and not (signal.kind in STALE_BEFORE_PROMPT and sent < prompted):
                self.pending.append(signal)
        if launched:
            for signal in self.adapter.watch(self.worktree, prompted):
                if signal.kind == "session":
                    fields = {"session_id": signal.detail, "transcript_path": signal.path}
                    self.ctx.runs.update(self.ctx.workflow_id, **fields)
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

    def start_up(self) -> Stop | None:
        """Wait until the CLI is ready for a prompt, answering the dialogs its adapter
        knows. A screen nobody knows that stays up parks as a question for a human; its
        clock starts once something is drawn, so a CLI slow to start is not asked about
        an empty pane."""
        timeout = float(self.limits.get("launch_timeout_seconds", 120))
        unknown_after = float(self.limits.get("unknown_screen_seconds", 20))
        started = began = time.monotonic()
        shown = None  # when something was first drawn (again after a dialog is answered)
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
            if shown is None and pane.strip():
                shown = time.monotonic()
            if screen.kind == "waiting":
                started = time.monotonic()
            elif screen.kind == "dialog" and settled:  # drawn and idle: keys are not lost
                self.event("agent.dialog-answered", {"dialog": screen.name, "keys": screen.keys})
                self.note(f"answered the {self.adapter.name} {screen.name} dialog")
                self.press(*screen.keys)
                started = shown = time.monotonic()
            elif (
                self.adapter.knows_screens
                and shown is not None
                and time.monotonic() - shown > unknown_after
            ):
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
            f"over with: {self.tmux.attach_command(self.session)}\n\n{screen}"
        )
        return Stop("asked-question", question=question, question_kind="dialog")

    def wait_for_screen(self, kind: str, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pane = self.pane()
            if pane is None or self.adapter.screen(pane, True).kind == kind:
                return
            time.sleep(POLL_SECONDS)

    def wait_while_screen(self, kind: str, seconds: float = 10.0) -> None:
        """Until the screen is no longer `kind`: a prompt just answered stays drawn until the
        CLI redraws, and must not be read as asking again."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pane = self.pane()
            if pane is None or self.adapter.screen(pane, True).kind != kind:
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
            f"{self.tmux.attach_command(self.session)}"
        )

    def type_line(self, text: str) -> None:
        """Type `text` and Enter, with no confirmation to wait for (a dialog's answer)."""
        self.tmux.paste(self.session, text)
        time.sleep(PASTE_SETTLE_SECONDS)
        self.tmux.send_keys(self.session, "Enter")

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
        cancel, ended_by = self.ctx.runs.requests(self.ctx.workflow_id)
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
            if self.take("permission") is not None:  # the CLI says so, whatever its screen
                return self.permission_question(self.pane(60) or "")
            # Hooks are a cheap directory read; asking tmux is a process, so less often.
            if time.monotonic() - checked >= SCREEN_SECONDS:
                checked = time.monotonic()
                pane = self.pane(60)
                if pane is None:
                    self.ctx.check_cancelled()  # `middle cancel` ends the session too
                    self.session_over = True
                    signal = Signal("ended", "the session vanished")
                    break
                # The adapter reads a permission prompt first, whatever it holds, and a
                # dialog only by its whole shape: a prompt is never answered here.
                screen = self.adapter.screen(pane, True)
                if screen.kind == "permission":
                    return self.permission_question(pane)
                if screen.kind in ("dialog", "rate-limited"):
                    answered = {"dialog": screen.name, "keys": screen.keys}
                    self.event("agent.dialog-answered", answered)
                    self.press(*screen.keys)
                if screen.kind == "rate-limited":
                    signal = Signal("rate-limited", screen.name, reset=screen.reset)
                    break
            if time.monotonic() > deadline:
                self.event("agent.turn-timeout", {"seconds": timeout})
                signal = Signal("stop", f"the turn timed out after {timeout:g}s")
                break
            if time.monotonic() - beat > 5:
                self.ctx.runs.update(self.ctx.workflow_id, last_heartbeat=utcnow())
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
        asked = self.last_tool or _dialog_excerpt(pane)
        self.event("agent.permission-asked", {"tool": asked})
        question = (
            f"The agent asks permission to run {asked}\n"
            f"Answer 'yes' to allow it, or say what it should do instead."
        )
        return Stop("asked-question", question=question, question_kind="permission")

    def transcript_tail(self) -> str:
        row = self.ctx.runs.get(self.ctx.workflow_id)
        tail = ""
        if row["transcript_path"]:
            path = Path(row["transcript_path"])
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(max(0, path.stat().st_size - 8192))
                    tail = handle.read().decode(errors="replace")
        return tail + "\n" + self.tmux.capture(self.session, 40)

    def can_nudge(self) -> bool:
        """Only a live session that middle controls, at its input box: a human who took it
        over (the dashboard's "Take over") is typing there, and gets no "continue" from
        middle; and a nudge ends with Enter, which on a prompt middle did not read (a
        permission, a menu) would choose its first option, "Yes", with no human asked."""
        if self.session_over or not self.tmux.has_session(self.session):
            return False
        if self.ctx.runs.get(self.ctx.workflow_id)["controlled_by"] == "human":
            return False
        if not self.adapter.knows_screens:
            return True
        self.wait_for_screen("ready")  # the CLI may still be redrawing after its Stop
        pane = self.pane()
        kind = self.adapter.screen(pane, True).kind if pane is not None else "gone"
        if kind != "ready":
            self.event("agent.not-nudged", {"screen": kind})
        return kind == "ready"


def _dialog_excerpt(pane: str) -> str:
    """What a permission prompt is about, in its own words, when no hook said: the block of
    the menu that ends the screen, above its "Do you want to ...?" question (the last one:
    a command or a file shown above it can hold the same words), or all of it when it asks
    otherwise, at most its first 2 and last 5 lines; the screen's last lines when no menu
    ends it."""
    menu = trailing_menu(pane)
    if menu is None:
        return " / ".join(_drawn_lines(pane.splitlines())[-8:]) or "(see the session)"
    lines = _drawn_lines(menu.block)
    asks = [i for i, line in enumerate(lines) if line.startswith("Do you want to ")]
    lines = lines[: asks[-1]] if asks else lines
    if len(lines) > 8:  # its title and subject (the file, the command's start), and its end
        lines = [*lines[:2], "\u2026", *lines[-5:]]
    return " / ".join(lines) or "(see the session)"


def _drawn_lines(lines: Iterable[str]) -> list[str]:
    """The lines that say something: no blank lines and rules, no box sides."""
    stripped = (line.strip(_BOX) for line in lines)
    return [line for line in stripped if line and not _DASHES.fullmatch(line)]
