"""`middle state export/import`: a run's rows and transcript, moved to another home.

Seen red: with `_import_event` inserting every event (no `event_origins` lookup), the
import-twice test counts 6 events instead of 3; with `rebase_row` returning rows unchanged,
the rebase test finds the old worktree path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from middle.agents import ClaudeAdapter, CodexAdapter, CommandAdapter
from middle.agents.claude import project_dir as claude_project_dir
from middle.app.carry.bundle import StateBundle
from middle.app.carry.disk import read_bundle, write_bundle
from middle.app.carry.transfer import export_state, import_state
from middle.errors import BranchMovedError, GitError, MiddleError, StateFormatError
from middle.refs import session_name
from middle.steps.dispatch import worktree_path
from middle.steps.epic_child import child_worktree
from middle.steps.fanout import integration_worktree
from middle.store import (
    add_review_comment,
    create_workflow_record,
    mark_comments_sent,
    open_db,
    record_event,
    review_comments,
    update_workflow,
)
from middle.store.checkpoints import begin_attempt, complete_step
from middle.store.signals import arm_signal
from middle.store.transfer import run_row_counts
from middle.system.git import push_branch
from tests.conftest import run_middle
from tests.e2e.conftest import git

HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"


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
    sent = add_review_comment(db, "wf-1", path="src/retry.py", line=3, head_sha=HEAD_SHA,
                              body="cap the backoff", context="> 3 | delay *= 2")  # fmt: skip
    mark_comments_sent(db, "wf-1", [sent])
    add_review_comment(db, "wf-1", path="README.md", line=1, head_sha=HEAD_SHA, body="typo")
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
                     "hook_deliveries": 0, "review_comments": 2}  # fmt: skip
    assert set(second.values()) == {0}
    counts = run_row_counts(target, ["wf-1"])
    assert counts["events"] == 3 and counts["workflows"] == 1 and counts["steps"] == 1


def test_review_comments_travel_with_the_run(tmp_path: Path, middle_db: Database) -> None:
    """A reviewer's line comments (drafts and sent ones) are part of the run: a carried run
    keeps them, and importing again adds none. Seen red: `review_comments` was not a run
    table, so machine B had no comment (and a bundle holding them was refused as an
    unknown table)."""
    home, repo = make_run(middle_db, tmp_path)
    write_bundle(export_state(middle_db, ["wf-1"], home=home, repo=repo), tmp_path / "out")
    bundle = read_bundle(tmp_path / "out")  # through the disk, as `middle state` carries it
    target = open_db(tmp_path / "b" / "home" / "db.sqlite3")
    b_home, b_repo = tmp_path / "b" / "home", tmp_path / "b" / "repo"

    import_state(target, bundle, home=b_home, repo=b_repo, worktrees=False)
    again = import_state(target, bundle, home=b_home, repo=b_repo, worktrees=False)

    assert review_comments(target, "wf-1") == review_comments(middle_db, "wf-1")
    assert [c["state"] for c in review_comments(target, "wf-1")] == ["sent", "draft"]
    assert again["review_comments"] == 0


def test_a_bundle_an_older_middle_exported_is_upgraded_as_it_is_imported(
    tmp_path: Path, middle_db: Database
) -> None:
    """A CI job imports the state an earlier job saved, maybe with an older middle: the
    run's input names its issue `epic_ref` there, and its turn record and end note sit at
    the top of `meta_json`. Seen red without the upgrade on import: the resumed steps found
    no `ref`, and no turn record, so the next job would launch a second agent."""
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    bundle.doc["version"] = 1  # before manifests
    bundle.doc.pop("manifest", None)
    (row,) = bundle.doc["tables"]["workflows"]
    older = json.loads(row["meta_json"])
    older["input"]["epic_ref"] = older["input"].pop("ref")
    older["turns"] = {"1": {"launched_at": "2026-11-27T10:00:00Z"}}
    older["end_note"] = "worktree kept"
    row["meta_json"] = json.dumps(older)
    target = open_db(tmp_path / "b" / "home" / "db.sqlite3")

    import_state(target, bundle, home=tmp_path / "b" / "home", repo=tmp_path / "b" / "repo")
    assert target["workflows"].get("wf-1")["transcript_path"]  # its transcript came too

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


# -- a bundle is untrusted input (issue 20) -------------------------------------------------


@dataclass
class Moved:
    """Machine A's parked run (`make_run`, with its branch in a real repository), exported;
    and machine B: a clone of A's repository (its origin) and an empty home."""

    bundle: StateBundle
    origin: Path
    repo: Path
    home: Path
    db: Database

    def load(self, **options: Any) -> dict[str, int]:
        return import_state(self.db, self.bundle, home=self.home, repo=self.repo, **options)

    @property
    def worktree(self) -> Path:
        return worktree_path(self.home, self.repo, "7")

    def edit(self, change: Callable[[dict[str, Any], dict[str, bytes]], None]) -> None:
        """Change the bundle as an attacker would: the manifest (if any) kept true."""
        change(self.bundle.doc, self.bundle.files)
        if "manifest" in self.bundle.doc:
            self.bundle.doc["manifest"] = {
                name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                for name, data in self.bundle.files.items()
            }

    def assert_nothing_written(self) -> None:
        assert set(run_row_counts(self.db, ["wf-1"]).values()) == {0}
        assert self.db["workflows"].count == 0
        assert not self.worktree.exists()
        assert not (self.home / "worktrees").exists() or not any(
            (self.home / "worktrees").iterdir()
        )
        local = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "refs/heads/middle/issue-7"],
            cwd=self.repo, capture_output=True,
        )  # fmt: skip
        assert local.returncode != 0, "the run's branch was fetched and left behind"
        seen = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "refs/middle/seen/middle/issue-7"],
            cwd=self.repo, capture_output=True,
        )  # fmt: skip
        assert seen.returncode != 0, "what middle saw of the branch outlived it"


@pytest.fixture
def moved(tmp_path: Path, middle_db: Database) -> Moved:
    home, origin = make_run(middle_db, tmp_path)
    origin.mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "commit", "-q", "--allow-empty", "-m", "initial")
    git(origin, "branch", "middle/issue-7")
    update_workflow(
        middle_db, "wf-1", pr_branch="middle/issue-7", session_name="middle-repo-7-0a1b2c3d",
        session_token="the-hook-channel-secret",
    )  # fmt: skip
    repo = tmp_path / "b" / "repo"
    subprocess.run(["git", "clone", "-q", str(origin), str(repo)], check=True)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=origin)
    b_home = tmp_path / "b" / "home"
    return Moved(bundle, origin, repo, b_home, open_db(b_home / "db.sqlite3"))


def _transcript_to(relative: str) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    """An edit pointing the run's transcript at `relative` to A's repo or worktree."""

    def change(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        (row,) = doc["tables"]["workflows"]
        base = (
            doc["origin"]["worktrees"]["wf-1"]
            if relative.startswith("@")
            else doc["origin"]["repo"]
        )
        row["transcript_path"] = f"{base}/{relative.lstrip('@')}"
        files["transcripts/wf-1"] = b"import os  # planted\n"

    return change


def _row(**columns: Any) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    def change(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        doc["tables"]["workflows"][0].update(columns)

    return change


def _comment(**columns: Any) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    def change(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        doc["tables"]["review_comments"][0].update(columns)

    return change


def _run_input(**values: Any) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    def change(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        (row,) = doc["tables"]["workflows"]
        meta = json.loads(row["meta_json"])
        meta["input"].update(values)
        row["meta_json"] = json.dumps(meta)

    return change


def _doc(
    change: Callable[[dict[str, Any]], None],
) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    return lambda doc, files: change(doc)


def _other_repo(doc: dict[str, Any], files: dict[str, bytes]) -> None:
    other = str(Path(doc["origin"]["repo"]).parent / "other")
    _row(repo=other)(doc, files)
    _run_input(repo=other)(doc, files)


Edit = Callable[[dict[str, Any], dict[str, bytes]], None]


def _family(
    *,
    parent_id: str = "wf-0",
    ref: str = "7/1",
    root: str | None = None,
    child: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
) -> Edit:
    """An edit making the bundle a fanned-out Epic's: its run `wf-0` (issue 7, planned
    sub-issue 1) and `wf-1`, its child `ref` naming `parent_id` (`root`: wf-0's own)."""

    def change(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        (row,) = doc["tables"]["workflows"]
        meta = json.loads(row["meta_json"])
        parent_input = {**meta["input"], "parallel": 2}
        epic, _, sub = ref.partition("/")
        meta.update(workflow="epic-child")
        meta["input"].update(ref=epic, sub=sub, parent=parent_id, **(child or {}))
        row.update(epic_ref=ref, parent_id=parent_id, meta_json=json.dumps(meta),
                   pr_branch=f"middle/epic-{epic}-{sub}")  # fmt: skip
        parent = {**row, "id": "wf-0", "epic_ref": "7", "parent_id": root,
                  "pr_branch": "middle/epic-7", "transcript_path": None, "session_id": None,
                  "meta_json": json.dumps({"workflow": "epic", "input": parent_input})}  # fmt: skip
        doc["tables"]["workflows"].insert(0, parent)
        (step,) = doc["tables"]["steps"]
        planned = {"integration": "middle/epic-7", "subs": [{"id": "1", "blocked_by": []}]}
        output = json.dumps({**planned, **(plan or {})})
        doc["tables"]["steps"].append(
            {**step, "workflow_id": "wf-0", "name": "plan-epic", "output_json": output}
        )

    return change


def _alone(doc: dict[str, Any], files: dict[str, bytes]) -> None:
    """The child without its Epic's run."""
    _family()(doc, files)
    doc["tables"]["workflows"].pop(0)
    doc["tables"]["steps"].pop()


MALICIOUS = {
    "a plugin": (_transcript_to(".middle/plugins/evil.py"), "transcript_path"),
    "the gates": (_transcript_to(".middle/verify.toml"), "transcript_path"),
    "out of the worktree": (_transcript_to("@../../../../escaped"), "transcript_path"),
    "into .git": (_transcript_to("@.git"), "transcript_path"),
    "a ref with ../": (_row(epic_ref="../x"), "epic_ref '../x', not an issue ref"),
    "another repository": (_other_repo, "the repository the bundle was exported from"),
    "a branch option": (_row(pr_branch="--orphan=x"), "pr_branch '--orphan=x'"),
    "a base option": (_run_input(base="--orphan=x"), "base '--orphan=x'"),
    "a session option": (_row(session_id="--help"), "session_id '--help'"),
    "an unknown table": (_doc(lambda d: d["tables"].update(secrets=[])), "unknown table"),
    "an unknown column": (_row(evil=1), "unknown column 'evil'"),
    "no version": (_doc(lambda d: d.pop("version")), "no `version`"),
    "a version of text": (_doc(lambda d: d.update(version="abc")), "`version` 'abc'"),
    "a recommender run": (_row(kind="recommender"), "only implementations travel"),
    # seen red: RecursionError out of the import (the field check caught ValueError only)
    "meta nested too deep": (_row(meta_json="[" * 100_000), "meta_json"),
    "a state of its own": (_row(state="bogus"), "state = 'bogus'"),
    "a step of another run": (
        _doc(lambda d: d["tables"]["steps"][0].update(workflow_id="wf-9")),
        "workflow 'wf-9', which the bundle does not hold",
    ),
    "a comment of another run": (
        _doc(lambda d: d["tables"]["review_comments"][0].update(workflow_id="wf-9")),
        "workflow 'wf-9', which the bundle does not hold",
    ),
    "a comment on line 0": (_comment(line=0), "review_comments row 1 has line = 0"),
    "a comment's state": (_comment(state="posted"), "has state = 'posted'"),
    "a comment's head an option": (_comment(head_sha="--output=/tmp/x"), "head_sha '--output"),
    "a comment's path out of the repo": (_comment(path="../../etc/passwd"), "path '../../etc"),
    "a comment's id a path": (_comment(id="../rc"), "has id '../rc'"),
    "a comment's sent time": (_comment(sent_at="yesterday"), "sent_at = 'yesterday'"),
    "an extra file": (
        lambda doc, files: files.update({"transcripts/../../x": b"x"}),
        "unknown file",
    ),
    # a fanned-out Epic travels whole (issue 23); seen red with `check_family` a no-op:
    # each was imported, or refused by the database's FOREIGN KEY, not in these words
    "a child of another issue": (
        _family(ref="9/1"),
        "is '9/1', not a child of one of the sub-issues of issue 7",
    ),
    "a child of an unplanned sub-issue": (_family(ref="7/5"), "is '7/5', not a child of one"),
    "a parent outside the bundle": (_family(parent_id="wf-9"), "has parent_id 'wf-9', not wf-0"),
    "a child without its Epic": (_alone, "does not hold its Epic's run alone"),
    "a cycle": (_family(root="wf-1"), "row 1 is an Epic's child with epic_ref '7'"),
    "its own parent": (_family(parent_id="wf-1"), "has parent_id 'wf-1', not wf-0"),
    "a child in other repos": (
        _family(child={"epic_repos": {"lib": {"path": "/etc"}}}),
        "names another parent or other",
    ),
    "an Epic across repos": (
        _family(plan={"repos": {"a": {}, "lib": {}}}),
        "an Epic across repos is not carried",
    ),
}


@pytest.mark.parametrize("edit", MALICIOUS, ids=list(MALICIOUS))
def test_a_bundle_naming_what_it_may_not_is_refused_in_one_line(moved: Moved, edit: str) -> None:
    """Seen red before issue 20: each was imported (rows written, the file planted, git
    handed the option as a branch name), or refused for the wrong reason (a CHECK or a
    FOREIGN KEY failure said "another live run of that issue")."""
    change, expected = MALICIOUS[edit]
    moved.edit(change)
    planted = [
        moved.repo / ".middle" / "plugins" / "evil.py",
        moved.repo / ".middle" / "verify.toml",
    ]
    with pytest.raises(StateFormatError) as refused:
        moved.load()
    assert expected in str(refused.value) and "\n" not in str(refused.value)
    moved.assert_nothing_written()
    assert not any(path.exists() for path in planted)


def test_a_live_run_is_rebuilt_at_its_own_paths_whatever_the_bundle_says(
    moved: Moved, tmp_path: Path
) -> None:
    """Seen red before issue 20: the worktree was checked out where the bundle's
    worktree_path said, and the compensation's worktree stayed the repository itself."""
    elsewhere = tmp_path / "elsewhere" / "wt"

    def paths(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        _row(worktree_path=str(elsewhere), session_name="x; rm -rf ~")(doc, files)
        (step,) = doc["tables"]["steps"]
        step["output_json"] = json.dumps({"worktree": str(moved.repo), "branch": "main"})

    moved.edit(paths)
    moved.load()

    row = moved.db["workflows"].get("wf-1")
    assert row["worktree_path"] == str(moved.worktree)
    assert row["session_name"] == session_name(moved.repo, "7")
    assert row["pr_branch"] == "middle/issue-7"
    (step,) = moved.db["steps"].rows
    assert json.loads(step["output_json"]) == {
        "worktree": str(moved.worktree),
        "branch": "middle/issue-7",
    }
    assert (moved.worktree / ".git").exists() and not elsewhere.parent.exists()
    transcript = Path(row["transcript_path"])
    assert transcript == moved.worktree / ".middle" / "agent" / "transcript.jsonl"
    assert transcript.read_bytes().endswith(b"\xff raw bytes\n")
    assert stat.S_IMODE(transcript.stat().st_mode) == 0o600


def test_a_carried_epics_child_is_rebuilt_at_its_own_paths_whatever_the_bundle_says(
    moved: Moved, tmp_path: Path
) -> None:
    """A fanned-out Epic's run and its child travel together (issue 23): each gets the
    worktree, branch and session middle gives it here. Seen red: the child was rebuilt
    at issue 7/1's plain worktree (`worktree_path`), on `middle/issue-7/1`."""
    elsewhere = tmp_path / "elsewhere" / "wt"
    for branch in ("middle/epic-7", "middle/epic-7-1"):
        git(moved.origin, "branch", branch)

    def paths(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        _family()(doc, files)
        parent, child = doc["tables"]["workflows"]
        parent["worktree_path"] = child["worktree_path"] = str(elsewhere)
        child["session_name"] = "x; rm -rf ~"
        step = doc["tables"]["steps"][0]
        step.update(name="prepare-child", output_json=json.dumps({"worktree": "/", "branch": "x"}))

    moved.edit(paths)
    moved.load()

    parent, child = moved.db["workflows"].get("wf-0"), moved.db["workflows"].get("wf-1")
    mine = child_worktree(moved.home, moved.repo, "7", "1")
    assert (child["parent_id"], child["epic_ref"]) == ("wf-0", "7/1")
    assert (child["worktree_path"], child["pr_branch"]) == (str(mine), "middle/epic-7-1")
    assert child["session_name"] == session_name(moved.repo, "epic-7-1")
    merged = integration_worktree(moved.home, moved.repo, "7")
    assert (parent["worktree_path"], parent["pr_branch"]) == (str(merged), "middle/epic-7")
    assert git(mine, "branch", "--show-current") == "middle/epic-7-1"
    assert git(merged, "branch", "--show-current") == "middle/epic-7"
    assert not elsewhere.parent.exists()
    prepared = moved.db["steps"].get(("wf-1", "prepare-child"))
    assert json.loads(prepared["output_json"]) == {
        "worktree": str(mine),
        "branch": "middle/epic-7-1",
    }
    assert Path(child["transcript_path"]) == mine / ".middle" / "agent" / "transcript.jsonl"
    assert Path(child["transcript_path"]).read_bytes().endswith(b"\xff raw bytes\n")


def test_a_child_is_exported_only_with_its_epic(tmp_path: Path, middle_db: Database) -> None:
    """Seen red: `state export --workflow <child>` wrote a bundle of the child alone."""
    home, repo = make_run(middle_db, tmp_path)
    update_workflow(middle_db, "wf-1", epic_ref="7/1")
    create_workflow_record(
        middle_db, id="wf-0", kind="implementation", repo=str(repo), epic_ref="7",
        adapter="command", meta={"workflow": "epic", "input": {"ref": "7"}},
    )  # fmt: skip
    update_workflow(middle_db, "wf-1", parent_id="wf-0")
    with pytest.raises(MiddleError, match="child of the fanned-out Epic run wf-0"):
        export_state(middle_db, ["wf-1"], home=home, repo=repo)
    bundle = export_state(middle_db, ["wf-0"], home=home, repo=repo)
    assert bundle.workflow_ids == ["wf-0", "wf-1"]


def test_a_session_token_never_travels(moved: Moved) -> None:
    """Seen red before issue 20: the bundle carried `the-hook-channel-secret`."""
    (row,) = moved.bundle.doc["tables"]["workflows"]
    assert row["session_token"] is None
    moved.load(worktrees=False)
    token = moved.db["workflows"].get("wf-1")["session_token"]
    assert re.fullmatch(r"[0-9a-f]{32}", token)


def test_a_link_in_the_rebuilt_worktree_cannot_redirect_the_transcript(moved: Moved) -> None:
    """The agent's branch may hold anything, a link among them. Seen red before issue 20:
    the transcript was written through `.middle/agent` into B's `.middle/plugins`, and the
    run's rows stayed."""
    plugins = moved.repo / ".middle" / "plugins"
    plugins.mkdir(parents=True)
    git(moved.origin, "checkout", "-q", "middle/issue-7")
    (moved.origin / ".middle").mkdir()
    (moved.origin / ".middle" / "agent").symlink_to(plugins)
    git(moved.origin, "add", "-f", ".middle/agent")
    git(moved.origin, "commit", "-q", "-m", "a link")
    git(moved.origin, "checkout", "-q", "main")

    with pytest.raises(StateFormatError, match="is a link or a file") as refused:
        moved.load()

    assert "\n" not in str(refused.value)
    assert list(plugins.iterdir()) == []
    moved.assert_nothing_written()


def test_a_carried_run_pushes_over_the_branch_it_fetched_and_nothing_newer(
    moved: Moved,
) -> None:
    """On a runner whose checkout keeps no remote-tracking ref for the agent's branch (no
    `remote.origin.fetch` that maps it, as a narrow CI checkout has), the branch the import
    fetched is what middle has seen: the agent's next commit is pushed over it, and a
    commit someone pushed after is never overwritten.
    Seen red without `fetch_branch` recording what it fetched: the first push was refused
    (middle had seen nothing, so the branch was expected not to exist on origin)."""
    branch = "middle/issue-7"
    git(moved.repo, "update-ref", "-d", f"refs/remotes/origin/{branch}")
    git(moved.repo, "config", "--unset-all", "remote.origin.fetch")
    moved.load()
    git(moved.worktree, "commit", "-q", "--allow-empty", "-m", "the agent's work")
    push_branch(moved.repo, branch)
    assert git(moved.origin, "rev-parse", branch) == git(moved.repo, "rev-parse", branch)

    git(moved.origin, "checkout", "-q", branch)
    git(moved.origin, "commit", "-q", "--allow-empty", "-m", "someone else's")
    git(moved.origin, "checkout", "-q", "main")
    theirs = git(moved.origin, "rev-parse", branch)
    git(moved.worktree, "commit", "-q", "--allow-empty", "-m", "more of the agent's work")
    with pytest.raises(BranchMovedError, match=f"branch {branch} on origin moved"):
        push_branch(moved.repo, branch)
    assert git(moved.origin, "rev-parse", branch) == theirs


def test_a_failed_worktree_rebuild_leaves_nothing_behind(moved: Moved) -> None:
    """Seen red before issue 20: the rows were committed before the checkout failed."""
    git(moved.origin, "branch", "-D", "middle/issue-7")  # origin has no branch to fetch
    moved.edit(_run_input(base="no-such-branch"))
    with pytest.raises(GitError):
        moved.load()
    moved.assert_nothing_written()


def test_a_transcript_outside_where_the_adapter_keeps_them_is_not_exported(
    tmp_path: Path, middle_db: Database
) -> None:
    """`transcript_path` is whatever the agent's SessionStart hook said. Seen red before
    issue 20: the "key" file's bytes were in the bundle, by path and through a link."""
    home, repo = make_run(middle_db, tmp_path)
    secret = tmp_path / "user" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    worktree = Path(middle_db["workflows"].get("wf-1")["worktree_path"])
    link = worktree / ".middle" / "agent" / "session.jsonl"
    link.symlink_to(secret)
    for said in (secret, link):
        update_workflow(middle_db, "wf-1", transcript_path=str(said))
        bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
        assert bundle.files == {}
        assert bundle.doc["tables"]["workflows"][0]["transcript_path"] is None
        (warning,) = bundle.warnings
        assert str(said) in warning and "not exported" in warning and str(worktree) in warning


def test_each_adapter_declares_where_its_cli_keeps_transcripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    worktree = tmp_path / "w" / "issue-7"
    claude = (
        tmp_path / "user" / ".claude" / "projects" / claude_project_dir(Path("/"), worktree).name
    )
    assert ClaudeAdapter().transcript_roots(worktree) == (claude,)
    assert CodexAdapter().transcript_roots(worktree) == (tmp_path / "codex" / "sessions",)
    assert CommandAdapter().transcript_roots(worktree) == (worktree,)


@pytest.mark.parametrize("name", ["bundle.json", "bundle-dir"])
def test_a_bundle_is_private(tmp_path: Path, middle_db: Database, name: str) -> None:
    """Seen red before issue 20: 0644 files and 0755 folders."""
    home, repo = make_run(middle_db, tmp_path)
    write_bundle(export_state(middle_db, ["wf-1"], home=home, repo=repo), tmp_path / name)
    written = [tmp_path / name, *(tmp_path / name).rglob("*")]
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


CUT = {
    "cut short": lambda data: data[: len(data) // 2],
    "altered": lambda data: data[:-1] + bytes([data[-1] ^ 1]),
    "emptied": lambda data: b"",
}


@pytest.mark.parametrize("damage", CUT)
def test_a_damaged_transcript_is_refused_naming_it(
    tmp_path: Path, middle_db: Database, damage: str
) -> None:
    """Seen red before issue 20: the damaged transcript was imported, and restored."""
    home, repo = make_run(middle_db, tmp_path)
    write_bundle(export_state(middle_db, ["wf-1"], home=home, repo=repo), tmp_path / "out")
    file = tmp_path / "out" / "transcripts" / "wf-1"
    file.write_bytes(CUT[damage](file.read_bytes()))
    with pytest.raises(StateFormatError, match=r"file transcripts/wf-1 is .* cut short or altered"):
        read_bundle(tmp_path / "out")


def test_a_file_missing_from_the_bundle_is_named(tmp_path: Path, middle_db: Database) -> None:
    home, repo = make_run(middle_db, tmp_path)
    write_bundle(export_state(middle_db, ["wf-1"], home=home, repo=repo), tmp_path / "out")
    (tmp_path / "out" / "transcripts" / "wf-1").unlink()
    with pytest.raises(StateFormatError, match="transcripts/wf-1' is in the manifest but missing"):
        read_bundle(tmp_path / "out")


KILLER = """
import resource, signal, sys
from pathlib import Path
from middle.app.carry.disk import read_bundle, write_bundle

bundle = read_bundle(Path(sys.argv[1]))
limit = int(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; a kill is what we want
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
write_bundle(bundle, Path(sys.argv[2]))
"""


@pytest.mark.parametrize("limit", [100, 5_000, 150_000])
@pytest.mark.parametrize("name", ["bundle.json", "bundle-dir"])
def test_an_export_killed_mid_write_leaves_the_old_bundle_whole(
    tmp_path: Path, middle_db: Database, name: str, limit: int
) -> None:
    """The export process is killed by the kernel (SIGXFSZ) the moment a file it writes
    passes `limit` bytes. Seen red before issue 20: the bundle was written in place, and
    the old one was left cut short (unreadable, or its transcript truncated)."""
    home, repo = make_run(middle_db, tmp_path)
    transcript = Path(middle_db["workflows"].get("wf-1")["transcript_path"])
    transcript.write_bytes(b"old " * 50_000)
    old = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    write_bundle(old, tmp_path / name)
    transcript.write_bytes(b"new " * 50_000)
    write_bundle(export_state(middle_db, ["wf-1"], home=home, repo=repo), tmp_path / "new" / name)

    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "new" / name), str(tmp_path / name),
         str(limit)], capture_output=True, text=True,
    )  # fmt: skip

    assert killed.returncode == -signal.SIGXFSZ, killed.stderr
    kept = read_bundle(tmp_path / name)
    assert kept.files == old.files and kept.doc == json.loads(json.dumps(old.doc))


def test_an_export_stopped_between_its_two_renames_still_reads(
    tmp_path: Path, middle_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory is swapped in by two renames; between them the old one is `.<name>.old`,
    and a read finds it there. Seen red with that fallback taken out of `read_bundle`."""
    home, repo = make_run(middle_db, tmp_path)
    old = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    write_bundle(old, tmp_path / "out")
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def rename_once(source: Any, target: Any) -> None:
        renames.append((str(source), str(target)))
        if len(renames) > 1:
            raise KeyboardInterrupt  # the process stops here
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename_once)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(export_state(middle_db, ["wf-1"], home=home, repo=repo), tmp_path / "out")
    monkeypatch.undo()

    assert not (tmp_path / "out").exists()
    assert read_bundle(tmp_path / "out").files == old.files
    write_bundle(old, tmp_path / "out")  # the next export cleans up
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == ["out"]


def test_a_workflow_id_that_is_another_issues_run_here_is_refused(
    tmp_path: Path, middle_db: Database
) -> None:
    """Two different refusals say two different things (issue 20 item 7). Seen red before
    issue 20: the bundle's checkpoints and events were added to issue 9's run."""
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    target = open_db(tmp_path / "b" / "db.sqlite3")
    create_workflow_record(
        target, id="wf-1", kind="implementation", repo=str(repo), epic_ref="9", adapter="command"
    )
    with pytest.raises(StateFormatError, match="has a run of that id for issue 9"):
        import_state(target, bundle, home=home, repo=repo, worktrees=False)
    assert target["steps"].count == 0 and target["events"].count == 0


def test_state_export_says_what_it_left_out(tmp_path: Path, home: Path) -> None:
    """The real CLI: a warning line on stderr, and the export goes on without the file.
    Seen red before issue 20: no warning, and the "key" was in the bundle."""
    db = open_db(home / "db.sqlite3")
    _, repo = make_run(db, tmp_path)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    secret = tmp_path / "id_ed25519"
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    update_workflow(db, "wf-1", transcript_path=str(secret))

    done = run_middle("state", "export", "--issue", "7", "--path", str(tmp_path / "out"), cwd=repo)

    assert done.returncode == 0, done.stderr
    (warning,) = done.stderr.strip().splitlines()
    assert warning.startswith("middle: warning: workflow wf-1's transcript")
    assert str(secret) in warning and "not exported" in warning
    assert "exported workflow wf-1" in done.stdout
    assert not (tmp_path / "out" / "transcripts" / "wf-1").exists()
    assert b"PRIVATE KEY" not in (tmp_path / "out" / "state.json").read_bytes()


@pytest.mark.parametrize("what", ["a folder of other files", "a file", "the current folder"])
def test_an_export_never_replaces_what_is_not_a_bundle(
    tmp_path: Path, middle_db: Database, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """A bundle directory is swapped in whole, so what it replaces must be a bundle. Seen
    red before issue 20: the bundle's files were written in among the folder's own (and a
    file at the path was a FileExistsError traceback)."""
    home, repo = make_run(middle_db, tmp_path)
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    target = tmp_path / "work"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    if what == "a file":
        target = tmp_path / "work" / "notes.txt"
    monkeypatch.chdir(tmp_path / "work")
    path = Path(".") if what == "the current folder" else target
    with pytest.raises(StateFormatError, match="cannot write a state bundle at"):
        write_bundle(bundle, path)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["notes.txt"]
    assert (tmp_path / "work" / "notes.txt").read_text() == "mine"


def test_a_session_id_that_reads_as_an_option_does_not_travel(
    tmp_path: Path, middle_db: Database
) -> None:
    """It comes from the agent's hook, and becomes an argument (`--resume <id>`). Seen red
    before issue 20: `--config=x` was exported, and imported."""
    home, repo = make_run(middle_db, tmp_path)
    update_workflow(middle_db, "wf-1", session_id="--config=x")
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=repo)
    assert bundle.doc["tables"]["workflows"][0]["session_id"] is None
    (warning,) = bundle.warnings
    assert "'--config=x' is not exported" in warning
