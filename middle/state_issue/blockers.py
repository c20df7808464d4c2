"""Resolve the Blocked section's issue blockers against live state.

On every recommender run, after the agent wrote the body: a blocker that is closed moves
its item to Ready (a best-effort row, ranked last, that the next full run re-ranks); one
that is open is annotated with its title, `#42 (Recommender workflow)`; one that cannot be
found (deleted, a 404, a slug with no Epic file, a cross-repo ref in file mode) is
annotated `#42 (stale blocker: #42)`. Backticked descriptions are never resolved.

The annotation lives in `Blocker.note`, apart from the reference, so a second resolution
replaces it rather than appending to it: annotations never pile up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from middle.state_issue.model import BlockedItem, Blocker, ReadyRow, StateIssue


@dataclass(frozen=True)
class BlockerStatus:
    state: Literal["open", "closed", "missing"]
    title: str = ""


Lookup = Callable[[str], BlockerStatus]  # a blocker ref (`#12`, `o/r#12`, `#slug`) → status
Promote = Callable[[BlockedItem], ReadyRow]  # a freed item → its Ready row (rank ignored)


def resolve_blockers(state: StateIssue, lookup: Lookup, promote: Promote) -> StateIssue:
    """`state` with each issue blocker re-read through `lookup`; an item whose blockers
    (one line each) all closed moves to the end of Ready. Each ref is looked up once."""
    seen: dict[str, BlockerStatus] = {}
    still_blocked: list[BlockedItem] = []
    freed: list[ReadyRow] = []
    for item in state.blocked:
        blocker = item.blocker
        if not blocker.is_issue:
            still_blocked.append(item)
            continue
        status = seen.get(blocker.ref) or seen.setdefault(blocker.ref, lookup(blocker.ref))
        if status.state == "closed":
            freed.append(promote(item))
            continue
        if status.state == "open":
            note = annotation(status.title)
        else:
            note = f"stale blocker: {blocker.ref}"
        still_blocked.append(dataclasses.replace(item, blocker=Blocker(blocker.ref, note)))
    ready = [*state.ready]
    present = {row.ref for row in ready} | {item.ref for item in still_blocked}
    for row in freed:  # an item with another line still blocked stays blocked
        if row.ref not in present:
            present.add(row.ref)
            ready.append(dataclasses.replace(row, rank=len(ready) + 1))
    return dataclasses.replace(state, ready=tuple(ready), blocked=tuple(still_blocked))


def annotation(title: str) -> str | None:
    """A title as a one-line annotation that parses back as itself: no ` · ` (it ends the
    blocker) and no newlines. None for a blank title."""
    text = " ".join(title.split()).replace(" · ", " - ")
    return text or None
