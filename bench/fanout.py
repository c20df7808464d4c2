"""Fan-out (issue 23): the wall time of one 6-sub-issue Epic with `--parallel 1` against
`--parallel 3`, stand-in agents that take a fixed 2 s a turn, everything else real
(`middle implement` as a user runs it, git, tmux, the gates of none).

Each round runs both, one after the other, in fresh sandboxes, so a busy machine slows
both alike; the figure is the ratio of the medians. Target: `--parallel 3` at least 2.5 times
faster.

`breakdown` says where a child's time goes, read off the run's own step and event
timestamps (medians over the children, in seconds): `handoff` from the previous child's
report (or the child's creation) to its first step, `worktree` (prepare-child), `launch`
(from its turn step to the agent's SessionStart hook), `prompt` (SessionStart to the
prompt's UserPromptSubmit), `turn` (to the Stop hook: the agent's fixed 2 s and its
work), `stop` (the Stop hook to the turn step's end), `merge` (merge-child), `report`
(report-to-parent); and for the whole run, `before_parent` (the command's start to the
parent's first step) and `after_children` (the last report to the Epic parked).

python -m bench.fanout [--quick]
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import git, sandbox, summary

SUBS = 6
TURN_SECONDS = 2.0
REF = "fan"


def epic() -> str:
    subs = "\n".join(
        f"<!-- middle:sub-issue id={n} -->\n- [ ] **{n} — Part {n}**\n  Part {n}.\n"
        "<!-- /middle:sub-issue -->\n"
        for n in range(1, SUBS + 1)
    )
    return (
        "<!-- middle:epic v1 -->\n# Six parts\n\n<!-- middle:meta\nslug: fan\napproved: true\n"
        "-->\n\n## Context\n\nSix parts.\n\n## Acceptance criteria\n- [ ] Every part\n\n"
        f"## Sub-issues\n{subs}\n<!-- middle:conversation -->\n<!-- /middle:conversation -->\n"
    )


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def breakdown(database: Path, began: float) -> dict[str, float]:
    """Where the time went, from the run's steps and events (see the module's doc)."""
    db = sqlite3.connect(database)
    try:
        steps: dict[str, dict[str, tuple[float, float]]] = {}
        for run, name, start, end in db.execute(
            "SELECT workflow_id, name, started_at, finished_at FROM steps"
        ):
            steps.setdefault(run, {})[name] = (epoch(start), epoch(end or start))
        hooks: dict[str, dict[str, float]] = {}
        for run, ts, kind in db.execute(
            "SELECT workflow_id, ts, type FROM events WHERE type IN "
            "('hook.SessionStart', 'hook.UserPromptSubmit', 'hook.Stop') ORDER BY id"
        ):
            hooks.setdefault(run, {}).setdefault(kind, epoch(ts))
        rows = db.execute("SELECT id, parent_id, created_at FROM workflows").fetchall()
    finally:
        db.close()
    parent = next(run for run, parent_id, _ in rows if parent_id is None)
    children = sorted(
        ((run, epoch(created)) for run, parent_id, created in rows if parent_id == parent),
        key=lambda child: steps[child[0]]["check-slots"][0],
    )
    ends = sorted(steps[run]["report-to-parent"][1] for run, _ in children)
    phases: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        phases.setdefault(name, []).append(seconds)

    for run, created in children:
        step, hook = steps[run], hooks[run]
        first = step["check-slots"][0]
        before = [end for end in ends if end <= first]
        add("handoff", first - max([created, *before]))
        add("worktree", step["prepare-child"][1] - step["prepare-child"][0])
        add("launch", hook["hook.SessionStart"] - step["launch-and-drive"][0])
        add("prompt", hook["hook.UserPromptSubmit"] - hook["hook.SessionStart"])
        add("turn", hook["hook.Stop"] - hook["hook.UserPromptSubmit"])
        add("stop", step["launch-and-drive"][1] - hook["hook.Stop"])
        add("merge", step["merge-child"][1] - step["merge-child"][0])
        add("report", step["report-to-parent"][1] - step["report-to-parent"][0])
    result = {name: round(statistics.median(values), 3) for name, values in phases.items()}
    result["before_parent"] = round(steps[parent]["plan-epic"][0] - began, 3)
    result["after_children"] = round(steps[parent]["park-epic"][1] - ends[-1], 3)
    return result


def one_run(parallel: int) -> tuple[float, dict[str, float]]:
    """Seconds from `middle implement --parallel N` to the Epic's branch ready, and where
    they went."""
    with sandbox() as box:
        (box.repo / "planning" / "epics" / f"{REF}.md").write_text(epic())
        git(box.repo, "add", "-A")
        git(box.repo, "commit", "-q", "-m", "the Epic")
        box.script([{"do": "done", "delay": TURN_SECONDS}])
        argv = [sys.executable, "-m", "middle", "implement", "--issue", REF]
        argv += ["--agent", "command", "--parallel", str(parallel)]
        began, wall = time.perf_counter(), time.time()
        done = subprocess.run(argv, cwd=box.repo, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        if done.returncode != 0 or "is ready for review" not in done.stdout:
            raise RuntimeError(f"--parallel {parallel} failed: {done.stdout}{done.stderr}")
        turns = [e for e in box.agent_log() if e["event"] == "turn"]
        if len(turns) != SUBS:
            raise RuntimeError(f"--parallel {parallel}: {len(turns)} turns, not {SUBS}")
        return seconds, breakdown(box.home / "db.sqlite3", wall)


def run(quick: bool = False) -> dict[str, Any]:
    rounds = 1 if quick else 3
    times: dict[int, list[float]] = {1: [], 3: []}
    parts: dict[int, list[dict[str, float]]] = {1: [], 3: []}
    for _ in range(rounds):
        for parallel in (1, 3):
            seconds, where = one_run(parallel)
            times[parallel].append(seconds)
            parts[parallel].append(where)
    one, three = summary(times[1]), summary(times[3])
    medians = {
        f"parallel_{parallel}": {
            name: round(statistics.median(part[name] for part in parts[parallel]), 3)
            for name in parts[parallel][0]
        }
        for parallel in (1, 3)
    }
    return {
        "benchmark": "fanout",
        "sub_issues": SUBS,
        "turn_seconds": TURN_SECONDS,
        "parallel_1_seconds": one,
        "parallel_3_seconds": three,
        "speedup": round(one["median"] / three["median"], 2),
        "target_speedup": 2.5,
        "breakdown": medians,
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
