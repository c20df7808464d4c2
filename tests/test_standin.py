"""The stand-in agent resumes a session as the real CLIs do, and its place in the script
travels with its transcript.

Seen red: with `--resume` ignored (a new uuid every launch), the session ids differ; with
the turn counted from a file beside the transcript (as before issue 14), a transcript
carried to a fresh worktree starts the script over at turn 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_standin(worktree: Path, script: Path, log: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "middle.agents.standin", "--script", str(script),
         "--log", str(log), *extra],
        cwd=worktree, input="go\n", text=True, capture_output=True, check=True, timeout=60,
    )  # fmt: skip


def entries(log: Path, event: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [row for row in rows if row["event"] == event]


def test_resume_reuses_the_session_and_continues_the_script(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"do": "bare"}, {"do": "fail", "reason": "second"}]))
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    run_standin(first, script, tmp_path / "log")
    (launch,) = entries(tmp_path / "log", "launch")
    # Another machine: only the transcript came along.
    (second / ".middle" / "agent").mkdir(parents=True)
    transcript = first / ".middle" / "agent" / "transcript.jsonl"
    (second / ".middle" / "agent" / "transcript.jsonl").write_bytes(transcript.read_bytes())

    run_standin(second, script, tmp_path / "log", "--resume", str(launch["session_id"]))

    _, resumed = entries(tmp_path / "log", "launch")
    assert resumed == {**resumed, "session_id": launch["session_id"], "resumed": True}
    _, turn = entries(tmp_path / "log", "turn")
    assert turn["turn"] == 2 and turn["action"] == {"do": "fail", "reason": "second"}


def test_without_resume_a_new_session_starts(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text("[]")
    run_standin(tmp_path, script, tmp_path / "log")
    run_standin(tmp_path, script, tmp_path / "log")
    one, two = entries(tmp_path / "log", "launch")
    assert one["session_id"] != two["session_id"] and two["resumed"] is False
