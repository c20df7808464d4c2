"""The schema's vocabulary: the values its CHECK constraints allow, named once.

These are contracts (DESIGN.md, "Database"): plugins and `status --json` readers see them.
"""

from __future__ import annotations

WORKFLOW_KINDS = ("implementation", "recommender", "documentation")
WORKFLOW_STATES = (
    "pending",
    "launching",
    "running",
    "waiting-human",
    "rate-limited",
    "completed",
    "compensated",
    "failed",
    "cancelled",
)
TERMINAL_STATES = ("completed", "compensated", "failed", "cancelled")
LIVE_STATES = tuple(s for s in WORKFLOW_STATES if s not in TERMINAL_STATES)
STEP_STATUSES = ("running", "completed", "failed", "compensating", "compensated")
EVENT_PAYLOAD_MAX_BYTES = 16 * 1024
