"""When an agent's usage limit resets, from what its CLI printed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

UNKNOWN_RESET_WAIT = timedelta(hours=1)


def parse_reset(text: str | None, now: datetime) -> tuple[datetime, bool]:
    """The reset moment for `text` ("3pm", "11:30pm (Europe/Paris)", an ISO time or an
    epoch), and whether it was understood. Unparseable text waits an hour from `now`.

    A clock time names its next occurrence in local time; a time zone in parentheses is
    not resolved (the message's zone is usually the machine's).
    """
    if text:
        text = text.strip()
        if re.fullmatch(r"\d{9,11}", text):
            return datetime.fromtimestamp(int(text), UTC), True
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), True
        except ValueError:
            pass
        clock = re.match(r"(?i)(\d{1,2})(?::(\d{2}))?\s*([ap]m)\b", text)
        if clock:
            hour = int(clock[1]) % 12 + (12 if clock[3].lower() == "pm" else 0)
            local_now = now.astimezone()
            moment = local_now.replace(
                hour=hour, minute=int(clock[2] or 0), second=0, microsecond=0
            )
            if moment <= local_now:
                moment += timedelta(days=1)
            return moment.astimezone(UTC), True
    return now + UNKNOWN_RESET_WAIT, False
