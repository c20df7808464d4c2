"""The hook channel: spool, authenticate, record; never block or fail the agent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlite_utils import Database

from middle.store import create_workflow_record, database_file, get_workflow
from middle.system.hooks import drain_hooks, install_hook_script
from middle.system.worktree import spool_dir
from tests.write_lock import write_lock_held

TOKEN = "s3cret-token"


def fire(worktree: Path, event: str, payload: str, token: str = TOKEN, *extra: str) -> int:
    script = worktree / ".middle" / "hooks" / "hook.sh"
    done = subprocess.run(
        [str(script), event, *extra],
        input=payload,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MIDDLE_SESSION_TOKEN": token},
        cwd=worktree,
        timeout=10,
    )
    return done.returncode


def setup(middle_db: Database, tmp_path: Path) -> Path:
    create_workflow_record(
        middle_db, id="wf-1", kind="implementation", repo="/r", epic_ref="1", adapter="command"
    )
    install_hook_script(tmp_path)
    return tmp_path


def test_a_hook_sent_while_nobody_listens_waits_in_the_spool(
    middle_db: Database, tmp_path: Path
) -> None:
    worktree = setup(middle_db, tmp_path)
    payload = {"session_id": "abc", "transcript_path": "/tmp/t.jsonl"}
    assert fire(worktree, "SessionStart", json.dumps(payload)) == 0
    assert len(list(spool_dir(worktree).glob("*.hook"))) == 1  # kept until drained

    (hook,) = drain_hooks(middle_db, "wf-1", worktree, TOKEN)

    assert (hook.event, hook.payload) == ("SessionStart", payload)
    row = get_workflow(middle_db, "wf-1")
    assert (row["session_id"], row["transcript_path"]) == ("abc", "/tmp/t.jsonl")
    assert list(spool_dir(worktree).glob("*.hook")) == []
    assert middle_db["events"].count == 1


def test_a_wrong_token_is_dropped_and_logged(middle_db: Database, tmp_path: Path) -> None:
    worktree = setup(middle_db, tmp_path)
    fire(worktree, "Stop", "{}", token="forged")
    assert drain_hooks(middle_db, "wf-1", worktree, TOKEN) == []
    (event,) = middle_db["events"].rows
    assert event["type"] == "hook.rejected"
    assert json.loads(event["payload_json"]) == {"event": "Stop", "reason": "wrong session token"}


def test_untrusted_payloads_are_stored_verbatim_and_never_run(
    middle_db: Database, tmp_path: Path
) -> None:
    worktree = setup(middle_db, tmp_path)
    nasty = '$(touch pwned); `touch pwned2`; "; rm -rf / #'
    fire(worktree, "Notification", json.dumps({"message": nasty}))
    fire(worktree, "Stop", "not json at all $(touch pwned3)")
    hooks = drain_hooks(middle_db, "wf-1", worktree, TOKEN)
    assert hooks[0].payload == {"message": nasty}
    assert hooks[1].payload["error"] == "payload is not JSON"
    assert not any(worktree.glob("pwned*"))


def test_a_payload_given_as_an_argument_is_used_too(middle_db: Database, tmp_path: Path) -> None:
    """Codex passes its notification JSON as an argument rather than on stdin."""
    worktree = setup(middle_db, tmp_path)
    fire(worktree, "Stop", "", TOKEN, json.dumps({"type": "agent-turn-complete"}))
    (hook,) = drain_hooks(middle_db, "wf-1", worktree, TOKEN)
    assert hook.payload == {"type": "agent-turn-complete"}


def test_hooks_drain_in_the_order_they_were_sent(middle_db: Database, tmp_path: Path) -> None:
    worktree = setup(middle_db, tmp_path)
    for event in ("SessionStart", "Notification", "Stop"):
        fire(worktree, event, "{}")
    assert [h.event for h in drain_hooks(middle_db, "wf-1", worktree, TOKEN)] == [
        "SessionStart",
        "Notification",
        "Stop",
    ]


def test_a_hook_file_left_behind_by_a_crashed_drainer_is_recorded_once(
    middle_db: Database, tmp_path: Path
) -> None:
    """Seen red before `hook_deliveries`: the same spool file drained twice made two
    events (a drainer killed between recording and deleting it leaves it behind)."""
    worktree = setup(middle_db, tmp_path)
    fire(worktree, "Stop", "{}")
    (spooled,) = spool_dir(worktree).glob("*.hook")
    kept = spooled.read_text()
    assert len(drain_hooks(middle_db, "wf-1", worktree, TOKEN)) == 1
    spooled.write_text(kept)  # as if the unlink never happened

    assert drain_hooks(middle_db, "wf-1", worktree, TOKEN) == []
    assert middle_db["events"].count == 1
    assert list(spool_dir(worktree).glob("*.hook")) == []


def test_draining_waits_out_a_write_lock_held_past_busy_timeout(
    middle_db: Database, tmp_path: Path
) -> None:
    """Issue 20 item 17: another process held the write lock for 30 s during a turn.
    Seen red: the drain raised `database is locked`, which ended the live run."""
    worktree = setup(middle_db, tmp_path)
    fire(worktree, "Stop", "{}")
    middle_db.execute("PRAGMA busy_timeout = 20")

    with write_lock_held(database_file(middle_db), 0.5) as held:
        (hook,) = drain_hooks(middle_db, "wf-1", worktree, TOKEN)
        assert held.held_for() >= 0.5

    assert hook.event == "Stop"
    assert [row["type"] for row in middle_db["events"].rows] == ["hook.Stop"]
    assert list(spool_dir(worktree).glob("*.hook")) == []


def test_a_hook_that_cannot_be_spooled_is_not_lost_silently(tmp_path: Path) -> None:
    """Seen red: hook.sh exited 0 whatever happened, so a full disk dropped hooks unseen."""
    script = install_hook_script(tmp_path)
    spool = tmp_path / ".middle" / "spool"
    spool.rmdir()
    spool.write_text("a file where the spool folder should be")
    done = subprocess.run(
        [str(script), "Stop"], input="{}", capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "cannot write to" in done.stderr and "the Stop hook is lost" in done.stderr


def test_json_python_will_not_read_is_kept_as_not_json(middle_db: Database, tmp_path: Path) -> None:
    """A payload Python's json refuses past its syntax (an integer of 5,000 digits raises
    ValueError, nesting 100,000 deep RecursionError) is recorded as not JSON, as any other
    unreadable payload is. Seen red: both escaped `drain_hooks` and crashed the dispatcher
    (the fuzz test found the first)."""
    worktree = setup(middle_db, tmp_path)
    fire(worktree, "Stop", "9" * 5000)
    fire(worktree, "Stop", "[" * 100_000)
    hooks = drain_hooks(middle_db, "wf-1", worktree, TOKEN)
    assert [hook.payload["error"] for hook in hooks] == ["payload is not JSON"] * 2
