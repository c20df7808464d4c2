"""`middle state export/import`: a run's rows and transcript, moved to another home.

Seen red: with `_import_event` inserting every event (no `event_origins` lookup), the
import-twice test counts 6 events instead of 3; with `rebase_row` returning rows unchanged,
the rebase test finds the old worktree path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlite_utils import Database

from middle.agents.claude import project_dir as claude_project_dir
from middle.app.state import export_state, import_state
from middle.app.state_disk import read_bundle, write_bundle
from middle.errors import StateFormatError
from middle.steps.dispatch import worktree_path
from middle.store import create_workflow_record, open_db, record_event, update_workflow
from middle.store.checkpoints import begin_attempt, complete_step
from middle.store.signals import arm_signal
from middle.store.transfer import run_row_counts


def make_run(db: Database, tmp_path: Path) -> tuple[Path, Path]:
    """A parked run on "machine A", in `db` (the test's `middle_db`): rows in every run
    table, and a transcript file. Machine B's store is a second file each test opens."""
    home, repo = tmp_path / "a" / "home", tmp_path / "a" / "repo"
    worktree = home / "worktrees" / "repo" / "issue-7"
    transcript = worktree / ".middle" / "agent" / "transcript.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_bytes(b'{"type": "user", "text": "go"}\n\xff raw bytes\n')
    run_input = {"repo": str(repo), "ref": "7", "adapter": "command", "base": "main"}
    create_workflow_record(
        db, id="wf-1", kind="implementation", repo=str(repo), epic_ref="7", adapter="command",
        meta={"input": run_input},
    )  # fmt: skip
    update_workflow(
        db, "wf-1", state="waiting-human", worktree_path=str(worktree), session_id="sess-1",
        transcript_path=str(transcript),
    )  # fmt: skip
    begin_attempt(db, "wf-1", "prepare-worktree", 1)
    complete_step(db, "wf-1", "prepare-worktree", json.dumps({"worktree": str(worktree)}))
    arm_signal(db, "wf-1", "resume", None)
    record_event(db, "wf-1", "agent.launched", {"cwd": str(worktree)})
    record_event(db, "wf-1", "hook.Stop", {})
    record_event(db, "wf-1", "workflow.waiting", {"reason": "asked-question"})
    db.execute("UPDATE workflows SET meta_json = json_set(meta_json, '$.x', 1) WHERE id = 'wf-1'")
    return home, repo


def test_importing_twice_adds_no_row_and_no_event(tmp_path: Path, middle_db: Database) -> None:
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    target = open_db(tmp_path / "b" / "home" / "db.sqlite3")
    new_home, new_repo = tmp_path / "b" / "home", tmp_path / "b" / "repo"

    first = import_state(target, bundle, home=new_home, repo=new_repo, worktrees=False)
    second = import_state(target, bundle, home=new_home, repo=new_repo, worktrees=False)

    assert first == {"workflows": 1, "steps": 1, "waitfor_signals": 1, "events": 3,
                     "hook_deliveries": 0}  # fmt: skip
    assert set(second.values()) == {0}
    counts = run_row_counts(target, ["wf-1"])
    assert counts["events"] == 3 and counts["workflows"] == 1 and counts["steps"] == 1


def test_a_bundle_an_older_middle_exported_is_upgraded_as_it_is_imported(
    tmp_path: Path, middle_db: Database
) -> None:
    """A CI job imports the state an earlier job saved, maybe with an older middle: the
    run's input names its issue `epic_ref` there, and its turn record and end note sit at
    the top of `meta_json`. Seen red without the upgrade on import: the resumed steps found
    no `ref`, and no turn record, so the next job would launch a second agent."""
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    (row,) = bundle.doc["tables"]["workflows"]
    older = json.loads(row["meta_json"])
    older["input"]["epic_ref"] = older["input"].pop("ref")
    older["turns"] = {"1": {"launched_at": "2026-11-27T10:00:00Z"}}
    older["end_note"] = "worktree kept"
    row["meta_json"] = json.dumps(older)
    target = open_db(tmp_path / "b" / "home" / "db.sqlite3")

    import_state(target, bundle, home=tmp_path / "b" / "home", repo=tmp_path / "b" / "repo")

    meta = json.loads(target["workflows"].get("wf-1")["meta_json"])
    assert meta["input"]["ref"] == "7" and "epic_ref" not in meta["input"]
    assert meta["scratch"] == {
        "turns": {"1": {"launched_at": "2026-11-27T10:00:00Z"}},
        "end_note": "worktree kept",
    }
    assert "turns" not in meta and "end_note" not in meta


def test_an_export_imported_back_where_it_came_from_adds_nothing(
    tmp_path: Path, middle_db: Database
) -> None:
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    added = import_state(middle_db, bundle, home=home, repo=repo, worktrees=False)
    assert set(added.values()) == {0}


def test_an_event_keeps_its_identity_across_two_hops(tmp_path: Path, middle_db: Database) -> None:
    """A → B → A: B's export of A's events is still recognised on A."""
    home, repo = make_run(middle_db, tmp_path)
    b = open_db(tmp_path / "b" / "db.sqlite3")
    import_state(b, export_state(middle_db, ["wf-1"], home=home, repo=repo), home=tmp_path / "b",
                 repo=tmp_path / "b" / "repo", worktrees=False)  # fmt: skip
    record_event(b, "wf-1", "agent.launched", {"on": "b"})
    back = export_state(b, ["wf-1"], home=tmp_path / "b", repo=tmp_path / "b" / "repo")
    added = import_state(middle_db, back, home=home, repo=repo, worktrees=False)
    assert added["events"] == 1  # only B's own event


def test_paths_are_rebased_and_the_transcript_restored(tmp_path: Path, middle_db: Database) -> None:
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    write_bundle(bundle, tmp_path / "out")
    new_home, new_repo = tmp_path / "b" / "home", tmp_path / "b" / "repo"
    target = open_db(new_home / "db.sqlite3")

    import_state(
        target, read_bundle(tmp_path / "out"), home=new_home, repo=new_repo, worktrees=False
    )

    row = target["workflows"].get("wf-1")
    worktree = worktree_path(new_home, new_repo, "7")
    assert row["repo"] == str(new_repo)
    assert row["worktree_path"] == str(worktree)
    assert json.loads(row["meta_json"])["input"]["repo"] == str(new_repo)
    (step,) = target["steps"].rows
    assert json.loads(step["output_json"]) == {"worktree": str(worktree)}
    transcript = Path(row["transcript_path"])
    assert transcript == worktree / ".middle" / "agent" / "transcript.jsonl"
    assert transcript.read_bytes().endswith(b"\xff raw bytes\n")
    assert str(tmp_path / "a") not in json.dumps(list(target["events"].rows))


@pytest.mark.parametrize("name", ["bundle.json", "bundle-dir"])
def test_a_file_and_a_directory_hold_the_same_bundle(
    tmp_path: Path, middle_db: Database, name: str
) -> None:
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    write_bundle(bundle, tmp_path / name)
    again = read_bundle(tmp_path / name)
    assert again.doc == json.loads(json.dumps(bundle.doc)) and again.files == bundle.files


def test_the_newer_copy_of_a_run_wins(tmp_path: Path, middle_db: Database) -> None:
    home, repo = make_run(middle_db, tmp_path)
    older = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    b = open_db(tmp_path / "b" / "db.sqlite3")
    import_state(b, older, home=home, repo=repo, worktrees=False)
    update_workflow(middle_db, "wf-1", state="completed")
    newer = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    import_state(b, newer, home=home, repo=repo, worktrees=False)
    import_state(b, older, home=home, repo=repo, worktrees=False)  # an older copy does not win back
    assert b["workflows"].get("wf-1")["state"] == "completed"


def test_a_bundle_from_a_newer_middle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"format": "middle-state", "version": 99}))
    with pytest.raises(StateFormatError, match="newer than this middle"):
        read_bundle(tmp_path / "x.json")


def test_claude_sessions_follow_the_worktree(tmp_path: Path) -> None:
    assert claude_project_dir(Path("/u"), Path("/w/a.b/issue-1")).name == "-w-a-b-issue-1"


def test_a_bundle_clashing_with_a_live_run_here_is_refused_whole(
    tmp_path: Path, middle_db: Database
) -> None:
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    target = open_db(tmp_path / "b" / "db.sqlite3")
    create_workflow_record(
        target, id="wf-other", kind="implementation", repo=str(repo), epic_ref="7",
        adapter="command",
    )  # fmt: skip
    clash = r"already has a live run of issue 7 \(wf-other, pending\)"
    with pytest.raises(StateFormatError, match=clash):
        import_state(target, bundle, home=home, repo=repo, worktrees=False)
    assert target["steps"].count == 0 and target["events"].count == 0  # nothing half-done
