"""The dispatcher's share of the state issue: In-flight, Rate limits and Slot usage.

Between recommender runs the dispatcher refreshes only these three sections. It parses
the current body first, so a body that is not v1 raises `StateIssueError` and is left as
it is, and it renders the rest back untouched: the recommender's sections, the metadata
(including `generated`) and everything outside the markers keep their bytes.
"""

from __future__ import annotations

import dataclasses

from middle.state_issue.model import (
    DISPATCHER_SECTIONS,
    InFlight,
    RateLimit,
    SlotUsage,
    StateIssue,
    v1_rate_limits,
)
from middle.state_issue.parse import parse
from middle.state_issue.render import render


@dataclasses.dataclass(frozen=True)
class DispatcherSections:
    in_flight: tuple[InFlight, ...]
    rate_limits: tuple[RateLimit, ...]
    slots: SlotUsage


def with_dispatcher_sections(state: StateIssue, sections: DispatcherSections) -> StateIssue:
    """`state` with the three dispatcher-owned sections replaced (placeholders there go,
    since the dispatcher writes the canonical empty form). The rate limits, one per adapter
    and quota, become v1's three lines (`v1_rate_limits`)."""
    return dataclasses.replace(
        state,
        in_flight=sections.in_flight,
        rate_limits=v1_rate_limits(sections.rate_limits),
        slots=sections.slots,
        placeholders=tuple(p for p in state.placeholders if p[0] not in DISPATCHER_SECTIONS),
    )


def update_dispatcher_sections(body: str, sections: DispatcherSections) -> str:
    """`body` with only the dispatcher-owned sections rewritten."""
    return render(with_dispatcher_sections(parse(body), sections))
