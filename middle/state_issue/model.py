"""The state issue, format v1, as plain frozen values.

The model holds everything a body says, including what lies outside the markers
(`before`, `after`), the newline style, dispatcher tick comments and any lenient
empty-state placeholder bullets, so that a render of a parse gives back the very bytes
that were parsed. Equality is structural, which is what the `parse(render(x)) == x`
property compares.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from middle.config.schema import duration_seconds
from middle.errors import StateIssueError

OPEN_MARKER = "<!-- AGENT-QUEUE-STATE v1 -->"
CLOSE_MARKER = "<!-- /AGENT-QUEUE-STATE -->"

SECTIONS = (
    "Ready to dispatch",
    "Needs human input",
    "Blocked",
    "In-flight",
    "Excluded",
    "Rate limits",
    "Slot usage",
)
DISPATCHER_SECTIONS = ("In-flight", "Rate limits", "Slot usage")

READY_HEADER = "| Rank | Epic | Adapter | Sub-issues | Reason |"
READY_RULE = "| --- | --- | --- | --- | --- |"
READY_EMPTY = "| — | _no Epics ready_ | — | — | — |"
IN_FLIGHT_EMPTY = "- _no agents in flight_"

NEEDS_LABELS = (
    "fork tied",
    "ambiguous criteria",
    "ready for review",
    "complexity pause",
    "awaiting reply",
    "blocking critical path",
)
EXCLUDED_CATEGORIES = (
    "assigned to human",
    "needs-design label",
    "acceptance criteria missing",
    "no open sub-issues",
    "archived",
    "out of scope",
)
TITLE_LIMIT = 60
REASON_LIMIT = 180
DEFAULT_OWNERS = ("full-body", "in-flight,rate-limits,slot-usage")
# v1's Rate limits section is exactly these lines, in this order: the other configured
# adapters have their line in Slot usage only.
V1_RATE_LIMITS = ("claude", "codex", "github")


@dataclass(frozen=True)
class ReadyRow:
    rank: int
    ref: str  # an issue number in GitHub mode, an Epic slug in file mode
    title: str
    adapter: str
    sub_issues: int
    reason: str


@dataclass(frozen=True)
class NeedsHuman:
    ref: str
    label: str
    summary: str
    link: str


@dataclass(frozen=True)
class Blocker:
    """`ref` is `#12`, `owner/repo#12`, `#slug` or a backticked description; `note` is the
    annotation a resolution added: a title, or `stale blocker: <ref>`."""

    ref: str
    note: str | None = None

    @property
    def is_issue(self) -> bool:
        return not self.ref.startswith("`")

    def text(self) -> str:
        return f"{self.ref} ({self.note})" if self.note is not None else self.ref


@dataclass(frozen=True)
class BlockedItem:
    ref: str
    blocker: Blocker
    context: str


@dataclass(frozen=True)
class InFlight:
    ref: str
    adapter: str
    progress: str  # `sub-issue m/n` or `running`
    heartbeat: str  # relative, e.g. `42s ago`
    session: str


@dataclass(frozen=True)
class Excluded:
    ref: str
    category: str
    detail: str


@dataclass(frozen=True)
class RateLimit:
    name: str
    status: str


@dataclass(frozen=True)
class SlotUsage:
    adapters: tuple[tuple[str, int, int], ...] = ()
    total: tuple[int, int] = (0, 0)
    global_: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class StateIssue:
    """One state issue body. `placeholders` maps a list section to the italic placeholder
    bullets an agent wrote for "empty" when they are not the canonical empty form. `ticks`
    holds the dispatcher tick comments as `(at, line)`: the lines, in order, that stand
    in the gap after section `at` (-1: after the metadata, before the first section),
    beyond the one blank line that always ends a section: each tick comment, and the blank
    lines around it as they were written (a gap with no tick in it is not v1)."""

    generated: str
    run_id: str
    interval: str
    ready: tuple[ReadyRow, ...] = ()
    needs_human: tuple[NeedsHuman, ...] = ()
    blocked: tuple[BlockedItem, ...] = ()
    in_flight: tuple[InFlight, ...] = ()
    excluded: tuple[Excluded, ...] = ()
    rate_limits: tuple[RateLimit, ...] = tuple(RateLimit(n, "UNKNOWN") for n in V1_RATE_LIMITS)
    slots: SlotUsage = field(default_factory=SlotUsage)
    owners: tuple[str, str] = DEFAULT_OWNERS
    placeholders: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ticks: tuple[tuple[int, str], ...] = ()
    before: str = ""
    after: str = "\n"
    newline: str = "\n"

    def placeholder(self, section: str) -> tuple[str, ...] | None:
        return dict(self.placeholders).get(section)


def v1_interval(duration: str) -> str:
    """A configured recommender interval (`15m`, `1h30m`, `90s`, `off`) as v1 writes it:
    whole minutes, `<n>m`, rounded up; `off` is `0m`."""
    if duration == "off":
        return "0m"
    seconds = duration_seconds(duration)
    if seconds is None:
        raise StateIssueError(
            f"state issue: interval {duration!r} is not a duration like 15m, 1h30m or off"
        )
    return f"{math.ceil(seconds / 60)}m"


def v1_rate_limits(limits: Iterable[RateLimit]) -> tuple[RateLimit, ...]:
    """The Rate limits lines v1 allows, from one status per adapter or quota: claude, codex
    and github, in that order, `UNKNOWN` for one without a status. Any other name's status
    has no line in v1 (its adapter keeps its Slot usage line)."""
    known = {limit.name: limit.status for limit in limits}
    return tuple(RateLimit(name, known.get(name, "UNKNOWN")) for name in V1_RATE_LIMITS)
