"""Engine overhead: middle's durable 3-step workflow beside the raw SQLite floor, and
DBOS Transact on SQLite running the same workflow (if `pip install '.[bench]'`).

`split` says where a workflow's time goes: each statement the engine sends, timed inside
its connection, and the rest (Python), each paired in the same run with the floor.

python -m bench.engine [--quick]   # the report, with the split, as JSON
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from middle.app.bench import _RawCommitFloor, bench_engine, noop_workflow
from middle.store.base import PatientConnection


def split(workdir: Path, workflows: int) -> dict[str, Any]:
    """Per workflow, paired one for one with the raw floor: the whole workflow, the time
    inside each kind of statement (the SQL, with the commits), and what is left (Python).
    Timing each statement adds about 0.3 µs to it; the whole is timed apart, untouched."""
    spent: dict[str, float] = {}
    counts: dict[str, int] = {}
    plain = PatientConnection.execute

    def timed(self: PatientConnection, sql: str, parameters: Any = (), /) -> Any:
        began = time.perf_counter_ns()
        try:
            return plain(self, sql, parameters)
        finally:
            kind = " ".join(sql.split()[:3])
            spent[kind] = spent.get(kind, 0.0) + (time.perf_counter_ns() - began) / 1e3
            counts[kind] = counts.get(kind, 0) + 1

    runner, definition = noop_workflow(workdir / "split.sqlite3")
    db = runner.db
    floor = _RawCommitFloor(workdir / "split-raw.sqlite3", 5)
    whole, sql, rest, raw = [], [], [], []
    by_kind: dict[str, list[float]] = {}
    PatientConnection.execute = timed  # type: ignore[method-assign]
    try:
        for index in range(20 + workflows):
            spent.clear()
            began = time.perf_counter_ns()
            runner.start(definition, {"repo": str(workdir)})
            took = (time.perf_counter_ns() - began) / 1e3
            began = time.perf_counter_ns()
            floor.run_one()
            floor_us = (time.perf_counter_ns() - began) / 1e3
            if index >= 20:
                whole.append(took)
                sql.append(sum(spent.values()))
                rest.append(took - sum(spent.values()))
                raw.append(floor_us)
                for kind, us in spent.items():
                    by_kind.setdefault(kind, []).append(us)
    finally:
        PatientConnection.execute = plain  # type: ignore[method-assign]
        db.close()
        floor.close()
    median = statistics.median
    return {
        "workflow_us": round(median(whole), 1),
        "sql_us": round(median(sql), 1),
        "python_us": round(median(rest), 1),
        "floor_us": round(median(raw), 1),
        "sql_over_floor": round(median([s / f for s, f in zip(sql, raw, strict=True)]), 2),
        "statements": {
            kind: {"per_workflow": counts[kind] / (20 + workflows), "us": round(median(values), 1)}
            for kind, values in sorted(by_kind.items(), key=lambda item: -median(item[1]))
        },
    }


def bench_dbos(workdir: Path, workflows: int) -> dict[str, Any]:
    try:
        from dbos import DBOS
    except ImportError:
        return {"skipped": "DBOS is not installed; pip install '.[bench]'"}
    DBOS(
        config={
            "name": "middle-bench",
            "system_database_url": f"sqlite:///{workdir / 'dbos.sqlite3'}",
        }
    )

    @DBOS.step()
    def one() -> None:
        return None

    @DBOS.step()
    def two() -> None:
        return None

    @DBOS.step()
    def three() -> None:
        return None

    @DBOS.workflow()
    def three_steps() -> None:
        one()
        two()
        three()

    DBOS.launch()
    try:
        for _ in range(20):
            three_steps()
        timings = []
        for _ in range(workflows):
            began = time.perf_counter_ns()
            three_steps()
            timings.append((time.perf_counter_ns() - began) / 1e6)
    finally:
        DBOS.destroy()
    ordered = sorted(timings)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 4),
    }


def run(quick: bool = False) -> dict[str, Any]:
    workflows = 100 if quick else 500
    with tempfile.TemporaryDirectory(prefix="mb-engine-") as folder:
        report = bench_engine(Path(folder), workflows)
        report["split"] = split(Path(folder), workflows)
        dbos = bench_dbos(Path(folder), workflows)
    report["dbos_sqlite_default"] = dbos
    if "median_ms" in dbos:
        report["dbos_over_middle"] = round(dbos["median_ms"] / report["middle"]["median_ms"], 1)
    return report


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
