"""The e2e sandbox: a real git repo with an Epic, a private MIDDLE_HOME and tmux server,
and the bundled stand-in agent scripted per test."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from middle.app.demo import REF, sample_epic
from middle.steps.dispatch import worktree_path
from middle.store import open_db
from tests.conftest import run_middle

POLICY = """\
[limits]
launch_timeout_seconds = 30
turn_timeout_seconds = 60
"""


def wait_until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll `predicate` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@dataclass
class Sandbox:
    root: Path
    repo: Path
    home: Path
    socket: str
    log: Path

    def script(self, *turns: dict[str, Any]) -> None:
        """What the stand-in agent does, one action per prompt or nudge."""
        path = self.root / "script.json"
        path.write_text(json.dumps(list(turns)))
        command = [sys.executable, "-m", "middle.agents.standin", "--script", str(path)]
        command += ["--log", str(self.log)]
        os.environ["MIDDLE_AGENT_COMMAND"] = shlex.join(command)

    def middle(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_middle(*args, cwd=self.repo, **kwargs)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "middle", *args],
            cwd=self.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def agent_log(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if event is None or e["event"] == event]

    def db(self) -> Database:
        return open_db(self.home / "db.sqlite3")

    def workflow(self) -> dict[str, Any]:
        (row,) = list(self.db()["workflows"].rows)
        return row

    def events(self, type: str) -> list[dict[str, Any]]:
        rows = self.db()["events"].rows_where("type = ?", [type], order_by="id")
        return [json.loads(row["payload_json"]) for row in rows]

    def prompted(self, turn: int = 1) -> bool:
        """The run is `running` and has recorded that the prompt of its `turn` (the round
        of its turn loop) was delivered: what a SIGKILL mid-turn must come after, or
        `resume` sends that prompt again."""
        rows = list(self.db()["workflows"].rows)
        if not rows:
            return False
        turns = json.loads(rows[0]["meta_json"]).get("scratch", {}).get("turns", {})
        return rows[0]["state"] == "running" and "prompted_at" in turns.get(str(turn), {})

    def sessions(self) -> list[str]:
        listed = subprocess.run(
            ["tmux", "-S", self.socket, "list-sessions", "-F", "#{session_name}"],
            capture_output=True,
            text=True,
        )
        return listed.stdout.split() if listed.returncode == 0 else []

    def worktree(self) -> Path:
        return worktree_path(self.home, self.repo, REF)


@pytest.fixture
def sandbox(
    home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Sandbox:
    monkeypatch.setenv("MIDDLE_AGENT_COMMAND", "")
    monkeypatch.setenv("COLUMNS", "200")
    repo = tmp_path / "repo"
    (repo / "planning" / "epics").mkdir(parents=True)
    (repo / ".middle").mkdir()
    (repo / ".middle" / "policy.toml").write_text(POLICY)
    (repo / "planning" / "epics" / f"{REF}.md").write_text(sample_epic())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return Sandbox(tmp_path, repo, home, tmux_socket, tmp_path / "agent.jsonl")
