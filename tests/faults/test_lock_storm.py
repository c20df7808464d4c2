"""Eight processes hammer one database: no `database is locked`, no lost rows."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from middle.store import open_db

WRITER = textwrap.dedent(
    """
    import sys, time
    from middle.store import create_workflow_record, open_db, record_event, update_workflow
    db = open_db(sys.argv[1])
    me = f"wf-storm-{sys.argv[2]}"
    create_workflow_record(db, id=me, kind="implementation", repo="/r", epic_ref=me, adapter="a")
    writes, deadline = 0, time.monotonic() + float(sys.argv[3])
    while time.monotonic() < deadline:
        record_event(db, me, "storm", {"n": writes})
        update_workflow(db, me, last_heartbeat=str(writes))
        writes += 1
    print(writes)
    """
)


def test_eight_writers_for_ten_seconds_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "storm.sqlite3"
    open_db(path).close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(n), "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    results = [writer.communicate(timeout=120) for writer in writers]

    assert [w.returncode for w in writers] == [0] * 8, [err for _, err in results]
    assert not any("locked" in err for _, err in results)
    counts = {f"wf-storm-{n}": int(out) for n, (out, _) in enumerate(results)}
    db = open_db(path)
    assert db["events"].count == sum(counts.values())
    for workflow_id, count in counts.items():
        row = db["workflows"].get(workflow_id)
        assert row["last_heartbeat"] == str(count - 1)  # the last update of each writer
