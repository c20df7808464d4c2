"""The live feed over SSE, the metrics and health endpoints, against a real dashboard."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from middle.store import create_workflow_record, open_db, record_event
from middle.store.records import transition_workflow
from tests.dashboard.conftest import Dashboard, start_dashboard, stop
from tests.e2e.conftest import wait_until


@pytest.fixture
def bare_dashboard(home: Path, tmp_path: Path) -> Iterator[Dashboard]:
    open_db(home / "db.sqlite3").close()
    running = start_dashboard(tmp_path, tmp_path / "dashboard.log")
    yield running
    stop(running.process)


def read_events(
    client: httpx.Client, last_id: str | None, want: int
) -> tuple[list[dict[str, object]], str | None]:
    """Open /events, read `want` "event" messages (after the hello), close; return them and
    the last id seen (what EventSource would send as Last-Event-ID)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    deadline = time.monotonic() + 30  # checked at each line; the server pings every 15 s
    got: list[dict[str, object]] = []
    current: dict[str, str] = {}
    seen_id = last_id
    with client.stream("GET", "/events", headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"timed out; got {got}"
            if line.startswith(("event:", "id:", "data:")):
                key, _, value = line.partition(":")
                current[key] = value.strip()
            elif line == "" and current:
                seen_id = current.get("id", seen_id)
                if current.get("event") == "event":
                    got.append(json.loads(current["data"]))
                elif current.get("event") == "hello" and want == 0:
                    return got, seen_id
                current = {}
                if want and len(got) >= want:
                    return got, seen_id
    return got, seen_id


def test_a_reconnecting_client_misses_no_event(home: Path, bare_dashboard: Dashboard) -> None:
    """Events written while the client is away are replayed after Last-Event-ID, then the
    stream goes on live, with no gap and no repeat.
    Seen red: with the replay in `EventFeed.stream` removed, the away events never come
    (the read times out at the server's ping after 30 s)."""
    db = open_db(home / "db.sqlite3")
    cookies = {f"middle_dashboard_{bare_dashboard.base.rsplit(':', 1)[1]}": bare_dashboard.token}
    with httpx.Client(base_url=bare_dashboard.base, cookies=cookies, timeout=20) as client:
        _, last_id = read_events(client, None, 0)  # connect: the hello carries the position
        record_event(db, None, "test.live", {"n": 0})
        first, last_id = read_events(client, last_id, 1)
        for n in range(1, 6):  # while nobody listens
            record_event(db, None, "test.away", {"n": n})
        newest = db.execute("SELECT max(id) FROM events").fetchone()[0]
        # Wait until the server's watcher has passed them (a fresh client's hello says
        # where the feed is), so they can only come back by replay.
        wait_until(lambda: int(read_events(client, None, 0)[1] or 0) >= newest)

        def later() -> None:
            for n in range(6, 9):
                record_event(db, None, "test.live", {"n": n})

        writer = threading.Timer(0.3, later)
        writer.start()
        rest, _ = read_events(client, last_id, 8)
        writer.join()
    ids = [e["id"] for e in first + rest]
    assert [e["type"] for e in first + rest] == [
        "test.live",
        *["test.away"] * 5,
        *["test.live"] * 3,
    ]
    assert ids == sorted(set(ids)) and len(ids) == 9


def test_metrics_and_health(home: Path, bare_dashboard: Dashboard) -> None:
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="w1", kind="implementation", repo="/r", epic_ref="a", adapter="claude"
    )
    transition_workflow(db, "w1", "waiting-human", leaving="pending")
    bearer = {"Authorization": f"Bearer {bare_dashboard.token}"}
    metrics = httpx.get(bare_dashboard.base + "/metrics", headers=bearer).text
    assert 'middle_runs{state="waiting-human"} 1.0' in metrics
    assert "middle_dashboard_sse_clients" in metrics
    assert httpx.get(bare_dashboard.base + "/metrics").status_code == 401
    assert httpx.get(bare_dashboard.base + "/health").text == "ok"
