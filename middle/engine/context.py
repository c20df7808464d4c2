"""What a step receives: its run's identity and input, what ran before it, and handles."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from middle.engine.runs import Runs
from middle.errors import WorkflowCancelled

# The states a step may end its run in with `ctx.end` (`compensated` is the engine's own:
# it means compensations ran, which only a failure or a cancel causes).
END_STATES = ("completed", "failed", "cancelled")


class Signals(Mapping[str, Any]):
    """The run's delivered signals (name → payload), read from the store when asked, so a
    step always sees what has arrived by now."""

    def __init__(self, runs: Runs, workflow_id: str) -> None:
        self._runs = runs
        self._workflow_id = workflow_id

    def __getitem__(self, name: str) -> Any:
        return self._runs.delivered(self._workflow_id)[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs.delivered(self._workflow_id))

    def __len__(self) -> int:
        return len(self._runs.delivered(self._workflow_id))


@dataclass(frozen=True)
class StepContext:
    """Passed to every step and compensation.

    - `workflow_id`: the run, also the `workflows` row's id.
    - `input`: the run's input (read-only); it includes `repo`.
    - `results`: outputs of the steps completed so far, by step name (read-only).
    - `attempt`: this attempt's number, from 1, counted across retries and crashes.
    - `signals`: delivered signals, by name.
    - `round`: the iteration of the innermost loop this step runs in, from 1.
    - `runs`: the run rows (`ctx.runs.get(ctx.workflow_id)`, `scratch`, `update`, ...).
    - `services`: the side-effect handles the runner was given (middle's own steps get a
      `middle.steps.services.Services`).
    - `db`: the store, for the tables that are not run rows (rate limits, slots).
    """

    workflow_id: str
    step: str
    input: Mapping[str, Any]
    results: Mapping[str, Any]
    attempt: int
    signals: Signals
    runs: Runs
    services: Any = None
    round: int = 1
    on_end: Callable[[str, str], None] | None = None

    @property
    def db(self) -> Database:
        return self.runs.db

    def record_event(self, type: str, payload: Mapping[str, Any] | None = None) -> None:
        """Append an event to the run's log."""
        self.runs.event(self.workflow_id, type, payload)

    def check_cancelled(self) -> None:
        """Raise `WorkflowCancelled` if a cancel was requested; long steps call this while
        they wait, so a cancel does not have to wait for them to finish."""
        if self.runs.cancel_requested(self.workflow_id):
            raise WorkflowCancelled(self.workflow_id)

    def end(self, state: str, reason: str) -> None:
        """End the run in `state` (completed, failed or cancelled) with `reason`, once this
        step returns: its output is checkpointed, the nodes after it do not run, and
        nothing is compensated. A run another process ended meanwhile keeps that ending."""
        if state not in END_STATES:
            raise ValueError(f"a step ends a run {' or '.join(END_STATES)}, not {state!r}")
        if self.on_end is None:
            raise RuntimeError("ctx.end is for steps; a compensation or a branch cannot end a run")
        self.on_end(state, reason)
