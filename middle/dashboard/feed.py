"""The live feed: ONE watcher per server process tails the `events` table by id and fans
each new event out to every open tab's queue. Tabs never query the database for the feed
themselves; a reconnecting tab sends `Last-Event-ID` and gets what it missed replayed from
the table (the ids are AUTOINCREMENT, so "after id N" is exact).

Beside the events tail the watcher reads a change marker (see `store.views.change_marker`)
and sends a `changed` message when a run, a rate limit or a repo setting changes without an
event, so the pages refresh then too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from middle.store import change_marker, events_after, last_event_id, open_db

QUEUE_SIZE = 1000
REPLAY_LIMIT = 5000


@dataclass(frozen=True)
class Message:
    kind: str  # "event" (carries an id) or "changed"
    id: int | None
    data: dict[str, Any]


def event_message(row: dict[str, Any]) -> Message:
    try:
        payload = json.loads(row["payload_json"])
    except (TypeError, ValueError):
        payload = {}
    summary = ""
    if isinstance(payload, dict):
        for key in ("message", "reason", "question", "hook_event_name", "controlled_by"):
            if isinstance(payload.get(key), str):
                summary = payload[key].splitlines()[0][:200] if payload[key] else ""
                break
    data = {
        "id": row["id"],
        "workflow_id": row["workflow_id"],
        "ref": row.get("epic_ref"),
        "ts": row["ts"],
        "type": row["type"],
        "summary": summary,
    }
    return Message("event", int(row["id"]), data)


class EventFeed:
    def __init__(self, db_path: Path, interval: float = 0.05) -> None:
        self.db_path = db_path
        self.interval = interval
        self.subscribers: set[asyncio.Queue[Message | None]] = set()
        self.last_id = 0
        self._db = open_db(db_path)  # the watcher's own connection, used by one thread
        self._replay_db = open_db(db_path)
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """Tail the table until cancelled."""
        self.last_id = await asyncio.to_thread(last_event_id, self._db)
        marker = await asyncio.to_thread(change_marker, self._db)
        while True:
            await asyncio.sleep(self.interval)
            rows, new_marker = await asyncio.to_thread(self._poll)
            for row in rows:
                self.last_id = int(row["id"])
                self._publish(event_message(row))
            if new_marker != marker:
                marker = new_marker
                self._publish(Message("changed", None, {}))

    def _poll(self) -> tuple[list[dict[str, Any]], tuple[Any, ...]]:
        rows = events_after(self._db, self.last_id)
        return rows, change_marker(self._db)

    def _publish(self, message: Message) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a stalled tab: cut it; it reconnects and replays
                self.subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    async def stream(self, last_seen: int | None) -> AsyncIterator[Message]:
        """Every event after `last_seen` (replayed, then live); a fresh tab starts now."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)  # first, so nothing falls between replay and live
        try:
            sent = self.last_id if last_seen is None else last_seen
            yield Message("hello", sent, {"last_id": sent})
            if last_seen is not None and last_seen < self.last_id:
                while True:
                    async with self._lock:  # replays share one connection
                        rows = await asyncio.to_thread(
                            events_after, self._replay_db, sent, REPLAY_LIMIT
                        )
                    for row in rows:
                        message = event_message(row)
                        sent = max(sent, message.id or 0)
                        yield message
                    if len(rows) < REPLAY_LIMIT:
                        break
            while True:
                queued = await queue.get()
                if queued is None:
                    return
                if queued.id is not None and queued.id <= sent:
                    continue  # already replayed
                if queued.id is not None:
                    sent = queued.id
                yield queued
        finally:
            self.subscribers.discard(queue)
