"""The store: one SQLite file through sqlite-utils, and the only place SQL lives.

Callers outside the store import from here, never from a submodule: this list is the
store's whole API. Run rows are read and changed through the engine's `Runs`; the rest
(rate limits, slots, repo settings, the read views and transfer) is used as is.

The names load on first use (each from its own submodule), so a command that reads a
little (`middle status`) does not pay for sqlite-utils and tenacity."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from middle.store.base import (
        database_file,
        patient,
        write_transaction,
    )
    from middle.store.checkpoints import (
        begin_attempt,
        claim_compensation,
        complete_step,
        fail_step,
        finish_compensation,
        record_attempt_error,
        record_completed,
    )
    from middle.store.db import (
        disk_full,
        integrity_check,
        is_disk_full,
        open_db,
        store_fault,
    )
    from middle.store.migrations import (
        LATEST_VERSION,
        migrate,
        schema_version,
    )
    from middle.store.rate_limits import (
        set_rate_limit,
    )
    from middle.store.reads import (
        Readable,
        active_rate_limit,
        current_step,
        database_files,
        get_rate_limit,
        iso,
        last_event,
        list_rate_limits,
        list_workflows,
        load_checkpoints,
        open_reader,
        utcnow,
    )
    from middle.store.records import (
        Row,
        add_review_comment,
        cancel_requested,
        create_workflow_record,
        discard_draft_comment,
        encode_event_payload,
        find_live_implementation,
        get_workflow,
        insert_idempotent,
        last_hook_at,
        live_session_owner,
        mark_comments_sent,
        merge_workflow_meta,
        newest_events,
        record_event,
        record_pull_request,
        request_cancel,
        review_comments,
        run_requests,
        transition_workflow,
        turn_timed_out,
        update_workflow,
    )
    from middle.store.repos import (
        list_repo_settings,
        merge_repo_settings,
        register_repo,
        registered_repos,
        repo_settings,
    )
    from middle.store.retention import archive_runs, prune_events
    from middle.store.schema import (
        EVENT_PAYLOAD_MAX_BYTES,
        LIVE_STATES,
        STEP_STATUSES,
        TERMINAL_STATES,
        WORKFLOW_KINDS,
        WORKFLOW_STATES,
    )
    from middle.store.signals import (
        arm_signal,
        consume_signal,
        deliver_signal,
        delivered_signals,
        get_signal,
    )
    from middle.store.slots import (
        QUEUED,
        SlotsBusy,
        busy_scope,
        claim_child_slot,
        claim_slot,
        claim_slot_at_launch,
        slot_holders,
    )
    from middle.store.transfer import (
        RUN_TABLES,
        event_uid,
        export_run_rows,
        import_run_rows,
        run_row_counts,
    )
    from middle.store.views import (
        change_marker,
        counts_by_state,
        distinct_values,
        events_after,
        last_event_id,
        live_counts_by_repo,
        recent_events,
        recent_hook_deliveries,
        runs_in_states,
        runs_page,
        slots_in_use,
        step_totals,
    )

# Public name -> the submodule of middle.store that defines it.
_SUBMODULE: dict[str, str] = {
    **dict.fromkeys(
        (
            "Readable",
            "database_files",
            "open_reader",
            "active_rate_limit",
            "current_step",
            "get_rate_limit",
            "iso",
            "last_event",
            "list_rate_limits",
            "list_workflows",
            "load_checkpoints",
            "utcnow",
        ),
        "reads",
    ),
    **dict.fromkeys(("database_file", "patient", "write_transaction"), "base"),
    **dict.fromkeys(
        (
            "begin_attempt",
            "claim_compensation",
            "complete_step",
            "fail_step",
            "finish_compensation",
            "record_attempt_error",
            "record_completed",
        ),
        "checkpoints",
    ),
    **dict.fromkeys(
        (
            "disk_full",
            "integrity_check",
            "is_disk_full",
            "open_db",
            "store_fault",
        ),
        "db",
    ),
    **dict.fromkeys(("LATEST_VERSION", "migrate", "schema_version"), "migrations"),
    **dict.fromkeys(("set_rate_limit",), "rate_limits"),
    **dict.fromkeys(
        (
            "Row",
            "cancel_requested",
            "create_workflow_record",
            "encode_event_payload",
            "find_live_implementation",
            "get_workflow",
            "insert_idempotent",
            "last_hook_at",
            "live_session_owner",
            "merge_workflow_meta",
            "record_event",
            "record_pull_request",
            "request_cancel",
            "run_requests",
            "transition_workflow",
            "turn_timed_out",
            "update_workflow",
        ),
        "records",
    ),
    **dict.fromkeys(
        (
            "list_repo_settings",
            "merge_repo_settings",
            "register_repo",
            "registered_repos",
            "repo_settings",
        ),
        "repos",
    ),
    **dict.fromkeys(("archive_runs", "prune_events"), "retention"),
    **dict.fromkeys(
        (
            "add_review_comment",
            "discard_draft_comment",
            "mark_comments_sent",
            "newest_events",
            "review_comments",
        ),
        "records",
    ),
    **dict.fromkeys(
        (
            "EVENT_PAYLOAD_MAX_BYTES",
            "LIVE_STATES",
            "STEP_STATUSES",
            "TERMINAL_STATES",
            "WORKFLOW_KINDS",
            "WORKFLOW_STATES",
        ),
        "schema",
    ),
    **dict.fromkeys(
        ("arm_signal", "consume_signal", "deliver_signal", "delivered_signals", "get_signal"),
        "signals",
    ),
    **dict.fromkeys(
        (
            "QUEUED",
            "SlotsBusy",
            "busy_scope",
            "claim_child_slot",
            "claim_slot",
            "claim_slot_at_launch",
            "slot_holders",
        ),
        "slots",
    ),
    **dict.fromkeys(
        ("RUN_TABLES", "event_uid", "export_run_rows", "import_run_rows", "run_row_counts"),
        "transfer",
    ),
    **dict.fromkeys(
        (
            "change_marker",
            "counts_by_state",
            "distinct_values",
            "events_after",
            "last_event_id",
            "live_counts_by_repo",
            "recent_events",
            "recent_hook_deliveries",
            "runs_in_states",
            "runs_page",
            "slots_in_use",
            "step_totals",
        ),
        "views",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULE:
        value = getattr(import_module(f"middle.store.{_SUBMODULE[name]}"), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'middle.store' has no attribute {name!r}")


__all__ = [
    "EVENT_PAYLOAD_MAX_BYTES",
    "LATEST_VERSION",
    "LIVE_STATES",
    "QUEUED",
    "RUN_TABLES",
    "STEP_STATUSES",
    "TERMINAL_STATES",
    "WORKFLOW_KINDS",
    "WORKFLOW_STATES",
    "Readable",
    "Row",
    "SlotsBusy",
    "active_rate_limit",
    "add_review_comment",
    "archive_runs",
    "arm_signal",
    "begin_attempt",
    "busy_scope",
    "cancel_requested",
    "change_marker",
    "claim_child_slot",
    "claim_compensation",
    "claim_slot",
    "claim_slot_at_launch",
    "complete_step",
    "consume_signal",
    "counts_by_state",
    "create_workflow_record",
    "current_step",
    "database_file",
    "database_files",
    "deliver_signal",
    "delivered_signals",
    "discard_draft_comment",
    "disk_full",
    "distinct_values",
    "encode_event_payload",
    "event_uid",
    "events_after",
    "export_run_rows",
    "fail_step",
    "find_live_implementation",
    "finish_compensation",
    "get_rate_limit",
    "get_signal",
    "get_workflow",
    "import_run_rows",
    "insert_idempotent",
    "integrity_check",
    "is_disk_full",
    "iso",
    "last_event",
    "last_event_id",
    "last_hook_at",
    "list_rate_limits",
    "list_repo_settings",
    "list_workflows",
    "live_counts_by_repo",
    "live_session_owner",
    "load_checkpoints",
    "mark_comments_sent",
    "merge_repo_settings",
    "merge_workflow_meta",
    "migrate",
    "newest_events",
    "open_db",
    "open_reader",
    "patient",
    "prune_events",
    "recent_events",
    "recent_hook_deliveries",
    "record_attempt_error",
    "record_completed",
    "record_event",
    "record_pull_request",
    "register_repo",
    "registered_repos",
    "repo_settings",
    "request_cancel",
    "review_comments",
    "run_requests",
    "run_row_counts",
    "runs_in_states",
    "runs_page",
    "schema_version",
    "set_rate_limit",
    "slot_holders",
    "slots_in_use",
    "step_totals",
    "store_fault",
    "transition_workflow",
    "turn_timed_out",
    "update_workflow",
    "utcnow",
    "write_transaction",
]
