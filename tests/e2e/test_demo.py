"""`middle demo`, as a new user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_middle


def test_the_demo_runs_the_whole_loop_and_status_shows_it(
    home: Path, tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIDDLE_AGENT_COMMAND", "false")  # the demo must not use it
    monkeypatch.setenv("TMPDIR", str(tmp_path))

    result = run_middle("demo")

    assert result.returncode == 0, result.stderr
    for expected in (
        "the agent asks:",
        "the branch is ready for review.",
        "→ completed: branch middle/issue-retry-webhooks is ready",
        "Where to look:",
    ):
        assert expected in result.stdout
    (row,) = json.loads(run_middle("status", "--json").stdout)
    assert (row["ref"], row["state"]) == ("retry-webhooks", "completed")
    assert not list(tmp_path.glob("middle-demo-*"))  # issue 11 item 17: nothing in /tmp
    (demo_root,) = (home / "demos").glob("middle-demo-*")
    assert (
        "Only 5xx and timeouts"
        in (demo_root / "webhooks-service" / "planning" / "epics" / "retry-webhooks.md").read_text()
    )


def test_a_second_demo_removes_the_first_ones_repository(
    home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 17. Seen red: every demo left its repository in /tmp for good."""
    monkeypatch.setenv("MIDDLE_AGENT_COMMAND", "false")
    assert run_middle("demo").returncode == 0
    assert run_middle("demo").returncode == 0
    assert len(list((home / "demos").glob("middle-demo-*"))) == 1
