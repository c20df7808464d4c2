"""One serve for many live runs (issue 24 item 4): M runs, first each driven by its own
foreground dispatcher process (the baseline: how serve ran them before), then all of them
orphaned and adopted by one `middle serve`, which drives each on a thread.

Measures, in the same run: the dispatcher processes' total RSS against serve's RSS with
the same runs live, and the latency from an agent's Stop hook (its question asked) to the
run's `workflow.parked` event under serve, median and p95, with the agents ending their
turns 150 ms apart while all the others stay live."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import sandbox, summary
from bench.scale import rss_kib
from middle.store import open_db


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"serve_host: timed out waiting for {what}")
        time.sleep(0.1)


def run(quick: bool = False) -> dict[str, Any]:
    workflows = 8 if quick else 50
    with sandbox() as box:
        refs = box.add_epics(workflows)
        # each agent asks once its own worktree has `.middle/go` (a path relative to it)
        box.script([{"do": "ask", "question": "Which way?", "wait_for": ".middle/go"}])
        dispatchers = [
            subprocess.Popen(
                [sys.executable, "-m", "middle", "implement", "--issue", ref, "--agent", "command"],
                cwd=box.repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for ref in refs
        ]  # fmt: skip
        db = open_db(box.home / "db.sqlite3")

        def running() -> bool:
            turns = [e for e in box.agent_log() if e["event"] == "turn"]
            states = [row["state"] for row in db["workflows"].rows]
            return len(turns) == workflows and states == ["running"] * workflows

        try:
            wait_for(running, 60 + 6 * workflows, "every agent's first prompt")
            per_process_kib = sum(rss_kib(d.pid) for d in dispatchers)
        finally:  # orphan every run mid-turn (and leave no dispatcher behind on a timeout)
            for dispatcher in dispatchers:
                dispatcher.send_signal(signal.SIGKILL)
                dispatcher.wait()

        log = box.home / "logs" / "serve.log"
        serve = subprocess.Popen(
            [sys.executable, "-m", "middle", "serve", "--poll-seconds", "5"],
            cwd=box.repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            adopted = lambda: log.exists() and log.read_text().count("adopted issue") == workflows  # noqa: E731
            wait_for(adopted, 120, "serve to adopt every run")
            time.sleep(2)  # let every thread reach its turn loop before measuring
            serve_kib = rss_kib(serve.pid)
            for row in db["workflows"].rows:  # agents end their turns 150 ms apart
                (Path(row["worktree_path"]) / ".middle" / "go").touch()
                time.sleep(0.15)
            parked = lambda: sum(r["state"] == "waiting-human" for r in db["workflows"].rows)  # noqa: E731
            wait_for(lambda: parked() == workflows, 120, "every run to park")
            serve_kib = max(serve_kib, rss_kib(serve.pid))
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
        latency = _stop_to_parked_ms(db, box.agent_log())
    return {
        "benchmark": "serve-host",
        "workflows": workflows,
        "rss_mib": {
            "process_per_run": round(per_process_kib / 1024, 1),
            "one_serve": round(serve_kib / 1024, 1),
            "ratio": round(per_process_kib / max(serve_kib, 1), 1),
        },
        "stop_hook_to_parked_ms": latency,
    }


def _stop_to_parked_ms(db: Any, agent_log: list[dict[str, Any]]) -> dict[str, float]:
    """Per run: from the stand-in's Stop hook (its log's `stop` time) to the run's
    `workflow.parked` event."""
    stopped = {e["session_id"]: e["ts"] for e in agent_log if e["event"] == "stop"}
    values = []
    for row in db["workflows"].rows:
        parks = list(
            db["events"].rows_where("workflow_id = ? AND type = 'workflow.parked'", [row["id"]])
        )
        if row["session_id"] in stopped and parks:
            at = datetime.fromisoformat(parks[-1]["ts"]).timestamp()
            values.append((at - stopped[row["session_id"]]) * 1000)
    return (
        {**summary(values), "p95": round(sorted(values)[int(0.95 * len(values))], 1)}
        if values
        else {}
    )


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
