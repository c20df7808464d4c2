"""A finished run keeps its transcript under the home when its worktree goes (issue 21's
small things): the stand-in agent keeps its transcript inside the worktree, as any
`command` adapter's CLI may."""

from __future__ import annotations

import stat
from pathlib import Path

from middle.dashboard.transcript import read_transcript
from tests.e2e.conftest import REF, Sandbox


def test_an_approved_run_keeps_its_transcript_under_the_home(sandbox: Sandbox) -> None:
    """Seen red: the run still pointed into the removed worktree, and the dashboard had
    no transcript to show."""
    sandbox.script({"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    said = sandbox.workflow()["transcript_path"]
    assert said.startswith(str(sandbox.worktree()))
    was = Path(said).read_bytes()

    assert sandbox.middle("review", "--issue", REF, "--approve").returncode == 0

    row = sandbox.workflow()
    kept = sandbox.home / "transcripts" / f"{row['id']}.jsonl"
    assert not sandbox.worktree().exists()
    assert row["transcript_path"] == str(kept)
    assert kept.read_bytes() == was
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    shown = read_transcript(row["transcript_path"])
    assert shown is not None and shown.entries


def test_a_cancelled_run_keeps_its_transcript_too(sandbox: Sandbox) -> None:
    """A cancel removes the worktree through the compensation; the transcript stays.
    Seen red: it went with the worktree."""
    sandbox.script({"do": "ask", "question": "Which queue?"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    assert sandbox.middle("cancel", "--issue", REF).returncode == 0

    row = sandbox.workflow()
    assert row["state"] in ("cancelled", "compensated")
    assert row["transcript_path"] == str(sandbox.home / "transcripts" / f"{row['id']}.jsonl")
    assert (sandbox.home / "transcripts" / f"{row['id']}.jsonl").exists()
