"""The benchmark suite's short variant runs, and its reports carry the fields
docs/benchmarks.md quotes. Numbers are printed, never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        "serve-host",
        "gate-overhead",
        "github-mode",
        "real-agents",
    }
    assert by_name["hook-channel"]["lost"] == 0 and by_name["hook-channel"]["duplicated"] == 0
    assert by_name["scale"]["database_locked_errors"] == 0
    assert by_name["scale"]["hooks_recorded"] == by_name["scale"]["hooks_expected"]
    hosted = by_name["serve-host"]
    assert hosted["stop_hook_to_parked_ms"]["n"] == hosted["workflows"]  # every run parked
    assert {"process_per_run", "one_serve", "ratio"} <= set(hosted["rss_mib"])
    startup = by_name["start-up"]["commands"]  # each paired with the floor, against its target
    assert {"middle --help", "middle doctor"} <= set(startup)
    assert all({"ratio", "target_ratio", "met"} <= set(row) for row in startup.values())
    github = by_name["github-mode"]  # issue 24: answers under serve, the recommender at scale
    assert {"answer_to_new_turn_s", "idle_paid_calls_per_hour"} <= set(github["answer"])
    assert {"middle_own_s", "paid_calls"} <= set(github["recommender_1000_issues"]["cold"])
    real = by_name["real-agents"]
    if "skipped" not in real:  # the CLIs are installed (always so in CI)
        for cli in ("claude", "codex"):  # --quick: these two; the full run measures every CLI
            assert set(real[cli]) >= {"implement_to_prompt_accepted_ms", "turn_end_to_parked_ms"}


def test_the_start_up_bench_lets_its_commands_keep_their_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's middle starts from cached bytecode; the bench warms it once and must not
    forbid writing it. Seen red: a session with PYTHONDONTWRITEBYTECODE=1 (as this one had)
    compiled every middle module at every timed start, which inflated the ratios."""
    from bench.startup import make_env

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = make_env(tmp_path, "case", os.environ.get("PATH", ""))
    assert "PYTHONDONTWRITEBYTECODE" not in env
