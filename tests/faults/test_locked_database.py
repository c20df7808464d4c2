"""Issue 20 item 17: another process holds the database's write lock, past
`busy_timeout`, while an agent's turn is live. The agent finishes its turn meanwhile, so
its hooks wait to be drained; the run must still end as an unlocked one does.

`MIDDLE_BUSY_TIMEOUT_MS=100` makes the dispatcher's busy timeout short. The lock is held
until the agent's Stop hook waits in the spool, then for a measured second and a half
more, fifteen busy timeouts: that hold is the point of the test. Everything else waits
on real signals (the run's row, the agent's log).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REF, Sandbox, wait_until
from tests.write_lock import write_lock_held

HOLD_AFTER_THE_HOOK = 1.5


def test_a_write_lock_held_past_busy_timeout_mid_turn_does_not_end_the_run(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen red, twice: on the code before (with a 12 s hold, past its fixed 10 s busy
    timeout), and with the busy-timeout knob but no retrying connection: draining the
    agent's Stop hook raised `database is locked`, the turn's one attempt failed, and the
    run was compensated, with tracebacks on stderr."""
    finish = tmp_path / "finish"
    sandbox.script({"do": "done", "wait_for": str(finish)})
    monkeypatch.setenv("MIDDLE_BUSY_TIMEOUT_MS", "100")
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.prompted() or dispatcher.poll() is not None, timeout=60)
    assert dispatcher.poll() is None, dispatcher.communicate()

    with write_lock_held(sandbox.home / "db.sqlite3", seconds=600):
        finish.touch()
        wait_until(lambda: sandbox.agent_log("stop"))  # its hooks wait in the spool now
        time.sleep(HOLD_AFTER_THE_HOOK)  # while the dispatcher must write them
    out, err = dispatcher.communicate(timeout=120)

    assert dispatcher.returncode == 0, out + err
    assert "Traceback" not in err
    assert "ready for review" in out
    assert sandbox.workflow()["state"] == "waiting-human"
    assert len(sandbox.events("hook.Stop")) == 1
    assert sandbox.events("workflow.compensated") == []
    assert len(sandbox.agent_log("launch")) == 1
