"""The hook channel under load: N hooks fired through `hook.sh` as fast as this machine
spawns them (aiming at 1,000 per second), drained concurrently into `events`. Reports the
achieved rate, the spool-to-row latency, and whether any hook was lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import summary
from middle.store import create_workflow_record, open_db
from middle.system.hooks import drain_hooks, install_hook_script


def run(quick: bool = False) -> dict[str, Any]:
    count = 300 if quick else 1000
    root = Path(
        subprocess.run(
            ["mktemp", "-d", "/tmp/mb-hooks-XXXX"], capture_output=True, text=True
        ).stdout.strip()
    )
    db = open_db(root / "db.sqlite3")
    create_workflow_record(
        db, id="wf-hooks", kind="implementation", repo="/r", epic_ref="h", adapter="x"
    )
    script = install_hook_script(root)
    env = {"PATH": "/usr/bin:/bin", "MIDDLE_SESSION_TOKEN": "t"}
    done = threading.Event()
    drained: list[int] = []

    def drainer() -> None:
        while not done.is_set() or any((root / ".middle" / "spool").glob("*.hook")):
            drained.append(len(drain_hooks(db, "wf-hooks", root, "t")))
            time.sleep(0.01)

    def fire(n: int) -> None:
        payload = json.dumps({"n": n, "sent_at": time.time()})
        subprocess.run([str(script), "Notification"], input=payload, text=True, env=env)

    thread = threading.Thread(target=drainer)
    thread.start()
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(fire, range(count)))
    fired_in = time.perf_counter() - began
    done.set()
    thread.join()
    rows = list(db["events"].rows_where("type = 'hook.Notification'"))
    numbers = [json.loads(r["payload_json"])["n"] for r in rows]
    from datetime import datetime

    latency = [
        (datetime.fromisoformat(r["ts"]).timestamp() - json.loads(r["payload_json"])["sent_at"])
        * 1000
        for r in rows
    ]
    subprocess.run(["rm", "-rf", str(root)], check=False)
    return {
        "benchmark": "hook-channel",
        "hooks_fired": count,
        "fired_per_second": round(count / fired_in, 1),
        "recorded": len(rows),
        "lost": count - len(set(numbers)),
        "duplicated": len(numbers) - len(set(numbers)),
        "send_to_events_row_ms": summary(latency),
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
