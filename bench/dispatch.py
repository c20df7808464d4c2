"""Dispatch latency: from `implement` to the prompt reaching the stand-in agent, and from
the agent's Stop hook to the workflow parking. git worktree creation and tmux start are
measured on their own, so middle's own share can be read off."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from bench.common import git, sandbox, summary
from middle.app.implement import implement
from middle.store import open_db


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def run(quick: bool = False) -> dict[str, Any]:
    count = 3 if quick else 10
    with sandbox() as box:
        refs = box.add_epics(count)
        worktree_ms, tmux_ms = [], []
        for n in range(count):  # the parts middle delegates, timed alone
            began = time.perf_counter()
            git(box.repo, "worktree", "add", "-q", "-b", f"probe-{n}", str(box.root / f"probe-{n}"))
            worktree_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            subprocess.run(
                ["tmux", "-S", box.socket, "new-session", "-d", "-s", f"p{n}", "sleep", "5"],
                check=True,
            )
            tmux_ms.append((time.perf_counter() - began) * 1000)
            subprocess.run(["tmux", "-S", box.socket, "kill-session", "-t", f"p{n}"], check=False)
        box.script([{"do": "done"}])
        totals, boots, stop_to_park = [], [], []
        for ref in refs:
            began = time.time()
            outcome = implement(box.repo, ref, "command")
            assert outcome.ok, outcome.message
            turn = next(e for e in box.agent_log() if e["event"] == "turn" and e["ts"] >= began)
            stop = next(e for e in box.agent_log() if e["event"] == "stop" and e["ts"] >= began)
            db = open_db(box.home / "db.sqlite3")
            events = {
                row["type"]: _ts(row["ts"])
                for row in db["events"].rows_where("workflow_id = ?", [outcome.workflow_id])
            }
            totals.append((turn["ts"] - began) * 1000)
            boots.append((events["hook.SessionStart"] - events["agent.launched"]) * 1000)
            stop_to_park.append((events["workflow.parked"] - stop["ts"]) * 1000)
    to_prompt = summary(totals)
    own = to_prompt["median"] - summary(worktree_ms)["median"] - summary(tmux_ms)["median"]
    own -= summary(boots)["median"]
    return {
        "benchmark": "dispatch-latency",
        "dispatches": count,
        "implement_to_prompt_ms": to_prompt,
        "git_worktree_add_ms": summary(worktree_ms),
        "tmux_new_session_ms": summary(tmux_ms),
        "agent_boot_to_session_start_ms": summary(boots),
        "middle_own_launch_overhead_ms": round(own, 1),
        "stop_hook_to_parked_ms": summary(stop_to_park),
        "targets_ms": {"own_launch_overhead": 300, "stop_to_park": 200},
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
