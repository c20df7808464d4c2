"""`Runs`: the run rows (a `workflows` row with its checkpoints, signals, scratch and
events), as the engine and steps read and change them.

It is how the engine and steps touch run rows (the hook channel and a slot claim keep
their own one-transaction writes); the SQL stays in `middle/store`. A method about one run
takes its id first. Record-creating writes go through the store's one PK-scoped
`insert_idempotent`, so a retried step that repeats them changes nothing.

A run's **subject** says what the run is about, as labels: `repo` (required), and
optionally `ref` (the issue), `adapter` (the agent working on it) and `source` (who asked).
The store files them in the columns `repo`, `epic_ref`, `adapter` and `meta_json.source`.

A run's **scratch** is what its steps keep between attempts and crashes that is not a step
output: a turn's counters, a compensation's note for the end reason. `scratch(id, key)`
reads one key; `save_scratch(id, key, patch)` merges into it (RFC 7396: a null deletes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlite_utils import Database

import middle.store as store
from middle.errors import WorkflowError
from middle.store import Row

SUBJECT_LABELS = ("repo", "ref", "adapter", "source")
_LABELS = frozenset(SUBJECT_LABELS)


def plain_name(checkpoint: str) -> str:
    """The node name of a checkpoint name (`launch-and-drive#2` → `launch-and-drive`)."""
    return checkpoint.partition("#")[0]


class Runs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def transaction(self) -> AbstractContextManager[Database]:
        """One write transaction around several calls (a checkpoint and a state change)."""
        return store.write_transaction(self.db)

    # -- the row --------------------------------------------------------------------

    def start(
        self, run_id: str, *, kind: str, subject: Mapping[str, Any], meta: Mapping[str, Any]
    ) -> bool:
        """Create the run `pending`; False if a run of that id exists (a retry)."""
        if not subject.keys() <= _LABELS or not subject.get("repo"):
            raise WorkflowError(
                f"a run's subject has the labels {', '.join(SUBJECT_LABELS)} and needs a "
                f"repo; got {dict(subject)}"
            )
        ref = subject.get("ref")
        return store.create_workflow_record(
            self.db,
            id=run_id,
            kind=kind,
            repo=str(subject["repo"]),
            epic_ref=None if ref is None else str(ref),
            adapter=str(subject.get("adapter") or "none"),
            source=subject.get("source"),
            meta=meta,
        )

    def get(self, run_id: str) -> Row:
        """The run's row; `UnknownWorkflowError` if there is none."""
        return store.get_workflow(self.db, run_id)

    def find(self, **filters: Any) -> list[Row]:
        """Runs matching every filter (`state`, `repo`, `epic_ref`, `kind`, `live`)."""
        return store.list_workflows(self.db, **filters)

    def live(self, *, repo: str, ref: str | None) -> Row | None:
        """The issue's live implementation run, if there is one."""
        return store.find_live_implementation(self.db, repo=repo, epic_ref=ref)

    @staticmethod
    def meta(row: Mapping[str, Any]) -> dict[str, Any]:
        """A row's `meta_json`, read."""
        meta: dict[str, Any] = json.loads(row["meta_json"] or "{}")
        return meta

    @staticmethod
    def input(row: Mapping[str, Any]) -> dict[str, Any]:
        """The input a run's row says it was started with."""
        return dict(Runs.meta(row).get("input", {}))

    def update(self, run_id: str, **columns: Any) -> None:
        """Set columns that describe the run (`session_name`, `worktree_path`, ...)."""
        store.update_workflow(self.db, run_id, **columns)

    def note(self, run_id: str, patch: Mapping[str, Any]) -> None:
        """Merge `patch` into the run's `meta_json` (a flag like `queued`)."""
        store.merge_workflow_meta(self.db, run_id, patch)

    def transition(
        self,
        run_id: str,
        state: str,
        *,
        leaving: str | Iterable[str],
        reason: str | None = None,
    ) -> bool:
        """Compare-and-set the run's state: False, and no change, if it is no longer in
        one of the `leaving` states. Terminal states are never left."""
        return store.transition_workflow(self.db, run_id, state, leaving=leaving, end_reason=reason)

    def session_owner(self, session: str, *, besides: str) -> Row | None:
        """The other live run that owns tmux session `session`, if any."""
        return store.live_session_owner(self.db, session, besides=besides)

    def record_pull_request(self, run_id: str, number: int, url: str) -> None:
        store.record_pull_request(self.db, run_id, number, url)

    # -- scratch --------------------------------------------------------------------

    def scratch(self, run_id: str, key: str) -> Any:
        """The run's scratch value under `key` (None if never saved)."""
        return self.meta(self.get(run_id)).get("scratch", {}).get(key)

    def save_scratch(self, run_id: str, key: str, patch: Any) -> None:
        """Merge `patch` into the scratch value under `key`, in one statement."""
        store.merge_workflow_meta(self.db, run_id, {"scratch": {key: patch}})

    # -- requests from other processes ----------------------------------------------

    def request_cancel(self, run_id: str) -> None:
        """Flag the run; the process driving it stops at its next check."""
        store.request_cancel(self.db, run_id)

    def cancel_requested(self, run_id: str) -> bool:
        return store.cancel_requested(self.db, run_id)

    def requests(self, run_id: str) -> tuple[bool, str | None]:
        """In one read: a cancel request, and the watchdog's verdict (or None)."""
        return store.run_requests(self.db, run_id)

    # -- checkpoints ----------------------------------------------------------------

    def checkpoints(self, run_id: str) -> list[Row]:
        """Every checkpoint of the run, in the order the steps ran."""
        return store.load_checkpoints(self.db, run_id)

    def latest_output(self, run_id: str, step: str) -> Any:
        """The output of `step`'s newest completed checkpoint in any loop iteration."""
        found = [
            cp
            for cp in self.checkpoints(run_id)
            if plain_name(cp["name"]) == step and cp["status"] == "completed"
        ]
        return json.loads(found[-1]["output_json"]) if found else None

    def begin_attempt(self, run_id: str, checkpoint: str, position: int) -> int:
        return store.begin_attempt(self.db, run_id, checkpoint, position)

    def complete(self, run_id: str, checkpoint: str, output_json: str) -> None:
        store.complete_step(self.db, run_id, checkpoint, output_json)

    def record_completed(
        self, run_id: str, checkpoint: str, position: int, output_json: str
    ) -> None:
        """Checkpoint an engine node (a branch's choice, a received signal) at once."""
        store.record_completed(self.db, run_id, checkpoint, position, output_json)

    def attempt_failed(self, run_id: str, checkpoint: str, error: str) -> None:
        store.record_attempt_error(self.db, run_id, checkpoint, error)

    def fail(self, run_id: str, checkpoint: str, error: str) -> None:
        store.fail_step(self.db, run_id, checkpoint, error)

    def claim_compensation(self, run_id: str, checkpoint: str) -> bool:
        return store.claim_compensation(self.db, run_id, checkpoint)

    def finish_compensation(self, run_id: str, checkpoint: str, error: str | None) -> None:
        store.finish_compensation(self.db, run_id, checkpoint, error)

    # -- signals --------------------------------------------------------------------

    def signal(self, run_id: str, name: str) -> Row | None:
        """The signal row (armed, delivered or both), if any."""
        return store.get_signal(self.db, run_id, name)

    def deliver(self, run_id: str, name: str, payload: Any) -> bool:
        """Store a signal durably; False if one of that name was already delivered."""
        return store.deliver_signal(self.db, run_id, name, payload)

    def arm(self, run_id: str, name: str, deadline: str | None) -> None:
        store.arm_signal(self.db, run_id, name, deadline)

    def consume(self, run_id: str, name: str) -> None:
        store.consume_signal(self.db, run_id, name)

    def delivered(self, run_id: str) -> dict[str, Any]:
        """Every delivered signal's payload, by name."""
        return store.delivered_signals(self.db, run_id)

    # -- events ---------------------------------------------------------------------

    def event(
        self, run_id: str | None, type: str, payload: Mapping[str, Any] | None = None
    ) -> None:
        """Append an event to the run's log."""
        store.record_event(self.db, run_id, type, payload)

    def turn_timed_out(self, run_id: str) -> float | None:
        """The turn timeout, if the latest turn hit it (an `agent.turn-timeout` event)."""
        return store.turn_timed_out(self.db, run_id)
