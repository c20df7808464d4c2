"""The labels middle honours on an issue, whatever store it lives in.

`epic` marks what the recommender ranks (in GitHub mode; an Epic file is an Epic), and
the hold labels keep an issue from ever being dispatched, by hand or automatically:
`needs-design` (it is not ready to build), `blocked` (something outside the tracker holds
it) and `wontfix`. In GitHub mode they are the issue's labels; in file mode, the Epic's
`labels: [needs-design]` meta line.
"""

from __future__ import annotations

from collections.abc import Iterable

EPIC_LABEL = "epic"
# GitHub mode, as the reference: above `ELIGIBLE_ABOVE` open issues the recommender reads
# only the issues labelled `agent-queue:eligible`
ELIGIBLE_LABEL = "agent-queue:eligible"
ELIGIBLE_ABOVE = 200
HOLD_LABELS = ("needs-design", "blocked", "wontfix")


def hold_label(labels: Iterable[str]) -> str | None:
    """The first hold label among `labels` (in `HOLD_LABELS` order), or None."""
    present = {label.strip().lower() for label in labels}
    return next((label for label in HOLD_LABELS if label in present), None)


def excluded_category(label: str) -> str:
    """The state issue's v1 Excluded category for an issue held by `label`."""
    return "needs-design label" if label == "needs-design" else "out of scope"
