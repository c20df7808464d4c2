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
from tests.e2e.test_fanout import (
    answer_part_one_in_the_epic_file_then_poll,
    epoch,
    events,
    sub_issue,
)

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


def refused_epic(sandbox: Sandbox, epic: str) -> str:
    """Commit `epic` as the Epic and implement it: refused in one line (returned), exit 1,
    before any row or worktree."""
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(epic)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "a bad Epic")
    sandbox.script({"do": "done"})

    refused = implement(sandbox)

    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert list(sandbox.db()["workflows"].rows) == []
    worktrees = sandbox.home / "worktrees"
    assert not worktrees.exists() or not any(worktrees.iterdir())
    return line


def test_a_sub_issue_in_a_repo_the_epic_does_not_name_is_refused_leaving_nothing(
    sandbox: Sandbox,
) -> None:
    """One line naming the sub-issue, the value and the fix, before any row. Seen red:
    with the check only in `plan-epic`, the refused Epic left a failed run's row."""
    library(sandbox)
    line = refused_epic(sandbox, cross_epic(lib_repo="nope"))
    assert "sub-issue 1" in line and "repo: nope" in line and "add `nope: <path>`" in line


def test_a_repo_path_that_is_not_a_git_repository_is_refused_leaving_nothing(
    sandbox: Sandbox,
) -> None:
    """Seen red: with the check only in `plan-epic`, the refused Epic left a failed
    run's row."""
    (sandbox.root / "plain").mkdir()
    line = refused_epic(sandbox, cross_epic(lib_path="../plain"))
    assert "sub-issue 1" in line and "'../plain'" in line and "not the top of a git" in line
    assert "fix its path under the Epic's `repos:` meta" in line


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


def bare_origin(repo: Path, slug: str) -> Path:
    """`repo`'s origin on the fake github.com, pushed to a bare repository beside it."""
    remote = repo.parent / f"{repo.name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(remote)], check=True)
    url = f"https://github.com/{slug}.git"
    git(repo, "remote", "add", "origin", url)
    git(repo, "config", f"url.{remote}.pushInsteadOf", url)
    return remote


def github_mode(sandbox: Sandbox, monkeypatch: Any) -> tuple[Path, Path]:
    """The Epic #108 in acme/lib (the sandbox repo) with sub-issue #109 there and the
    consumer's, acme/app#7, in acme/app (a served checkout beside it), blocked by #109;
    both on the fake github.com through the `gh` fake. Returns its state file and the
    consumer's checkout."""
    from tests.conftest import REPO_ROOT

    bin_dir = sandbox.root / "bin"
    bin_dir.mkdir()
    fake_gh = REPO_ROOT / "tests" / "fakes" / "gh_fake.py"
    (bin_dir / "gh").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake_gh}" "$@"\n')
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    state_file = sandbox.root / "github.json"
    monkeypatch.setenv("FAKE_GH_STATE", str(state_file))
    app = sandbox.root / "app"
    (app / ".middle").mkdir(parents=True)
    gate = LIBRARY_AT_ITS_HEAD.replace("_LIB", "_ACME_LIB")
    (app / ".middle" / "verify.toml").write_text(
        f"[[gate]]\nname = \"library-at-its-head\"\ncommand = '{gate}'\n"
    )
    (app / "README.md").write_text("the app\n")
    git(app, "init", "-q", "-b", "main")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "the app")
    (sandbox.repo / ".middle" / "verify.toml").write_text(LIBRARY_GATES)
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        '[epic_store]\nmode = "github"\n\n[verify]\nevidence = "off"\n\n'
        '[adapters.command]\nenv_pass = ["FAKE_GH_STATE"]\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "github mode")
    state_file.write_text(json.dumps({
        "login": "middle-bot", "repo": "acme/lib", "prs": [],
        "git_remote": str(bare_origin(sandbox.repo, "acme/lib")),
        "permissions": {"carol": "write"},
        "issues": {
            "108": {"title": "Across repos", "body": f"- [ ] {CRITERION}\n",
                    "labels": ["approved"], "sub_issues": [109, "acme/app#7"]},
            "109": {"title": "Library API", "body": "Add the API.", "parent": 108},
        },
        "repos": {"acme/app": {
            "prs": [], "git_remote": str(bare_origin(app, "acme/app")),
            "issues": {"7": {"title": "Use the API", "body": "Call it.",
                             "parent": "acme/lib#108", "blocked_by": ["acme/lib#109"]}},
        }},
    }))  # fmt: skip
    script = {
        "by_epic": {
            "108/109": [{"do": "done", "commit": ["api.txt"]}],
            "108/acme/app#7": [{"do": "done"}],
        }
    }
    (sandbox.root / "script.json").write_text(json.dumps(script))
    command = [sys.executable, "-m", "middle.agents.standin", "--script"]
    command += [str(sandbox.root / "script.json"), "--log", str(sandbox.log)]
    os.environ["MIDDLE_AGENT_COMMAND"] = shlex.join(command)
    return state_file, app


def test_github_mode_links_a_pull_request_per_repo_and_a_review_resumes_only_its_child(
    sandbox: Sandbox, monkeypatch: Any
) -> None:
    """GitHub mode with the `gh` fake: the consumer's sub-issue is acme/app#7 (from the
    Epic's sub_issues listing, its `repository_url`), worked in the served checkout
    whose origin is acme/app; two linked pull requests; a change request on the
    consumer's, found by `poll`, resumes only the consumer. Seen red twice: before a
    sub-issue could be in another repository the Epic went to one agent in acme/lib
    (which never finished); and before poll asked the other repos' pull requests, the
    review was never seen ("Nothing to resume.")."""
    state_file, app = github_mode(sandbox, monkeypatch)

    unserved = sandbox.middle("implement", "--issue", "108", "--agent", "command")

    assert unserved.returncode == 1  # acme/app's checkout is no repo middle serves yet
    (line,) = unserved.stderr.strip().splitlines()
    assert "sub-issue acme/app#7 of issue 108 is in acme/app" in line and "--repo PATH" in line
    assert list(sandbox.db()["workflows"].rows) == []
    assert sandbox.middle("pause", "--repo", str(app)).returncode == 0  # now it is served
    assert sandbox.middle("unpause", "--repo", str(app)).returncode == 0

    done = sandbox.middle("implement", "--issue", "108", "--agent", "command")

    assert done.returncode == 0, done.stdout + done.stderr
    lib_pr, app_pr = "https://github.com/acme/lib/pull/200", "https://github.com/acme/app/pull/200"
    assert f"repo acme/lib: pull request {lib_pr}" in done.stdout
    assert f"repo acme/app: pull request {app_pr}" in done.stdout
    github = json.loads(state_file.read_text())
    (lib_body,) = [pr["body"] for pr in github["prs"]]
    (app_body,) = [pr["body"] for pr in github["repos"]["acme/app"]["prs"]]
    assert f"repo acme/app: {app_pr}" in lib_body and "Closes #109" in lib_body
    assert f"repo acme/lib: {lib_pr}" in app_body and "Closes acme/app#7" in app_body
    assert github["repos"]["acme/app"]["prs"][0]["title"] == "Across repos"
    # the library first; the consumer's brief names its branch, head and URL
    merged = {m["sub"]: m for m in events(sandbox, "epic.merged")}
    (consumer,) = [e for e in sandbox.agent_log("turn") if e["epic"] == "108/acme/app#7"]
    assert consumer["ts"] > epoch(merged["109"]["ts"])
    lib_head = git(sandbox.repo, "rev-parse", "middle/epic-108")
    for said in ("https://github.com/acme/lib.git", "middle/epic-108", lib_head):
        assert said in consumer["brief"], said
    rows = {r["epic_ref"]: r for r in sandbox.db()["workflows"].rows}
    assert rows["108/acme/app#7"]["repo"] == str(app)
    ran = [e for e in events(sandbox, "gates.ran") if e.get("repo") == "acme/app"]
    assert ran and all(r["result"] == "passed" for e in ran for r in e["results"])

    github["repos"]["acme/app"]["prs"][0]["reviews"].append({
        "login": "carol", "state": "CHANGES_REQUESTED", "body": "Call it twice.",
        "submitted_at": "2026-12-06T12:00:00Z", "association": "COLLABORATOR",
    })  # fmt: skip
    github["repos"]["acme/app"]["prs"][0]["reviewDecision"] = "CHANGES_REQUESTED"
    state_file.write_text(json.dumps(github))

    polled = sandbox.middle("poll")

    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "issue 108: request-changes" in polled.stdout
    turns = sandbox.agent_log("turn")
    again = [e for e in turns if e["epic"] == "108/acme/app#7"]
    assert len(again) == 2 and "@carol: Call it twice." in again[1]["brief"]
    assert [e["epic"] for e in turns].count("108/109") == 1  # the library: no new turn
    assert git(sandbox.repo, "rev-parse", "middle/epic-108") == lib_head
    parent = next(r for r in sandbox.db()["workflows"].rows if r["parent_id"] is None)
    assert parent["state"] == "waiting-human"
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."  # the same review


def test_a_question_from_the_library_is_answered_from_the_epics_repo(sandbox: Sandbox) -> None:
    """The library's child asks; `middle answer --issue cross/1` in the Epic's repo (the
    consumer's) reaches it, though its run is in the library's repo. Seen red: "nothing
    to answer: issue cross/1 in <app> has no live workflow"."""
    set_up(sandbox)
    script = json.loads((sandbox.root / "script.json").read_text())
    script["by_epic"][f"{REF}/1"].insert(0, {"do": "ask", "question": "Which version?"})
    (sandbox.root / "script.json").write_text(json.dumps(script))

    asked = implement(sandbox)

    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "sub-issue(s) 1 wait for a human" in asked.stdout
    assert not [e for e in sandbox.agent_log("turn") if e["epic"] == f"{REF}/2"]

    answered = sandbox.middle("answer", "--issue", f"{REF}/1", "--text", "Version two.")

    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "linked, ready for review" in answered.stdout
    second = [e for e in sandbox.agent_log("turn") if e["epic"] == f"{REF}/1"][1]
    assert "Version two." in second["brief"]
    assert sorted(m["sub"] for m in events(sandbox, "epic.merged")) == ["1", "2"]


def test_an_answer_written_in_the_epic_file_reaches_the_library_through_poll(
    sandbox: Sandbox,
) -> None:
    """`middle poll` reads the answer to the library child's question from the Epic's
    file, in the consumer's repo. Seen red: poll asked the library repo's own issue store
    (no Epic there), and the run's poll failed."""
    set_up(sandbox)
    script = json.loads((sandbox.root / "script.json").read_text())
    script["by_epic"][f"{REF}/1"].insert(0, {"do": "ask", "question": "Which version?"})
    (sandbox.root / "script.json").write_text(json.dumps(script))
    assert implement(sandbox).returncode == 0
    answer_part_one_in_the_epic_file_then_poll(sandbox, REF, "Two.")


def test_a_review_rounds_question_parks_the_epic_on_its_child_not_for_review(
    sandbox: Sandbox,
) -> None:
    """The consumer's review-round agent asks: the Epic waits on that child, so an
    approval is refused until the answer is in and the Epic is parked for review
    again. Seen red: the Epic still read as parked for review (its first park-epic's
    message, "linked, ready for review", came back for the round)."""
    set_up(sandbox)
    assert implement(sandbox).returncode == 0
    script = json.loads((sandbox.root / "script.json").read_text())
    evidence = [{"criterion": CRITERION, "evidence": "STANDIN_WORK-2.md"}]
    script["by_epic"][f"{REF}/2"] = [
        {"do": "ask", "question": "How many times?"},
        {"do": "done", "evidence": evidence},
    ]
    (sandbox.root / "script.json").write_text(json.dumps(script))  # the round's new agent

    asked = sandbox.middle("review", "--issue", f"{REF}/2", "--request-changes", "Call it more.")

    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "sub-issue(s) 2 wait for a human" in asked.stdout
    early = sandbox.middle("review", "--issue", REF, "--approve")
    assert early.returncode == 1
    assert "not waiting for a review (children)" in early.stderr

    answered = sandbox.middle("answer", "--issue", f"{REF}/2", "--text", "Twice.")

    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "linked, ready for review" in answered.stdout
    approved = sandbox.middle("review", "--issue", REF, "--approve")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert {r["state"] for r in sandbox.db()["workflows"].rows} == {"completed"}


def test_a_bare_review_goes_to_the_sub_issue_that_merged_last_in_the_epics_repo(
    sandbox: Sandbox,
) -> None:
    """`review --issue cross --request-changes`: no sub-issue named, so the round goes
    to the one that merged last in the Epic's own repo (the consumer's #2), never to the
    library's. Seen red: finish-epic failed the Epic ("re-dispatch the sub-issue it is
    about")."""
    set_up(sandbox)
    assert implement(sandbox).returncode == 0

    asked = sandbox.middle("review", "--issue", REF, "--request-changes", "Tidy it.")

    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "linked, ready for review" in asked.stdout
    turns = [e["epic"] for e in sandbox.agent_log("turn")]
    assert turns.count(f"{REF}/2") == 2 and turns.count(f"{REF}/1") == 1
