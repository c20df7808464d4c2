"""The benchmark suite's short variant runs, and its reports carry the fields
docs/benchmarks.md quotes. Numbers are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_quick_benchmark_suite_runs_and_reports() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_name = {result["benchmark"]: result for result in report["results"]}
    assert set(by_name) == {
        "engine-overhead",
        "dispatch-latency",
        "start-up",
        "hook-channel",
        "scale",
        "gate-overhead",
        "real-agents",
    }
    assert by_name["hook-channel"]["lost"] == 0 and by_name["hook-channel"]["duplicated"] == 0
    assert by_name["scale"]["database_locked_errors"] == 0
    assert by_name["scale"]["hooks_recorded"] == by_name["scale"]["hooks_expected"]
    startup = by_name["start-up"]["commands"]  # each paired with the floor, against its target
    assert {"middle --help", "middle doctor"} <= set(startup)
    assert all({"ratio", "target_ratio", "met"} <= set(row) for row in startup.values())
    real = by_name["real-agents"]
    if "skipped" not in real:  # the CLIs are installed (always so in CI)
        for cli in ("claude", "codex", "copilot", "gemini"):
            assert set(real[cli]) >= {"implement_to_prompt_accepted_ms", "turn_end_to_parked_ms"}
