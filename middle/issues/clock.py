"""The issues layer's clock: the timestamps it writes into Epic files and state issues.

Its own, so the issues layer needs nothing from `middle.store`; the text is the same as
the database's timestamp columns hold.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_timestamp() -> str:
    """Now, in UTC: `2026-11-27T06:05:21.123456Z`."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
