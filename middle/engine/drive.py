"""One drive of one run: walk its nodes, replay or run each, checkpoint, park, and end it.

`Runner` (the public verbs) makes a `Drive` for each `start`, `resume` or `cancel` while
it holds the run's lock, handing it what it was configured with; the drive owns the run's
`RunState` until it returns.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from tenacity import DoAttempt, DoSleep, RetryCallState, Retrying

from middle.engine.context import Signals, StepContext
from middle.engine.registry import Registry
from middle.engine.runs import Runs, plain_name
from middle.engine.runstate import PARKED, RunResult, RunState, describe_error, to_json
from middle.engine.step import Step
from middle.engine.workflow import Branch, Loop, Node, Wait, node_name
from middle.errors import SignalTimeoutError, WorkflowCancelled, WorkflowChangedError, WorkflowError
from middle.store import LIVE_STATES, Row, is_disk_full, iso, utcnow

T = TypeVar("T")


def under_policy(retrying: Retrying, attempt: Callable[[], T]) -> T:
    """`retrying(attempt)`, with tenacity's controller only once an attempt has failed.

    A first attempt that succeeds, as nearly every one does, returns at once. One that
    raises is handed to tenacity as its first outcome, timed from when it began, and the
    loop goes on as `Retrying.__call__` runs it: the same retry, stop and wait decisions,
    and (with `reraise=True`) the last real exception, never `RetryError`.
    """
    began = time.monotonic()
    try:
        return attempt()
    except BaseException:
        failure = sys.exc_info()
    retrying.begin()
    state = RetryCallState(retry_object=retrying, fn=attempt, args=(), kwargs={})
    state.start_time = began
    state.set_exception(failure)  # type: ignore[arg-type]  # exc_info() of a raised one
    while True:
        do = retrying.iter(retry_state=state)
        if isinstance(do, DoAttempt):
            try:
                result = attempt()
            except BaseException:
                state.set_exception(sys.exc_info())  # type: ignore[arg-type]
            else:
                state.set_result(result)
        elif isinstance(do, DoSleep):
            state.prepare_for_next_attempt()
            retrying.sleep(do)
        else:
            return do  # type: ignore[no-any-return]


class Ended(Exception):
    """A step asked, through `ctx.end`, for the run to end after it."""


class Drive:
    def __init__(
        self,
        run: RunState,
        *,
        runs: Runs,
        registry: Registry,
        services: Any,
        retrying: Callable[[Step], Retrying],
        on_step: Callable[[str, int], None] | None,
        kill_at: str | None,
    ) -> None:
        self.run = run
        self.runs = runs
        self.registry = registry
        self.services = services
        self.retrying = retrying
        self.on_step = on_step
        self.kill_at = kill_at
        # Every context of this drive shares these: both read live (the results as the
        # run's dict grows, the signals from the store when asked).
        self.results = MappingProxyType(run.results)
        self.signals = Signals(runs, run.workflow_id)

    # -- the whole drive ------------------------------------------------------------

    def go(self) -> RunResult:
        run = self.run
        try:
            parked_on = self.nodes(run.workflow.nodes)
        except Ended:
            return self.end_as_asked()
        except WorkflowCancelled:
            with self.runs.transaction():
                self.record_finished_step()
                self.runs.fail(run.workflow_id, run.current, "cancelled")
            return self.finish_cancelled()
        except Exception as exc:
            if is_disk_full(exc):
                raise  # temporary, not the run's fault: it stays live for `middle resume`
            self.finish_failed(exc)
            raise
        if parked_on is not None:
            return RunResult(run.workflow_id, PARKED, dict(run.results), waiting_for=parked_on)
        with self.runs.transaction():
            self.record_finished_step()
            if self.runs.transition(run.workflow_id, "completed", leaving=LIVE_STATES):
                run.state = "completed"
            else:  # another process ended it meanwhile (a cancel): keep that
                run.state = self.runs.get(run.workflow_id)["state"]
        return RunResult(run.workflow_id, run.state, dict(run.results))

    def nodes(self, nodes: list[Node], suffix: str = "") -> str | None:
        """Run `nodes` in order; return the signal name if the run parked, else None.

        Inside a loop's k-th iteration (k > 1) every checkpoint name carries `#k`, so each
        iteration has its own; `results` holds each node's latest output by plain name.
        """
        run = self.run
        for node in nodes:
            run.position += 1
            plain = node_name(node)
            run.current = plain + suffix
            replayed = self.replayed(run.current)
            if replayed is not None:
                run.results[plain] = json.loads(replayed["output_json"])
            else:
                if self.runs.cancel_requested(run.workflow_id):
                    raise WorkflowCancelled(run.workflow_id)
                if isinstance(node, Wait):
                    if not self.receive(node):
                        return node.signal
                elif isinstance(node, Branch):
                    self.choose(node)
                elif isinstance(node, str):
                    run.results[plain] = self.step(self.registry.step(node))
                    if run.ending is not None:
                        raise Ended
            parked_on = None
            if isinstance(node, Branch):
                parked_on = self.nodes(node.paths[run.results[plain]], suffix)
            elif isinstance(node, Loop):
                parked_on = self.loop(node)
            if parked_on is not None:
                return parked_on
        return None

    def loop(self, node: Loop) -> str | None:
        run = self.run
        outer = run.round
        for iteration in range(1, node.max_iterations + 1):
            run.round = iteration
            suffix = f"#{iteration}" if iteration > 1 else ""
            parked_on = self.nodes(node.body, suffix)
            if parked_on is not None:
                return parked_on
            if not node.again(self.context(node.name, attempt=1)):
                break
        run.round = outer
        return None

    # -- replay ---------------------------------------------------------------------

    def replayed(self, name: str) -> Row | None:
        """The completed checkpoint to replay for this node, after checking that the
        recorded run still matches the definition (like DBOS's determinism check)."""
        run = self.run
        recorded_here = run.recorded_at.get(run.position)
        if recorded_here is not None and recorded_here["name"] != name:
            raise self.changed(recorded_here["name"], name)
        checkpoint = run.recorded.get(name)
        if checkpoint is not None and checkpoint["position"] != run.position:
            raise self.changed(name, name, moved_from=checkpoint["position"])
        if checkpoint is not None and checkpoint["status"] == "completed":
            return checkpoint
        return None

    def changed(
        self, recorded: str, defined: str, moved_from: int | None = None
    ) -> WorkflowChangedError:
        run = self.run
        where = f"at position {run.position}"
        if moved_from is not None:
            detail = f"recorded step {recorded!r} at position {moved_from}, but the definition "
            detail += f"now has it {where}"
        else:
            detail = f"recorded step {recorded!r} {where}, but the definition now has {defined!r}"
        return WorkflowChangedError(
            f"workflow {run.workflow.name!r} changed while runs were in flight: run "
            f"{run.workflow_id} {detail}; restore the old definition to finish it, or cancel it"
        )

    # -- the three kinds of node ----------------------------------------------------

    def context(self, step: str, attempt: int, *, for_step: bool = False) -> StepContext:
        run = self.run
        return StepContext(
            workflow_id=run.workflow_id,
            step=step,
            input=run.input,
            results=self.results,
            attempt=attempt,
            round=run.round,
            signals=self.signals,
            runs=self.runs,
            services=self.services,
            on_end=self.ask_to_end if for_step else None,
        )

    def ask_to_end(self, state: str, reason: str) -> None:
        self.run.ending = (state, reason)

    def step(self, step: Step) -> Any:
        run = self.run
        checkpoint = run.current

        def attempt() -> Any:
            with self.runs.transaction():
                self.record_finished_step()
                self.set_state("running")
                number = self.runs.begin_attempt(run.workflow_id, checkpoint, run.position)
            if self.on_step is not None:
                self.on_step(checkpoint, number)
            self.fault_point(checkpoint, "before")
            run.ending = None  # only the attempt that returns may end the run
            try:
                return step.fn(self.context(checkpoint, attempt=number, for_step=True))
            except Exception as exc:
                with self.runs.transaction():
                    self.runs.attempt_failed(run.workflow_id, checkpoint, describe_error(exc))
                    self.runs.event(
                        run.workflow_id,
                        "step.attempt-failed",
                        {
                            "step": checkpoint,
                            "attempt": number,
                            "type": type(exc).__name__,
                            "message": str(exc),
                        },
                    )
                raise

        output = under_policy(self.retrying(step), attempt)
        output_json = to_json(output, f"step {step.name!r}")
        self.fault_point(checkpoint, "after")
        run.unrecorded = (checkpoint, output_json)
        return None if output is None else json.loads(output_json)

    def fault_point(self, checkpoint: str, moment: str) -> None:
        if self.kill_at == f"{checkpoint}:{moment}":
            os.kill(os.getpid(), signal.SIGKILL)

    def choose(self, node: Branch) -> None:
        run = self.run
        choice = node.choose(self.context(run.current, attempt=1))
        if choice not in node.paths:
            raise WorkflowError(
                f"branch {node.name!r} chose {choice!r}; its paths are {sorted(node.paths)}"
            )
        with self.runs.transaction():
            self.record_finished_step()
            self.set_state("running")
            self.runs.record_completed(
                run.workflow_id, run.current, run.position, json.dumps(choice)
            )
        run.results[node.name] = choice

    def receive(self, node: Wait) -> bool:
        """Consume the wait's signal if it has arrived; otherwise arm it and park.

        Consuming deletes the signal row in the same commit that checkpoints its payload,
        so the next wait for that signal (a loop's next iteration) starts unarmed.
        """
        run = self.run
        signal = self.runs.signal(run.workflow_id, node.signal)
        if signal is not None and signal["delivered_at"] is not None:
            with self.runs.transaction():
                self.record_finished_step()
                self.set_state("running")
                self.runs.record_completed(
                    run.workflow_id, run.current, run.position, signal["payload_json"]
                )
                self.runs.consume(run.workflow_id, node.signal)
            run.results[node.name] = json.loads(signal["payload_json"])
            return True
        if signal is not None and signal["deadline"] and signal["deadline"] <= utcnow():
            raise SignalTimeoutError(
                f"workflow {run.workflow_id} waited for signal {node.signal!r} until "
                f"{signal['deadline']} and it never came"
            )
        deadline = None
        if node.timeout is not None:
            deadline = iso(datetime.now(UTC) + timedelta(seconds=node.timeout))
        parked_state = (
            node.state(self.context(run.current, 1)) if callable(node.state) else node.state
        )
        if run.state != parked_state:
            with self.runs.transaction():
                self.record_finished_step()
                self.runs.arm(run.workflow_id, node.signal, deadline)
                self.set_state(parked_state)
                self.runs.event(
                    run.workflow_id,
                    "workflow.parked",
                    {"signal": node.signal, "state": parked_state},
                )
        return False

    # -- writes ---------------------------------------------------------------------

    def record_finished_step(self) -> None:
        """Write the checkpoint of the step that finished last (inside the caller's
        transaction): it rides on the run's next write, in the same commit."""
        if self.run.unrecorded is not None:
            self.runs.complete(self.run.workflow_id, *self.run.unrecorded)
            self.run.unrecorded = None

    def set_state(self, state: str) -> None:
        """Move the row to `state` once; a drive that only replays writes nothing."""
        if self.run.state != state:
            # a step may have moved the row through launching/running meanwhile
            self.runs.transition(self.run.workflow_id, state, leaving=LIVE_STATES)
            self.run.state = state

    # -- endings --------------------------------------------------------------------

    def end_as_asked(self) -> RunResult:
        """End the run as a step asked with `ctx.end`, in the commit of its checkpoint."""
        run = self.run
        assert run.ending is not None
        state, reason = run.ending
        with self.runs.transaction():
            self.record_finished_step()
            if self.runs.transition(run.workflow_id, state, leaving=LIVE_STATES, reason=reason):
                self.runs.event(
                    run.workflow_id, f"workflow.{state}", {"step": run.current, "reason": reason}
                )
        run.state = self.runs.get(run.workflow_id)["state"]
        return RunResult(run.workflow_id, run.state, dict(run.results))

    def finish_failed(self, exc: Exception) -> None:
        run = self.run
        with self.runs.transaction():
            self.record_finished_step()
            self.runs.fail(run.workflow_id, run.current, describe_error(exc))
        undone = self.compensate()
        state = "compensated" if undone else "failed"
        reason = self.with_end_note(f"{run.current}: {describe_error(exc)}")
        self.runs.transition(run.workflow_id, state, leaving=LIVE_STATES, reason=reason[:2000])
        run.state = state
        self.runs.event(
            run.workflow_id,
            f"workflow.{state}",
            {"step": run.current, "type": type(exc).__name__, "message": str(exc)},
        )

    def finish_cancelled(self) -> RunResult:
        run = self.run
        self.compensate()
        reason = self.with_end_note("cancelled")
        self.runs.transition(run.workflow_id, "cancelled", leaving=LIVE_STATES, reason=reason)
        self.runs.event(run.workflow_id, "workflow.cancelled", {})
        return RunResult(run.workflow_id, "cancelled")

    def with_end_note(self, reason: str) -> str:
        """`reason`, plus what a compensation wanted said (the `end_note` scratch: where it
        saved the agent's work, say)."""
        note = self.runs.scratch(self.run.workflow_id, "end_note")
        return f"{reason[:1500]}; {note}" if note else reason

    def compensate(self) -> list[str]:
        """Undo the completed steps in reverse order; return the steps whose compensation
        ran (raised or not). A compensation that raises is recorded and the rest still run."""
        run = self.run
        step_names = set(run.workflow.step_names())
        checkpoints = [
            cp
            for cp in self.runs.checkpoints(run.workflow_id)
            if plain_name(cp["name"]) in step_names and cp["status"] == "completed"
        ]
        results = {plain_name(cp["name"]): json.loads(cp["output_json"]) for cp in checkpoints}
        undone: list[str] = []
        for cp in reversed(checkpoints):
            step = self.registry.steps.get(plain_name(cp["name"]))
            if step is None or step.compensate is None:
                continue
            if not self.runs.claim_compensation(run.workflow_id, cp["name"]):
                continue
            undone.append(cp["name"])
            ctx = replace(self.context(cp["name"], cp["attempts"]), results=results)
            try:
                step.compensate(ctx)
            except Exception as exc:
                self.runs.finish_compensation(run.workflow_id, cp["name"], describe_error(exc))
                self.runs.event(
                    run.workflow_id,
                    "step.compensation-failed",
                    {"step": cp["name"], "type": type(exc).__name__, "message": str(exc)},
                )
            else:
                self.runs.finish_compensation(run.workflow_id, cp["name"], None)
        return undone
