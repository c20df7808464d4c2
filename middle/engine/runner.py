"""The durable runner: checkpoints every node, retries steps, compensates, parks, resumes.

Guarantees a caller may rely on:

- A completed node is never run again for the same run; replay returns its recorded output.
  A step a crash interrupted runs again (so step side effects must be idempotent).
- When a step's attempts run out, the caller gets that step's last real exception (never
  tenacity's `RetryError`), after the completed steps' compensations ran in reverse order.
  The row ends `compensated` if anything was undone, else `failed`: never stranded.
- Every failed attempt is an `events` row (`step.attempt-failed`) with its message.
- A `Wait` without its signal parks the run (`waiting-human`); `signal` stores a signal
  durably and `resume` continues after the wait.
- One process at a time drives a run (`RunLock`).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlite_utils import Database
from tenacity import Retrying

from middle.engine.context import Signals, StepContext
from middle.engine.locks import RunLocks
from middle.engine.registry import Registry
from middle.engine.runstate import (
    PARKED,
    RunResult,
    RunState,
    describe_error,
    plain_name,
    to_json,
)
from middle.engine.step import Step
from middle.engine.workflow import Branch, Loop, Node, Wait, Workflow, node_name
from middle.errors import (
    SignalTimeoutError,
    UnknownWorkflowError,
    WorkflowCancelled,
    WorkflowChangedError,
    WorkflowError,
)
from middle.store import create_workflow_record, get_workflow, record_event, write_transaction
from middle.store.base import database_file, iso, utcnow
from middle.store.checkpoints import (
    begin_attempt,
    claim_compensation,
    complete_step,
    fail_step,
    finish_compensation,
    load_checkpoints,
    record_attempt_error,
    record_completed,
)
from middle.store.records import (
    Row,
    cancel_requested,
    request_cancel,
    transition_workflow,
)
from middle.store.schema import LIVE_STATES, TERMINAL_STATES
from middle.store.signals import arm_signal, consume_signal, deliver_signal, get_signal


class Runner:
    """Runs workflows from a registry against one store.

    `services` reach steps as `ctx.services`; `sleep` is tenacity's sleep between attempts
    (tests inject a no-op); `lock_dir` defaults to `locks/` beside the database file;
    `on_step(name, attempt)` is told as each attempt starts (live progress).
    """

    def __init__(
        self,
        db: Database,
        registry: Registry,
        *,
        services: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        lock_dir: Path | None = None,
        on_step: Callable[[str, int], None] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.services: Mapping[str, Any] = MappingProxyType(dict(services or {}))
        self.sleep = sleep
        self.locks = RunLocks(lock_dir or database_file(db).parent / "locks")
        self.on_step = on_step
        # Fault injection for tests/faults: "<checkpoint>:before" or "<checkpoint>:after"
        # SIGKILLs this process right before a step runs, or right after it returns.
        self.kill_at = os.environ.get("MIDDLE_FAULT_KILL_AT")

    # -- the public verbs -------------------------------------------------------------

    def start(
        self,
        workflow: Workflow | str,
        input: Mapping[str, Any],
        workflow_id: str | None = None,
    ) -> RunResult:
        """Create the run's `workflows` row and drive it until it completes or parks.

        Starting an id that already exists resumes that run instead (an idempotency key).
        """
        definition = self._definition(workflow)
        workflow_id = workflow_id or f"wf-{uuid.uuid4().hex[:12]}"
        if "repo" not in input:
            raise WorkflowError(f"workflow {definition.name!r} needs input['repo']")
        try:
            json.dumps(dict(input))
        except TypeError as exc:
            raise WorkflowError(f"workflow input must be JSON: {exc}") from exc
        epic_ref = input.get("epic_ref")
        created = create_workflow_record(
            self.db,
            id=workflow_id,
            kind=definition.kind,
            repo=str(input["repo"]),
            epic_ref=None if epic_ref is None else str(epic_ref),
            adapter=str(input.get("adapter") or "none"),
            source=input.get("source"),
            meta={"workflow": definition.name, "input": dict(input)},
        )
        if not created:
            self._refuse_other_input(workflow_id, definition.name, input)
            return self.resume(workflow_id)
        with self.locks.hold(workflow_id):
            run_input = MappingProxyType(dict(input))
            return self._drive(RunState(workflow_id, definition, run_input, {}, {}, "pending"))

    def _refuse_other_input(self, workflow_id: str, name: str, input: Mapping[str, Any]) -> None:
        """An id is an idempotency key for one request: the same id with another workflow
        or input is a caller's mistake, not a retry, and resuming the old run would hide it."""
        meta = json.loads(get_workflow(self.db, workflow_id)["meta_json"] or "{}")
        asked = {"workflow": name, "input": json.loads(json.dumps(dict(input)))}
        recorded = {"workflow": meta.get("workflow"), "input": meta.get("input")}
        if asked != recorded:
            raise WorkflowError(
                f"workflow id {workflow_id!r} was started with {recorded}, not {asked}; "
                f"use a new id for a different request"
            )

    def resume(self, workflow_id: str) -> RunResult:
        """Continue a run from its checkpoints: after a crash, or after a signal arrived."""
        row = get_workflow(self.db, workflow_id)
        if row["state"] in TERMINAL_STATES:
            return RunResult(workflow_id, row["state"])
        with self.locks.hold(workflow_id):
            row = get_workflow(self.db, workflow_id)  # re-read: the last holder may have moved it
            if row["state"] in TERMINAL_STATES:
                return RunResult(workflow_id, row["state"])
            definition, run_input = self._recorded_definition(row)
            checkpoints = load_checkpoints(self.db, workflow_id)
            run = RunState(
                workflow_id,
                definition,
                MappingProxyType(dict(run_input)),
                {cp["name"]: cp for cp in checkpoints},
                {cp["position"]: cp for cp in checkpoints},
                row["state"],
            )
            return self._drive(run)

    def signal(
        self,
        workflow_id: str,
        name: str,
        payload: Any = None,
        *,
        when_state: tuple[str, ...] | None = None,
    ) -> bool:
        """Store a signal durably; False if one of that name had already arrived, or if
        `when_state` is given and the run is not in one of those states.

        The state check and the delivery are one transaction, so two pollers (or a double
        click) cannot both resume a run. It does not run anything: call `resume`.
        """
        with write_transaction(self.db):
            state = get_workflow(self.db, workflow_id)["state"]  # unknown id: a clear error
            if when_state is not None and state not in when_state:
                return False
            delivered = deliver_signal(self.db, workflow_id, name, payload)
        record_event(self.db, workflow_id, "signal.delivered", {"signal": name, "new": delivered})
        return delivered

    def cancel(self, workflow_id: str, *, wait: float = 30.0) -> RunResult:
        """Compensate the completed steps and end the run `cancelled`.

        If another process is driving the run, the request is recorded and that process
        stops at its next step boundary (or when a step calls `ctx.check_cancelled()`);
        this call waits up to `wait` seconds for it.
        """
        row = get_workflow(self.db, workflow_id)
        if row["state"] in TERMINAL_STATES:
            return RunResult(workflow_id, row["state"])
        request_cancel(self.db, workflow_id)
        with self.locks.hold(workflow_id, wait=wait):
            row = get_workflow(self.db, workflow_id)
            if row["state"] in TERMINAL_STATES:
                return RunResult(workflow_id, row["state"])
            definition, run_input = self._recorded_definition(row)
            run = RunState(workflow_id, definition, run_input, {}, {}, row["state"])
            return self._finish_cancelled(run)

    # -- driving ----------------------------------------------------------------------

    def _drive(self, run: RunState) -> RunResult:
        try:
            parked_on = self._run_nodes(run, run.workflow.nodes)
        except WorkflowCancelled:
            with write_transaction(self.db):
                self._record_finished_step(run)
                fail_step(self.db, run.workflow_id, run.current, "cancelled")
            return self._finish_cancelled(run)
        except Exception as exc:
            self._finish_failed(run, exc)
            raise
        if parked_on is not None:
            return RunResult(run.workflow_id, PARKED, dict(run.results), waiting_for=parked_on)
        with write_transaction(self.db):
            self._record_finished_step(run)
            completed = transition_workflow(
                self.db, run.workflow_id, "completed", leaving=LIVE_STATES
            )
        if completed:
            run.state = "completed"
        else:  # a step ended the run itself (say, `failed` on the agent's word): keep that
            run.state = get_workflow(self.db, run.workflow_id)["state"]
        return RunResult(run.workflow_id, run.state, dict(run.results))

    def _run_nodes(self, run: RunState, nodes: list[Node], suffix: str = "") -> str | None:
        """Run `nodes` in order; return the signal name if the run parked, else None.

        Inside a loop's k-th iteration (k > 1) every checkpoint name carries `#k`, so each
        iteration has its own; `results` holds each node's latest output by plain name.
        """
        for node in nodes:
            run.position += 1
            plain = node_name(node)
            run.current = plain + suffix
            replayed = self._replayed(run, run.current)
            if replayed is not None:
                run.results[plain] = json.loads(replayed["output_json"])
            else:
                if cancel_requested(self.db, run.workflow_id):
                    raise WorkflowCancelled(run.workflow_id)
                if isinstance(node, Wait):
                    if not self._receive(run, node):
                        return node.signal
                elif isinstance(node, Branch):
                    self._choose(run, node)
                elif isinstance(node, str):
                    run.results[plain] = self._run_step(run, self.registry.step(node))
            if isinstance(node, Branch):
                parked_on = self._run_nodes(run, node.paths[run.results[plain]], suffix)
                if parked_on is not None:
                    return parked_on
            elif isinstance(node, Loop):
                parked_on = self._run_loop(run, node)
                if parked_on is not None:
                    return parked_on
        return None

    def _run_loop(self, run: RunState, node: Loop) -> str | None:
        outer = run.round
        for iteration in range(1, node.max_iterations + 1):
            run.round = iteration
            suffix = f"#{iteration}" if iteration > 1 else ""
            parked_on = self._run_nodes(run, node.body, suffix)
            if parked_on is not None:
                return parked_on
            if not node.again(self._context(run, node.name, attempt=1)):
                break
        run.round = outer
        return None

    def _replayed(self, run: RunState, name: str) -> Row | None:
        """The completed checkpoint to replay for this node, after checking that the
        recorded run still matches the definition (like DBOS's determinism check)."""
        recorded_here = run.recorded_at.get(run.position)
        if recorded_here is not None and recorded_here["name"] != name:
            raise self._changed(run, recorded_here["name"], name)
        checkpoint = run.recorded.get(name)
        if checkpoint is not None and checkpoint["position"] != run.position:
            raise self._changed(run, name, name, moved_from=checkpoint["position"])
        if checkpoint is not None and checkpoint["status"] == "completed":
            return checkpoint
        return None

    def _changed(
        self, run: RunState, recorded: str, defined: str, moved_from: int | None = None
    ) -> WorkflowChangedError:
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

    def _record_finished_step(self, run: RunState) -> None:
        """Write the checkpoint of the step that finished last (inside the caller's
        transaction), and mark the run running if it was not."""
        if run.unrecorded is not None:
            complete_step(self.db, run.workflow_id, *run.unrecorded)
            run.unrecorded = None

    def _record_node(self, run: RunState, output_json: str) -> None:
        """Checkpoint an engine node (a branch's choice) as completed."""
        with write_transaction(self.db):
            self._record_finished_step(run)
            self._set_state(run, "running")
            record_completed(self.db, run.workflow_id, run.current, run.position, output_json)

    def _context(self, run: RunState, step: str, attempt: int) -> StepContext:
        return StepContext(
            workflow_id=run.workflow_id,
            step=step,
            input=run.input,
            results=MappingProxyType(run.results),
            attempt=attempt,
            round=run.round,
            signals=Signals(self.db, run.workflow_id),
            db=self.db,
            services=self.services,
        )

    def _run_step(self, run: RunState, step: Step) -> Any:
        checkpoint = run.current
        base = self._context(run, checkpoint, attempt=0)

        def attempt() -> Any:
            with write_transaction(self.db):
                self._record_finished_step(run)
                self._set_state(run, "running")
                number = begin_attempt(self.db, run.workflow_id, checkpoint, run.position)
            if self.on_step is not None:
                self.on_step(checkpoint, number)
            self._fault_point(checkpoint, "before")
            try:
                return step.fn(replace(base, attempt=number))
            except Exception as exc:
                with write_transaction(self.db):
                    record_attempt_error(self.db, run.workflow_id, checkpoint, describe_error(exc))
                    record_event(
                        self.db,
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

        retrying = Retrying(
            stop=step.stop, wait=step.wait, retry=step.retry, reraise=True, sleep=self.sleep
        )
        output_json = to_json(retrying(attempt), f"step {step.name!r}")
        self._fault_point(checkpoint, "after")
        run.unrecorded = (checkpoint, output_json)
        return json.loads(output_json)

    def _fault_point(self, checkpoint: str, moment: str) -> None:
        if self.kill_at == f"{checkpoint}:{moment}":
            os.kill(os.getpid(), signal.SIGKILL)

    def _choose(self, run: RunState, node: Branch) -> None:
        choice = node.choose(self._context(run, run.current, attempt=1))
        if choice not in node.paths:
            raise WorkflowError(
                f"branch {node.name!r} chose {choice!r}; its paths are {sorted(node.paths)}"
            )
        self._record_node(run, json.dumps(choice))
        run.results[node.name] = choice

    def _receive(self, run: RunState, node: Wait) -> bool:
        """Consume the wait's signal if it has arrived; otherwise arm it and park.

        Consuming deletes the signal row in the same commit that checkpoints its payload,
        so the next wait for that signal (a loop's next iteration) starts unarmed.
        """
        signal = get_signal(self.db, run.workflow_id, node.signal)
        if signal is not None and signal["delivered_at"] is not None:
            with write_transaction(self.db):
                self._record_finished_step(run)
                self._set_state(run, "running")
                record_completed(
                    self.db, run.workflow_id, run.current, run.position, signal["payload_json"]
                )
                consume_signal(self.db, run.workflow_id, node.signal)
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
            node.state(self._context(run, run.current, 1)) if callable(node.state) else node.state
        )
        if run.state != parked_state:
            with write_transaction(self.db):
                self._record_finished_step(run)
                arm_signal(self.db, run.workflow_id, node.signal, deadline)
                self._set_state(run, parked_state)
                record_event(
                    self.db,
                    run.workflow_id,
                    "workflow.parked",
                    {"signal": node.signal, "state": parked_state},
                )
        return False

    def _set_state(self, run: RunState, state: str) -> None:
        """Move the row to `state` once; a drive that only replays writes nothing."""
        if run.state != state:
            # the turn step moves the row through launching/running itself
            transition_workflow(self.db, run.workflow_id, state, leaving=LIVE_STATES)
            run.state = state

    # -- endings ----------------------------------------------------------------------

    def _finish_failed(self, run: RunState, exc: Exception) -> None:
        reason = f"{run.current}: {describe_error(exc)}"
        with write_transaction(self.db):
            self._record_finished_step(run)
            fail_step(self.db, run.workflow_id, run.current, describe_error(exc))
        undone = self._compensate(run)
        state = "compensated" if undone else "failed"
        reason = self._with_end_note(run, reason)
        transition_workflow(
            self.db, run.workflow_id, state, leaving=LIVE_STATES, end_reason=reason[:2000]
        )
        run.state = state
        record_event(
            self.db,
            run.workflow_id,
            f"workflow.{state}",
            {"step": run.current, "type": type(exc).__name__, "message": str(exc)},
        )

    def _with_end_note(self, run: RunState, reason: str) -> str:
        """`reason`, plus what a compensation wanted said (`end_note` in `meta_json`: where
        it saved the agent's work, say)."""
        meta = json.loads(get_workflow(self.db, run.workflow_id)["meta_json"] or "{}")
        note = meta.get("end_note")
        return f"{reason[:1500]}; {note}" if note else reason

    def _finish_cancelled(self, run: RunState) -> RunResult:
        self._compensate(run)
        transition_workflow(
            self.db,
            run.workflow_id,
            "cancelled",
            leaving=LIVE_STATES,
            end_reason=self._with_end_note(run, "cancelled"),
        )
        record_event(self.db, run.workflow_id, "workflow.cancelled", {})
        return RunResult(run.workflow_id, "cancelled")

    def _compensate(self, run: RunState) -> list[str]:
        """Undo the completed steps in reverse order; return the steps whose compensation
        ran (raised or not). A compensation that raises is recorded and the rest still run."""
        step_names = set(run.workflow.step_names())
        checkpoints = [
            cp
            for cp in load_checkpoints(self.db, run.workflow_id)
            if plain_name(cp["name"]) in step_names and cp["status"] == "completed"
        ]
        results = {plain_name(cp["name"]): json.loads(cp["output_json"]) for cp in checkpoints}
        undone: list[str] = []
        for cp in reversed(checkpoints):
            step = self.registry.steps.get(plain_name(cp["name"]))
            if step is None or step.compensate is None:
                continue
            if not claim_compensation(self.db, run.workflow_id, cp["name"]):
                continue
            undone.append(cp["name"])
            ctx = replace(self._context(run, cp["name"], cp["attempts"]), results=results)
            try:
                step.compensate(ctx)
            except Exception as exc:
                finish_compensation(self.db, run.workflow_id, cp["name"], describe_error(exc))
                record_event(
                    self.db,
                    run.workflow_id,
                    "step.compensation-failed",
                    {"step": cp["name"], "type": type(exc).__name__, "message": str(exc)},
                )
            else:
                finish_compensation(self.db, run.workflow_id, cp["name"], None)
        return undone

    # -- lookups ----------------------------------------------------------------------

    def _definition(self, workflow: Workflow | str) -> Workflow:
        if isinstance(workflow, str):
            return self.registry.workflow(workflow)
        if workflow.name not in self.registry.workflows:
            self.registry.add_workflow(workflow)
        self.registry.check_workflow(workflow)
        return workflow

    def _recorded_definition(self, row: Row) -> tuple[Workflow, Mapping[str, Any]]:
        meta = json.loads(row["meta_json"])
        if "workflow" not in meta:
            raise UnknownWorkflowError(
                f"workflow row {row['id']} was not started by the runner; nothing to resume"
            )
        return self.registry.workflow(meta["workflow"]), meta.get("input", {})
