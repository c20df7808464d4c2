"""Fan-out (issue 23): the wall time of one 6-sub-issue Epic with `--parallel 1` against
`--parallel 3`, stand-in agents that take a fixed 2 s a turn, everything else real
(`middle implement` as a user runs it, git, tmux, the gates of none).

Each round runs both, one after the other, in fresh sandboxes, so a busy machine slows
both alike; the figure is the ratio of the medians. Target: `--parallel 3` at least 2.5 times
faster.

python -m bench.fanout [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


def one_run(parallel: int) -> float:
    """Seconds from `middle implement --parallel N` to the Epic's branch ready."""
    with sandbox() as box:
        (box.repo / "planning" / "epics" / f"{REF}.md").write_text(epic())
        git(box.repo, "add", "-A")
        git(box.repo, "commit", "-q", "-m", "the Epic")
        box.script([{"do": "done", "delay": TURN_SECONDS}])
        argv = [sys.executable, "-m", "middle", "implement", "--issue", REF]
        argv += ["--agent", "command", "--parallel", str(parallel)]
        began = time.perf_counter()
        done = subprocess.run(argv, cwd=box.repo, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        if done.returncode != 0 or "is ready for review" not in done.stdout:
            raise RuntimeError(f"--parallel {parallel} failed: {done.stdout}{done.stderr}")
        turns = [e for e in box.agent_log() if e["event"] == "turn"]
        if len(turns) != SUBS:
            raise RuntimeError(f"--parallel {parallel}: {len(turns)} turns, not {SUBS}")
        return seconds


def run(quick: bool = False) -> dict[str, Any]:
    rounds = 1 if quick else 3
    times: dict[int, list[float]] = {1: [], 3: []}
    for _ in range(rounds):
        for parallel in (1, 3):
            times[parallel].append(one_run(parallel))
    one, three = summary(times[1]), summary(times[3])
    return {
        "benchmark": "fanout",
        "sub_issues": SUBS,
        "turn_seconds": TURN_SECONDS,
        "parallel_1_seconds": one,
        "parallel_3_seconds": three,
        "speedup": round(one["median"] / three["median"], 2),
        "target_speedup": 2.5,
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
