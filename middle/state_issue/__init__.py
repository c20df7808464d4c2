"""The state issue, format v1: the ranked plan a recommender writes and the dispatcher
keeps current. `parse` and `render` are exact inverses on every body `parse` accepts."""

from middle.state_issue.blockers import BlockerStatus, resolve_blockers
from middle.state_issue.dispatcher import (
    DispatcherSections,
    update_dispatcher_sections,
    with_dispatcher_sections,
)
from middle.state_issue.model import (
    CLOSE_MARKER,
    OPEN_MARKER,
    SECTIONS,
    BlockedItem,
    Blocker,
    Excluded,
    InFlight,
    NeedsHuman,
    RateLimit,
    ReadyRow,
    SlotUsage,
    StateIssue,
    v1_interval,
    v1_rate_limits,
)
from middle.state_issue.parse import parse, reason_problem
from middle.state_issue.render import cut_title, render
from middle.state_issue.validate import validate

__all__ = [
    "CLOSE_MARKER",
    "OPEN_MARKER",
    "SECTIONS",
    "BlockedItem",
    "Blocker",
    "BlockerStatus",
    "DispatcherSections",
    "Excluded",
    "InFlight",
    "NeedsHuman",
    "RateLimit",
    "ReadyRow",
    "SlotUsage",
    "StateIssue",
    "cut_title",
    "parse",
    "reason_problem",
    "render",
    "resolve_blockers",
    "update_dispatcher_sections",
    "v1_interval",
    "v1_rate_limits",
    "validate",
    "with_dispatcher_sections",
]
