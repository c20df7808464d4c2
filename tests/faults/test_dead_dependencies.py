"""A dead dependency gets one clear error, a terminal state and a clean-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import REF, Sandbox


def path_with_only(sandbox: Sandbox, *tools: str) -> dict[str, str]:
    """A PATH holding just these tools (plus what `#!/bin/sh` scripts need)."""
    folder = sandbox.root / "only-bin"
    folder.mkdir(exist_ok=True)
    for tool in (*tools, "sh", "env", "cat", "mkdir", "mv", "date", "dirname"):
        found = shutil.which(tool)
        if found and not (folder / tool).exists():
            (folder / tool).symlink_to(found)
    return {"PATH": str(folder)}


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in line, line


def test_tmux_missing(sandbox: Sandbox) -> None:
    sandbox.script({"do": "done"})
    result = sandbox.middle(
        "implement", "--issue", REF, "--agent", "command", env=path_with_only(sandbox, "git")
    )
    assert_one_line(result, "tmux is not installed")
    assert sandbox.workflow()["state"] == "compensated"
    assert not sandbox.worktree().exists()


def test_the_tmux_server_killed_mid_turn(sandbox: Sandbox) -> None:
    sandbox.script({"do": "hang"})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    deadline = time.monotonic() + 30
    while not sandbox.agent_log("turn"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)
    _, err = dispatcher.communicate(timeout=60)

    assert dispatcher.returncode == 1
    assert "ended without a Stop hook or a sentinel" in err and "Traceback" not in err
    assert sandbox.workflow()["state"] == "compensated"
    assert not sandbox.worktree().exists()


def test_git_missing(sandbox: Sandbox) -> None:
    sandbox.script({"do": "done"})
    result = sandbox.middle(
        "implement", "--issue", REF, "--agent", "command", env=path_with_only(sandbox, "tmux")
    )
    assert_one_line(result, "git is not installed")
    assert not (sandbox.home / "db.sqlite3").exists() or sandbox.db()["workflows"].count == 0


def test_an_agent_that_exits_at_once(sandbox: Sandbox) -> None:
    script = sandbox.root / "exit.json"
    script.write_text('{"exit_at_launch": true}')
    sandbox.script({"do": "done"})
    command = os.environ["MIDDLE_AGENT_COMMAND"].replace(
        str(sandbox.root / "script.json"), str(script)
    )
    result = sandbox.middle(
        "implement", "--issue", REF, "--agent", "command", env={"MIDDLE_AGENT_COMMAND": command}
    )
    assert_one_line(result, "exited right after launch")
    assert sandbox.workflow()["state"] == "compensated"
    assert sandbox.sessions() == [] and not sandbox.worktree().exists()


def test_an_unwritable_worktree_root(sandbox: Sandbox) -> None:
    """A file where the worktree folder should go (root ignores read-only modes)."""
    sandbox.home.mkdir(parents=True, exist_ok=True)
    (sandbox.home / "worktrees").write_text("not a directory")
    sandbox.script({"do": "done"})
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert_one_line(result, "cannot create the worktree at", "writable directory")
    assert sandbox.workflow()["state"] == "failed"


def test_a_corrupted_database_stops_every_command(sandbox: Sandbox) -> None:
    sandbox.home.mkdir(parents=True, exist_ok=True)
    (sandbox.home / "db.sqlite3").write_bytes(b"\x00garbage" * 512)
    sandbox.script({"do": "done"})
    for command in (["implement", "--issue", REF, "--agent", "command"], ["status"], ["poll"]):
        assert_one_line(sandbox.middle(*command), "cannot be read", "middle doctor")
    doctor = sandbox.middle("doctor")
    assert doctor.returncode == 1 and "✗ database:" in doctor.stdout
    assert "move the file aside" in doctor.stdout
    assert not Path(sandbox.worktree()).exists()


def test_a_dead_tmux_never_deletes_the_agents_uncommitted_work(sandbox: Sandbox) -> None:
    """Issue 11 item 9. Seen red: the compensation ran `git worktree remove --force`, and
    the agent's uncommitted file was gone for good."""
    sandbox.script({"do": "hang"})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    deadline = time.monotonic() + 30
    while not sandbox.agent_log("turn"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (sandbox.worktree() / "half-done.py").write_text("print('work in progress')\n")
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)
    dispatcher.communicate(timeout=60)

    assert sandbox.workflow()["state"] == "compensated"
    rescue = f"middle/rescue/{REF}-1"
    assert f"uncommitted work saved to branch {rescue}" in sandbox.workflow()["end_reason"]
    saved = subprocess.run(
        ["git", "show", f"{rescue}:half-done.py"], cwd=sandbox.repo, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert "work in progress" in saved.stdout
    assert rescue in sandbox.middle("status").stdout
