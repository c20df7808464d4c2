"""Engine overhead: middle's durable 3-step workflow beside the raw SQLite floor, and
DBOS Transact on SQLite running the same workflow (if `pip install '.[bench]'`)."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from middle.app.bench import bench_engine


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
        dbos = bench_dbos(Path(folder), workflows)
    report["dbos_sqlite_default"] = dbos
    if "median_ms" in dbos:
        report["dbos_over_middle"] = round(dbos["median_ms"] / report["middle"]["median_ms"], 1)
    return report


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
