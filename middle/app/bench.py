"""`bench`: the engine's overhead per durable 3-step workflow, beside the raw SQLite floor.

Both are measured in the same run on the same disk: middle's runner driving no-op steps,
and plain `sqlite3` doing single-row WAL commits, as many per workflow as the engine needs
(counted by tracing the engine's connection, not assumed). Numbers are medians and p90s,
because this machine is noisy; the ratio is what travels between machines.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from middle.engine import Registry, Runner, StepContext, Workflow, step
from middle.store import open_db

TARGET_MEDIAN_MS = 1.0
TARGET_RATIO = 3.0
WARMUP = 20


def _noop(ctx: StepContext) -> None:
    return None


def noop_workflow(path: Path) -> tuple[Runner, Workflow]:
    """A runner on a new database at `path`, and the durable 3-step no-op workflow the
    engine is measured by."""
    registry = Registry()
    for name in ("one", "two", "three"):
        registry.add(step(name)(_noop))
    definition = Workflow("bench", ["one", "two", "three"])
    return Runner(open_db(path), registry, sleep=lambda s: None), definition


def bench_engine(workdir: Path, workflows: int = 300) -> dict[str, Any]:
    """Time `workflows` durable 3-step no-op workflows and the raw floor, interleaved one
    for one, so both see the same noise from the rest of the machine."""
    runner, definition = noop_workflow(workdir / "engine.sqlite3")
    db = runner.db

    def run_one() -> None:
        runner.start(definition, {"repo": str(workdir)})

    commits = _count_commits(db.conn, run_one)
    floor = _RawCommitFloor(workdir / "raw.sqlite3", commits)
    engine_ms, floor_ms = [], []
    for index in range(WARMUP + workflows):
        engine, raw = _time(run_one), _time(floor.run_one)
        if index >= WARMUP:
            engine_ms.append(engine)
            floor_ms.append(raw)
    db.close()
    floor.close()

    middle, baseline = _summary(engine_ms), _summary(floor_ms)
    ratio = middle["median_ms"] / baseline["median_ms"]
    return {
        "benchmark": "engine-overhead",
        "workflows": workflows,
        "steps_per_workflow": 3,
        "commits_per_workflow": commits,
        "middle": middle,
        "raw_sqlite_floor": baseline,
        "ratio_median": round(ratio, 2),
        "target": {"median_ms": TARGET_MEDIAN_MS, "ratio": TARGET_RATIO},
        "meets_target": middle["median_ms"] <= TARGET_MEDIAN_MS and ratio <= TARGET_RATIO,
    }


def _time(action: Callable[[], None]) -> float:
    began = time.perf_counter_ns()
    action()
    return (time.perf_counter_ns() - began) / 1e6


def _count_commits(conn: sqlite3.Connection, action: Callable[[], None]) -> int:
    """Commits `action` makes: each write outside an explicit transaction commits on its
    own (the connection autocommits), and each explicit transaction commits once."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    commits, in_transaction = 0, False
    for sql in statements:
        keyword = sql.lstrip().split(None, 1)[0].upper()
        if keyword == "BEGIN":
            in_transaction = True
        elif keyword in ("COMMIT", "END"):
            commits, in_transaction = commits + 1, False
        elif keyword == "ROLLBACK":
            in_transaction = False
        elif keyword in ("INSERT", "UPDATE", "DELETE", "REPLACE") and not in_transaction:
            commits += 1
    return commits


class _RawCommitFloor:
    """Per 'workflow': `commits` single-row WAL commits through plain `sqlite3`."""

    def __init__(self, path: Path, commits: int) -> None:
        self.commits = commits
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS counter AS SELECT 0 AS n")

    def run_one(self) -> None:
        for _ in range(self.commits):
            self.conn.execute("UPDATE counter SET n = n + 1")

    def close(self) -> None:
        self.conn.close()


def _summary(milliseconds: list[float]) -> dict[str, float]:
    ordered = sorted(milliseconds)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 4),
    }
