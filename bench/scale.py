"""Scale: M workflows at once, each with its own dispatcher process and a stand-in agent
that idles in tmux sending a hook every second. Measures the dispatchers' peak memory,
hooks ingested per second at peak, hook-to-`events`-row latency, and `database is
locked` errors (which must be 0)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import sandbox, summary
from middle.store import open_db


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(quick: bool = False) -> dict[str, Any]:
    workflows, seconds = (8, 5) if quick else (50, 20)
    with sandbox() as box:
        refs = box.add_epics(workflows)
        box.script([{"do": "idle", "seconds": seconds}, {"do": "done"}])
        dispatchers = [
            subprocess.Popen(
                [sys.executable, "-m", "middle", "implement", "--issue", ref, "--agent", "command"],
                cwd=box.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for ref in refs
        ]  # fmt: skip
        peak_each, peak_total = 0, 0
        while any(d.poll() is None for d in dispatchers):
            sizes = [rss_kib(d.pid) for d in dispatchers if d.poll() is None]
            peak_each = max(peak_each, *sizes, 0)
            peak_total = max(peak_total, sum(sizes))
            time.sleep(0.5)
        errors = [d.communicate()[1] for d in dispatchers]
        db = open_db(box.home / "db.sqlite3")
        rows = list(db["events"].rows_where("type = 'hook.Notification'"))
        per_second = Counter(row["ts"][:19] for row in rows)
        latency = [
            (datetime.fromisoformat(r["ts"]).timestamp() - json.loads(r["payload_json"])["sent_at"])
            * 1000
            for r in rows
        ]
        states = Counter(row["state"] for row in db["workflows"].rows)
    return {
        "benchmark": "scale",
        "workflows": workflows,
        "idle_seconds": seconds,
        "dispatcher_peak_rss_mib": {
            "each": round(peak_each / 1024, 1),
            "all": round(peak_total / 1024, 1),
        },
        "hooks_recorded": len(rows),
        "hooks_expected": workflows * seconds,
        "hooks_per_second_at_peak": max(per_second.values(), default=0),
        "hook_to_events_row_ms": summary(latency) if latency else {},
        "database_locked_errors": sum(err.count("database is locked") for err in errors),
        "first_error": next((err.strip()[-600:] for err in errors if err.strip()), None),
        "dispatcher_failures": sum(d.returncode != 0 for d in dispatchers),
        "final_states": dict(states),
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
