"""A state ref is untrusted input: anyone who may push to the repository (the agent, with a
job's token, among them) can rewrite `refs/middle/state/<n>`. Jobs on fresh runners, as in
test_ci.py, against a ref an attacker rewrote between two jobs.

Seen red on the code before issue 20: a transcript_path of `<repo>/.middle/plugins/evil.py`
made job 2 write the attacker's bytes there and run them as a plugin, holding job 2's
GH_TOKEN (the marker file held `ghs_job_token_of_job2`); the verify.toml one rewrote the
gates; the sweep over a ref whose job.json is `{nope` died with a JSONDecodeError
traceback and never started the queued issue.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from middle.app.carry.bundle import StateBundle
from middle.app.carry.ref import load_state, save_state
from tests.e2e.test_ci import ISSUE, World, commented, labeled
from tests.e2e.test_ci import world as world  # the fixture

Edit = Callable[[dict[str, Any], dict[str, bytes]], None]


def attacker_clone(world: World) -> Path:
    clone = world.root / "attacker"
    if not clone.exists():
        subprocess.run(["git", "clone", "-q", str(world.remote), str(clone)], check=True)
    return clone


def rewrite_state(world: World, edit: Edit) -> None:
    """Rewrite the issue's state ref as an attacker would, keeping its manifest (if it
    has one) true to the files: the manifest guards against accidents, not attackers."""
    clone = attacker_clone(world)
    saved = load_state(clone, ISSUE)
    assert saved.bundle is not None
    doc, files = saved.bundle.doc, dict(saved.bundle.files)
    edit(doc, files)
    if "manifest" in doc:
        doc["manifest"] = {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in files.items()
        }
    save_state(clone, ISSUE, StateBundle(doc, files), {}, expected=saved.sha, message="x")


@pytest.mark.parametrize("planted", [".middle/plugins/evil.py", ".middle/verify.toml"])
def test_a_state_ref_cannot_plant_a_file_in_the_next_jobs_checkout(
    world: World, planted: str
) -> None:
    world.script({"do": "ask", "question": "Which backoff base?"}, {"do": "done"})
    assert world.machine("job1").job("issues", labeled(world)).returncode == 0
    marker = world.root / "PLUGIN_RAN"
    payload = f"import os\nopen({str(marker)!r}, 'w').write(os.environ.get('GH_TOKEN', ''))\n"

    def plant(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        (row,) = doc["tables"]["workflows"]
        row["transcript_path"] = f"{doc['origin']['repo']}/{planted}"
        files[f"transcripts/{row['id']}"] = payload.encode()

    rewrite_state(world, plant)
    world.fake.comment(ISSUE, "alice", "Base 2 seconds.")
    second = world.machine("job2")
    done = second.job("issue_comment", commented(world, "alice", "MEMBER", "Base 2"))

    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback
    assert f"refs/middle/state/{ISSUE}" in line and "transcript_path" in line
    assert "not under" in line
    assert not (second.checkout / planted).exists()
    assert not marker.exists()
    assert second.workflows() == []  # nothing was imported
    assert len(world.agent_log("launch")) == 1  # job 1's only


def test_a_state_ref_cannot_pass_git_an_option_for_a_branch(world: World) -> None:
    world.script({"do": "ask", "question": "Which backoff base?"}, {"do": "done"})
    assert world.machine("job1").job("issues", labeled(world)).returncode == 0

    def option(doc: dict[str, Any], files: dict[str, bytes]) -> None:
        (row,) = doc["tables"]["workflows"]
        row["pr_branch"] = "--orphan=x"

    rewrite_state(world, option)
    second = world.machine("job2")
    done = second.job("issue_comment", commented(world, "alice", "MEMBER", "Base 2"))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "pr_branch '--orphan=x'" in line and f"middle/issue-{ISSUE}" in line
    assert second.workflows() == []
    branches = subprocess.run(
        ["git", "branch", "--list"], cwd=second.checkout, capture_output=True, text=True
    ).stdout
    assert "orphan" not in branches and f"issue-{ISSUE}" not in branches


def test_the_sweep_reports_a_bad_state_ref_and_sweeps_the_others(world: World) -> None:
    clone = attacker_clone(world)

    def write(tree: str, ref: str) -> None:
        commit = subprocess.run(
            ["git", "commit-tree", tree, "-m", "bad"], cwd=clone, capture_output=True,
            text=True, check=True,
        ).stdout.strip()  # fmt: skip
        subprocess.run(["git", "push", "-q", "origin", f"{commit}:{ref}"], cwd=clone, check=True)

    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=clone, input=b"{nope",
        capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    tree = subprocess.run(
        ["git", "mktree"], cwd=clone, input=f"100644 blob {blob}\tjob.json\n",
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    write(tree, "refs/middle/state/1")
    save_state(clone, ISSUE, None, {"queued_at": "2000-01-01T00:00:00Z"}, expected=None,
               message="queued")  # fmt: skip
    world.script({"do": "ask", "question": "Q?"})
    sweeper = world.machine("sweep")

    done = sweeper.job("schedule", world.event("schedule", {"schedule": "23 * * * *"}))

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "issue 1: unreadable: refs/middle/state/1 is skipped" in done.stdout
    assert len(world.agent_log("launch")) == 1  # issue 108 was still swept
    (run,) = sweeper.workflows()
    assert (run["epic_ref"], run["state"]) == (ISSUE, "waiting-human")
    summary = (sweeper.folder / "summary.md").read_text()
    assert "**unreadable**" in summary and "refs/middle/state/1" in summary
    assert "not JSON" in summary
