"""The store: one SQLite file through sqlite-utils, and the only place SQL lives."""

from middle.store.base import utcnow, write_transaction
from middle.store.db import integrity_check, open_db
from middle.store.migrations import LATEST_VERSION, migrate, schema_version
from middle.store.records import (
    create_workflow_record,
    encode_event_payload,
    find_live_implementation,
    get_workflow,
    insert_idempotent,
    list_workflows,
    merge_workflow_meta,
    record_event,
    update_workflow,
)

__all__ = [
    "LATEST_VERSION",
    "create_workflow_record",
    "encode_event_payload",
    "find_live_implementation",
    "get_workflow",
    "insert_idempotent",
    "integrity_check",
    "list_workflows",
    "merge_workflow_meta",
    "migrate",
    "open_db",
    "record_event",
    "schema_version",
    "update_workflow",
    "utcnow",
    "write_transaction",
]
