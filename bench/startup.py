"""Start-up: whole-process wall time of `middle --list`, `middle status` and `invoke --list`
(at the repo root), median of repeated runs. Target: under 250 ms each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import sandbox, summary

ROOT = Path(__file__).resolve().parent.parent


def time_command(argv: list[str], runs: int, cwd: Path) -> dict[str, float]:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        timings.append((time.perf_counter() - began) * 1000)
    return summary(timings)


def run(quick: bool = False) -> dict[str, Any]:
    runs = 5 if quick else 15
    middle = [sys.executable, "-m", "middle"]
    with sandbox():
        results = {
            "middle --list": time_command([*middle, "--list"], runs, ROOT),
            "middle status": time_command([*middle, "status"], runs, ROOT),
            "invoke --list": time_command([sys.executable, "-m", "invoke", "--list"], runs, ROOT),
            "python -c pass (the floor)": time_command([sys.executable, "-c", "pass"], runs, ROOT),
        }
    return {"benchmark": "start-up", "runs": runs, "wall_ms": results, "target_ms": 250}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
