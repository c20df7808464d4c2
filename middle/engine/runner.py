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
- One process at a time drives a run (`RunLocks`). While it does, a locked database is
  waited out, never a failure: a driver that gave up on it could only strand the run or
  end it wrongly (`store.patient`).
- A driver told to let go (`RunDetached`, a foreground command's SIGINT or SIGTERM) leaves
  the run live with no driver, as a SIGKILL would, and records `workflow.detached`; a
  later `resume` adopts it. A step's retry policy never retries a cancel or a detach.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlite_utils import Database
from tenacity import RetryCallState, Retrying, stop_after_delay
from tenacity.retry import retry_base

from middle.engine.drive import Drive
from middle.engine.locks import RunLocks
from middle.engine.registry import Registry
from middle.engine.runs import Runs
from middle.engine.runstate import RunResult, RunState
from middle.engine.step import Step
from middle.engine.workflow import Workflow
from middle.errors import (
    DatabaseBusyError,
    RunDetached,
    UnknownWorkflowError,
    WorkflowCancelled,
    WorkflowError,
)
from middle.store import TERMINAL_STATES, Row, database_file, patient


class _UnlessStopped(retry_base):
    """A step's own retry policy, except that a cancel or a detach is never retried,
    whatever the policy says: a cancel ends the run, a detach leaves it to `resume`."""

    def __init__(self, retry: retry_base) -> None:
        self.retry = retry

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(failure, WorkflowCancelled | RunDetached):
            return False
        return self.retry(retry_state)


class Runner:
    """Runs workflows from a registry against one store.

    `services` reach steps as `ctx.services` (any object: middle's own steps get a
    `middle.steps.services.Services`); `sleep` is tenacity's sleep between attempts (tests
    inject a no-op); `lock_dir` defaults to `locks/` beside the database file;
    `on_step(name, attempt)` is told as each attempt starts (live progress).
    """

    def __init__(
        self,
        db: Database,
        registry: Registry,
        *,
        services: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        lock_dir: Path | None = None,
        on_step: Callable[[str, int], None] | None = None,
    ) -> None:
        self.db = db
        self.runs = Runs(db)
        self.registry = registry
        self.services = services
        self.sleep = sleep
        self._policies: dict[str, tuple[Step, Retrying]] = {}
        self.locks = RunLocks(lock_dir) if lock_dir else RunLocks.beside(database_file(db))
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
        if not self._create(definition, input, workflow_id):
            return self.resume(workflow_id)
        with self._driving(workflow_id):
            run_input = MappingProxyType(dict(input))
            run = RunState(workflow_id, definition, run_input, {}, {}, "pending")
            return self._drive(run).go()

    def enqueue(self, workflow: Workflow | str, input: Mapping[str, Any], workflow_id: str) -> bool:
        """Create the run's row, `pending`, without driving it (a `resume` drives it);
        False if the id exists already with this same workflow and input."""
        return self._create(self._definition(workflow), input, workflow_id)

    def _create(self, definition: Workflow, input: Mapping[str, Any], workflow_id: str) -> bool:
        if "repo" not in input:
            raise WorkflowError(f"workflow {definition.name!r} needs input['repo']")
        try:
            json.dumps(dict(input))
        except TypeError as exc:
            raise WorkflowError(f"workflow input must be JSON: {exc}") from exc
        created = self.runs.start(
            workflow_id,
            kind=definition.kind,
            subject=definition.subject(input),
            meta={"workflow": definition.name, "input": dict(input)},
        )
        if not created:
            self._refuse_other_input(workflow_id, definition.name, input)
        return created

    def _drive(self, run: RunState) -> Drive:
        return Drive(
            run,
            runs=self.runs,
            registry=self.registry,
            services=self.services,
            retrying=self._retrying,
            on_step=self.on_step,
            kill_at=self.kill_at,
        )

    def _retrying(self, step: Step) -> Retrying:
        """The step's retry policy as tenacity runs it, made once per step and runner (a
        `Retrying` starts afresh at each call; making one cost about a tenth of a step)."""
        made = self._policies.get(step.name)
        if made is None or made[0] is not step:  # a registry may swap a step of that name
            policy = Retrying(
                stop=step.stop,
                wait=step.wait,
                retry=_UnlessStopped(step.retry),
                reraise=True,
                sleep=self.sleep,
            )
            made = self._policies[step.name] = (step, policy)
        return made[1]

    def _refuse_other_input(self, workflow_id: str, name: str, input: Mapping[str, Any]) -> None:
        """An id is an idempotency key for one request: the same id with another workflow
        or input is a caller's mistake, not a retry, and resuming the old run would hide it."""
        meta = Runs.meta(self.runs.get(workflow_id))
        asked = {"workflow": name, "input": json.loads(json.dumps(dict(input)))}
        recorded = {"workflow": meta.get("workflow"), "input": meta.get("input")}
        if asked != recorded:
            raise WorkflowError(
                f"workflow id {workflow_id!r} was started with {recorded}, not {asked}; "
                f"use a new id for a different request"
            )

    def resume(self, workflow_id: str) -> RunResult:
        """Continue a run from its checkpoints: after a crash, or after a signal arrived."""
        row = self.runs.get(workflow_id)
        if row["state"] in TERMINAL_STATES:
            return RunResult(workflow_id, row["state"])
        with self._driving(workflow_id):
            row = self.runs.get(workflow_id)  # re-read: the last holder may have moved it
            if row["state"] in TERMINAL_STATES:
                return RunResult(workflow_id, row["state"])
            definition, run_input = self._recorded_definition(row)
            checkpoints = self.runs.checkpoints(workflow_id)
            run = RunState(
                workflow_id,
                definition,
                MappingProxyType(dict(run_input)),
                {cp["name"]: cp for cp in checkpoints},
                {cp["position"]: cp for cp in checkpoints},
                row["state"],
            )
            return self._drive(run).go()

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
        with self.runs.transaction():
            state = self.runs.get(workflow_id)["state"]  # unknown id: a clear error
            if when_state is not None and state not in when_state:
                return False
            delivered = self.runs.deliver(workflow_id, name, payload)
        self.runs.event(workflow_id, "signal.delivered", {"signal": name, "new": delivered})
        return delivered

    def cancel(self, workflow_id: str, *, wait: float = 30.0) -> RunResult:
        """Compensate the completed steps and end the run `cancelled`.

        If another process is driving the run, the request is recorded and that process
        stops at its next step boundary (or when a step calls `ctx.check_cancelled()`);
        this call waits up to `wait` seconds for it.
        """
        row = self.runs.get(workflow_id)
        if row["state"] in TERMINAL_STATES:
            return RunResult(workflow_id, row["state"])
        self.runs.request_cancel(workflow_id)
        with self._driving(workflow_id, wait=wait):
            row = self.runs.get(workflow_id)
            if row["state"] in TERMINAL_STATES:
                return RunResult(workflow_id, row["state"])
            definition, run_input = self._recorded_definition(row)
            run = RunState(workflow_id, definition, run_input, {}, {}, row["state"])
            return self._drive(run).finish_cancelled()

    def driven(self, workflow_id: str) -> bool:
        """Whether another process (or runner) drives the run now; found without taking
        the run's lock, so asking never gets in a driver's way."""
        return self.locks.is_held(workflow_id)

    @contextmanager
    def _driving(self, workflow_id: str, *, wait: float = 0.0) -> Iterator[None]:
        """Be the run's one driver for the block: hold its lock, and wait out a locked
        database for as long as it takes. Told to let go (`RunDetached`), release the run
        as it is and say so in its events."""
        try:
            with self.locks.hold(workflow_id, wait=wait), patient(self.db):
                yield
        except RunDetached as detached:
            detached.workflow_id = detached.workflow_id or workflow_id
            self._record_detach(workflow_id, detached.signal)
            raise

    def _record_detach(self, workflow_id: str, signal: str) -> None:
        """History only: the released lock is what says the run has no driver, so a
        database too busy to take this event now must not hold up the one letting go."""
        try:
            with patient(self.db, stop_after_delay(1)):
                self.runs.event(workflow_id, "workflow.detached", {"signal": signal})
        except (sqlite3.OperationalError, DatabaseBusyError):
            pass

    # -- lookups ----------------------------------------------------------------------

    def _definition(self, workflow: Workflow | str) -> Workflow:
        if isinstance(workflow, str):
            return self.registry.workflow(workflow)
        if workflow.name not in self.registry.workflows:
            self.registry.add_workflow(workflow)
        self.registry.check_workflow(workflow)
        return workflow

    def _recorded_definition(self, row: Row) -> tuple[Workflow, Mapping[str, Any]]:
        meta = Runs.meta(row)
        if "workflow" not in meta:
            raise UnknownWorkflowError(
                f"workflow row {row['id']} was not started by the runner; nothing to resume"
            )
        return self.registry.workflow(meta["workflow"]), meta.get("input", {})
