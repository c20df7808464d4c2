"""What a step receives: its run's identity and input, what ran before it, and handles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from middle.errors import WorkflowCancelled
from middle.store import record_event
from middle.store.records import cancel_requested
from middle.store.signals import delivered_signals


class Signals(Mapping[str, Any]):
    """The run's delivered signals (name → payload), read from the store when asked, so a
    step always sees what has arrived by now."""

    def __init__(self, db: Database, workflow_id: str) -> None:
        self._db = db
        self._workflow_id = workflow_id

    def _current(self) -> dict[str, Any]:
        return delivered_signals(self._db, self._workflow_id)

    def __getitem__(self, name: str) -> Any:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


@dataclass(frozen=True)
class StepContext:
    """Passed to every step and compensation.

    - `workflow_id`: the run, also the `workflows` row's id.
    - `input`: the run's input (read-only); it includes `repo` and `epic_ref`.
    - `results`: outputs of the steps completed so far, by step name (read-only).
    - `attempt`: this attempt's number, from 1, counted across retries and crashes.
    - `signals`: delivered signals, by name.
    - `round`: the iteration of the innermost loop this step runs in, from 1.
    - `db`, `services`: the store, and the side-effect handles the runner was given.
    """

    workflow_id: str
    step: str
    input: Mapping[str, Any]
    results: Mapping[str, Any]
    attempt: int
    signals: Signals
    db: Database
    services: Mapping[str, Any] = field(default_factory=dict)
    round: int = 1

    def record_event(self, type: str, payload: Mapping[str, Any] | None = None) -> None:
        """Append an event to the run's log."""
        record_event(self.db, self.workflow_id, type, payload)

    def check_cancelled(self) -> None:
        """Raise `WorkflowCancelled` if a cancel was requested; long steps call this while
        they wait, so a cancel does not have to wait for them to finish."""
        if cancel_requested(self.db, self.workflow_id):
            raise WorkflowCancelled(self.workflow_id)
