"""What a CI job uploads as its artifact (`middle.app.ci.output.write_artifacts`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from middle.app.ci.job import JobResult
from middle.app.ci.output import write_artifacts
from middle.app.home import open_home_db
from middle.store import update_workflow
from middle.store.records import create_workflow_record, record_event


@pytest.mark.parametrize("inside", [False, True])
def test_the_artifact_holds_a_transcript_only_from_the_adapters_folders(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], inside: bool
) -> None:
    """The transcript path comes from the agent's SessionStart hook, and an artifact can
    be downloaded by anyone who can read the repository: a path outside the folders the
    adapter declares (the worktree, for the `command` adapter) is left out, with a
    warning, as `state export` leaves it out. Seen red: the artifact held the bytes of
    whatever file the agent named."""
    repo, worktree = tmp_path / "repo", tmp_path / "worktree"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    worktree.mkdir()
    secret = (worktree if inside else tmp_path) / "transcript.jsonl"
    secret.write_text('{"the": "bytes"}\n')
    db = open_home_db()
    create_workflow_record(
        db, id="w1", kind="implementation", repo=str(repo), epic_ref="7", adapter="command"
    )
    update_workflow(db, "w1", worktree_path=str(worktree), transcript_path=str(secret))

    folder = tmp_path / "artifacts"
    write_artifacts(folder, JobResult("7", "waiting-human", "asked", workflow_id="w1"), "s")

    assert (folder / "transcript.jsonl").exists() is inside
    warned = "is not exported: it is not under" in capsys.readouterr().err
    assert warned is not inside


def test_a_fanned_out_epics_artifact_holds_each_childs_log_and_transcript(
    home: Path, tmp_path: Path
) -> None:
    """Seen red: only the Epic's own run was written; its children, where the agents
    worked, were not in the artifact at all."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    db = open_home_db()
    create_workflow_record(
        db, id="epic-1", kind="implementation", repo=str(repo), epic_ref="7", adapter="command"
    )
    create_workflow_record(
        db, id="epic-1-9", kind="implementation", repo=str(repo), epic_ref="7/9",
        adapter="command",
    )  # fmt: skip
    worktree = tmp_path / "child"
    transcript = worktree / ".middle" / "agent" / "transcript.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text('{"type": "user", "text": "the brief"}\n')
    update_workflow(
        db, "epic-1-9", parent_id="epic-1", worktree_path=str(worktree),
        transcript_path=str(transcript),
    )  # fmt: skip
    record_event(db, "epic-1-9", "agent.launched", {"session": "s"})

    folder = tmp_path / "artifacts"
    write_artifacts(folder, JobResult("7", "waiting-human", "asked", workflow_id="epic-1"), "s")

    child = folder / "children" / "epic-1-9"
    assert (child / "transcript.jsonl").read_text() == transcript.read_text()
    assert "agent.launched" in (child / "events.jsonl").read_text()
    assert (folder / "events.jsonl").exists()
