"""One task across repos (issue 23 item 2): an Epic whose sub-issues are in a library
and in its consumer, fanned out with the stand-in agent, real git and tmux. The
library's child runs first; the consumer's brief says where the library's branch is;
the consumer's gates see the library's integration head; each repo ends with a ready
branch that names the other."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Sandbox, git
from tests.e2e.test_fanout import epoch, events, sub_issue

REF = "cross"
INTEGRATION = f"middle/epic-{REF}"
CRITERION = "The consumer calls the library"
# the consumer's gate: the library's head, checked out, holds the API it calls
LIBRARY_AT_ITS_HEAD = (
    'test -f "$MIDDLE_EPIC_REPO_LIB/api.txt" && '
    'test "$(git -C "$MIDDLE_EPIC_REPO_LIB" rev-parse HEAD)" = "$MIDDLE_EPIC_HEAD_LIB"'
)
CONSUMER_GATES = f"""\
[[gate]]
name = "library-at-its-head"
command = '{LIBRARY_AT_ITS_HEAD}'
"""
LIBRARY_GATES = """\
[[gate]]
name = "has-an-api"
command = "test -f api.txt"
"""


def cross_epic(lib_repo: str = "lib", lib_path: str = "../lib") -> str:
    subs = "\n".join(
        [
            sub_issue(1, "Library API", f"Add the API.\nrepo: {lib_repo}"),
            sub_issue(2, "Use the API", "Call it.\nblocked-by: [1]"),
        ]
    )
    return (
        "<!-- middle:epic v1 -->\n# Across repos\n\n<!-- middle:meta\nslug: cross\n"
        f"approved: true\nparallel: 2\nrepos:\n  lib: {lib_path}\n-->\n\n## Context\n\n"
        f"A library and its consumer.\n\n## Acceptance criteria\n- [ ] {CRITERION}\n\n"
        f"## Sub-issues\n{subs}\n<!-- middle:conversation -->\n<!-- /middle:conversation -->\n"
    )


def library(sandbox: Sandbox) -> Path:
    lib = sandbox.root / "lib"
    (lib / ".middle").mkdir(parents=True)
    (lib / ".middle" / "verify.toml").write_text(LIBRARY_GATES)
    (lib / "README.md").write_text("the library\n")
    git(lib, "init", "-q", "-b", "main")
    git(lib, "add", "-A")
    git(lib, "commit", "-q", "-m", "the library")
    return lib


def set_up(sandbox: Sandbox, more: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Both repos, the Epic in the consumer's, and the agents' script; returns the library."""
    lib = library(sandbox)
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(cross_epic())
    (sandbox.repo / ".middle" / "verify.toml").write_text(CONSUMER_GATES)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "the Epic and its gate")

    def evidence(n: int) -> list[dict[str, str]]:
        return [{"criterion": CRITERION, "evidence": f"STANDIN_WORK-{n}.md"}]

    script = {
        "by_epic": {
            f"{REF}/1": [{"do": "done", "commit": ["api.txt"], "evidence": evidence(1)}],
            f"{REF}/2": [{"do": "done", "evidence": evidence(2)}, *(more or {}).get("2", [])],
        }
    }
    path = sandbox.root / "script.json"
    path.write_text(json.dumps(script))
    command = [sys.executable, "-m", "middle.agents.standin", "--script", str(path)]
    os.environ["MIDDLE_AGENT_COMMAND"] = shlex.join([*command, "--log", str(sandbox.log)])
    return lib


def implement(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    return sandbox.middle("implement", "--issue", REF, "--agent", "command")


def test_an_epic_across_a_library_and_its_consumer_links_two_ready_branches(
    sandbox: Sandbox,
) -> None:
    lib = set_up(sandbox)

    done = implement(sandbox)

    assert done.returncode == 0, done.stdout + done.stderr
    lib_head = git(lib, "rev-parse", INTEGRATION)
    app_head = git(sandbox.repo, "rev-parse", INTEGRATION)
    assert f"repo lib: branch {INTEGRATION} in {lib} at {lib_head[:12]}" in done.stdout
    assert f"repo repo: branch {INTEGRATION} in {sandbox.repo} at {app_head[:12]}" in done.stdout

    # each child worked in its own repo: its run's row, its branch, its merge
    rows = {r["epic_ref"]: r for r in sandbox.db()["workflows"].rows}
    assert rows[f"{REF}/1"]["repo"] == str(lib) and rows[f"{REF}/2"]["repo"] == str(sandbox.repo)
    assert "api.txt" in git(lib, "ls-tree", "--name-only", INTEGRATION).split()
    assert "STANDIN_WORK-2.md" in git(sandbox.repo, "ls-tree", "--name-only", INTEGRATION)
    assert "api.txt" not in git(sandbox.repo, "ls-tree", "--name-only", INTEGRATION).split()

    # the library's child ran first: the consumer's turn began after the library merged
    merged = {m["sub"]: m for m in events(sandbox, "epic.merged")}
    (turn,) = [e for e in sandbox.agent_log("turn") if e["epic"] == f"{REF}/2"]
    assert turn["ts"] > epoch(merged["1"]["ts"])

    # the consumer's brief says where the library's work is, and how to use it
    for said in (str(lib), INTEGRATION, lib_head, "path dependency", f"pinned to {lib_head}",
                 "$MIDDLE_EPIC_REPO_LIB"):  # fmt: skip
        assert said in turn["brief"], said
    (first,) = [e for e in sandbox.agent_log("turn") if e["epic"] == f"{REF}/1"]
    assert "Work in other repos" not in first["brief"]

    # the consumer's gates ran against the library's integration head, and passed
    ran = [e for e in events(sandbox, "gates.ran") if e.get("repo") == "repo"]
    assert ran and all(r["result"] == "passed" for e in ran for r in e["results"])

    # two ready branches, each naming the other
    lib_says = git(lib, "config", f"branch.{INTEGRATION}.description")
    app_says = git(sandbox.repo, "config", f"branch.{INTEGRATION}.description")
    assert f"repo repo: {sandbox.repo}, branch `{INTEGRATION}`" in lib_says
    assert f"repo lib: {lib}, branch `{INTEGRATION}`" in app_says

    approved = sandbox.middle("review", "--issue", REF, "--approve")

    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert not list((sandbox.home / "worktrees").glob("*/epic-*"))  # every worktree went


def test_a_sub_issue_in_a_repo_the_epic_does_not_name_is_refused_leaving_nothing(
    sandbox: Sandbox,
) -> None:
    """One line naming the sub-issue, the value and the fix, before any row. Seen red:
    with the check only in `plan-epic`, the refused Epic left a failed run's row."""
    library(sandbox)
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(cross_epic(lib_repo="nope"))
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "a bad Epic")
    sandbox.script({"do": "done"})

    refused = implement(sandbox)

    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "sub-issue 1" in line and "repo: nope" in line and "add `nope: <path>`" in line
    assert list(sandbox.db()["workflows"].rows) == []
    assert not (sandbox.home / "worktrees").exists() or not any(
        (sandbox.home / "worktrees").iterdir()
    )


def test_a_repo_path_that_is_not_a_git_repository_is_refused_leaving_nothing(
    sandbox: Sandbox,
) -> None:
    """Seen red: with the check only in `plan-epic`, the refused Epic left a failed
    run's row."""
    (sandbox.root / "plain").mkdir()
    epic = cross_epic(lib_path="../plain")
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(epic)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "a bad Epic")
    sandbox.script({"do": "done"})

    refused = implement(sandbox)

    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "sub-issue 1" in line and "'../plain'" in line and "not the top of a git" in line
    assert "fix its path under the Epic's `repos:` meta" in line
    assert list(sandbox.db()["workflows"].rows) == []


def test_requested_changes_on_the_consumer_resume_only_the_consumer(sandbox: Sandbox) -> None:
    """`middle review --issue cross/2 --request-changes TEXT`: a review round of the
    consumer's sub-issue alone, in its repo; the Epic is verified and parked again, and
    an approval then ends it. Seen red: `review` refused `cross/2` as not a valid ref
    (and finish-epic failed the whole Epic on any verdict but approve)."""
    lib = set_up(sandbox)
    assert implement(sandbox).returncode == 0
    lib_head = git(lib, "rev-parse", INTEGRATION)
    app_head = git(sandbox.repo, "rev-parse", INTEGRATION)

    asked = sandbox.middle("review", "--issue", f"{REF}/2", "--request-changes", "Call it twice.")

    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "linked, ready for review" in asked.stdout
    turns = sandbox.agent_log("turn")
    consumer = [e for e in turns if e["epic"] == f"{REF}/2"]
    assert len(consumer) == 2 and "Call it twice." in consumer[1]["brief"]
    assert "# Sub-issue 2 — Use the API" in consumer[1]["brief"]
    # the library's child got no new turn, and no new launch; its branch did not move
    assert [e["epic"] for e in turns].count(f"{REF}/1") == 1
    assert [e["epic"] for e in sandbox.agent_log("launch")].count(f"{REF}/1") == 1
    assert git(lib, "rev-parse", INTEGRATION) == lib_head
    # the consumer's new work merged into its repo's integration branch
    new_head = git(sandbox.repo, "rev-parse", INTEGRATION)
    assert new_head != app_head
    git(sandbox.repo, "merge-base", "--is-ancestor", app_head, new_head)
    assert [m["sub"] for m in events(sandbox, "epic.merged")] == ["1", "2", "2"]
    rows = {r["id"]: r for r in sandbox.db()["workflows"].rows}
    parent = next(r for r in rows.values() if r["parent_id"] is None)
    assert parent["state"] == "waiting-human"
    assert rows[f"{parent['id']}-2-r1"]["state"] == "completed"

    approved = sandbox.middle("review", "--issue", REF, "--approve")

    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert {r["state"] for r in sandbox.db()["workflows"].rows} == {"completed"}


def test_a_review_of_a_sub_issue_the_epic_does_not_have_is_refused(sandbox: Sandbox) -> None:
    """Refused in one line, before any signal: the parked Epic stays as it was."""
    set_up(sandbox)
    assert implement(sandbox).returncode == 0

    refused = sandbox.middle("review", "--issue", f"{REF}/9", "--request-changes", "No.")

    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "no sub-issue 9 (it has 1, 2)" in line
    parent = next(r for r in sandbox.db()["workflows"].rows if r["parent_id"] is None)
    assert parent["state"] == "waiting-human"
