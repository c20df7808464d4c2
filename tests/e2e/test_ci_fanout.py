"""A fanned-out Epic in CI mode (issue 23): each job on a fresh runner, the parent and its
children carried together in the Epic's state ref, with the gh fake holding only the
Actions job token (`/user` is a 403, writes are authored by `github-actions[bot]`).

Seen red (before the parent and its children were carried): job 1 saved the Epic's run
alone in the state ref; its children, and the question one of them parked on, were lost.
And with `read_trigger` knowing `middle/issue-<n>` branches only, job 3 (the review of the
Epic's pull request, on `middle/epic-<n>`) was skipped and the Epic never ended.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from middle.app.ci.slots import claim_slot, release_slot
from tests.e2e.conftest import git
from tests.e2e.test_ci import BOT, ISSUE, SLUG, World, commented, labeled
from tests.e2e.test_ci import world as world  # the fixture

INTEGRATION = f"middle/epic-{ISSUE}"


def fan_out_by_policy(world: World, parallel: int = 2) -> None:
    """`[repo] parallel` in the repository's policy, on the remote's main."""
    seed = world.root / "policy-seed"
    subprocess.run(["git", "clone", "-q", str(world.remote), str(seed)], check=True)
    policy = seed / ".middle" / "policy.toml"
    policy.write_text(policy.read_text().replace("[repo]\n", f"[repo]\nparallel = {parallel}\n"))
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "fan out")
    git(seed, "push", "-q", "origin", "main")


def script(world: World, by_epic: dict[str, list[dict[str, Any]]]) -> None:
    (world.root / "script.json").write_text(json.dumps({"by_epic": by_epic}))


def remote_branch(world: World, branch: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(world.remote), "rev-parse", "--verify", "-q", branch],
        capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def reviewed_epic(world: World, login: str, state: str = "approved") -> Path:
    """A review of the Epic's pull request (its integration branch)."""
    return world.event(
        "pull_request_review",
        {
            "action": "submitted",
            "review": {"state": state, "user": {"login": login},
                       "author_association": "MEMBER", "body": ""},
            "pull_request": {"number": world.fake.pr()["number"], "head": {
                "ref": INTEGRATION, "repo": {"full_name": SLUG}}},
            "repository": {"full_name": SLUG},
            "sender": {"login": login},
        },
    )  # fmt: skip


def test_a_fanned_out_epic_parks_on_a_childs_question_and_the_answer_job_finishes_it(
    world: World,
) -> None:
    fan_out_by_policy(world)
    script(world, {
        f"{ISSUE}/109": [{"do": "ask", "question": "Which queue?"}, {"do": "done"}],
        f"{ISSUE}/110": [{"do": "done"}],
    })  # fmt: skip

    # job 1: the label. #110 merges, #109 asks; the Epic parks on its children.
    first = world.machine("job1")
    done = first.job("issues", labeled(world))
    assert done.returncode == 0, done.stdout + done.stderr
    states = {r["epic_ref"]: r["state"] for r in first.workflows()}
    assert states == {ISSUE: "waiting-human", f"{ISSUE}/109": "waiting-human",
                      f"{ISSUE}/110": "completed"}  # fmt: skip
    saved = world.saved()
    assert saved["job"] == {}
    carried = {r["epic_ref"]: r for r in saved["state"]["tables"]["workflows"]}
    assert set(carried) == set(states)  # the parent and every child, together
    parent = carried[ISSUE]
    assert parent["parent_id"] is None
    assert {carried[f"{ISSUE}/{n}"]["parent_id"] for n in (109, 110)} == {parent["id"]}
    assert remote_branch(world, INTEGRATION)  # the integration branch holds #110
    assert remote_branch(world, f"{INTEGRATION}-109")  # #109's work so far
    asked = [c for c in world.fake.comments(ISSUE) if "Which queue?" in c["body"]]
    assert asked and asked[0]["login"] == BOT

    # job 2, on another runner: a trusted person answers on the Epic.
    world.fake.comment(ISSUE, "alice", "The Redis one.")
    second = world.machine("job2")
    done = second.job("issue_comment", commented(world, "alice", "MEMBER", "The Redis one."))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["epic_ref"]: r for r in second.workflows()}
    assert rows[ISSUE]["id"] == parent["id"]  # the same runs continue
    assert rows[f"{ISSUE}/109"]["state"] == "completed"
    assert rows[f"{ISSUE}/109"]["worktree_path"].startswith(str(second.folder))
    turns = [t for t in world.agent_log("turn") if t.get("epic") == f"{ISSUE}/109"]
    assert len(turns) == 2 and "The Redis one." in turns[1]["brief"]
    assert rows[ISSUE]["state"] == "waiting-human"  # parked for review, with its PR
    pr = world.fake.pr()
    assert (pr["head"], pr["isDraft"], pr["author"]) == (INTEGRATION, False, BOT)
    assert "ready for review" in done.stdout
    assert remote_branch(world, INTEGRATION) == pr["headRefOid"]
    saved = world.saved()
    assert saved["job"] == {}
    assert {r["state"] for r in saved["state"]["tables"]["workflows"]} == {
        "waiting-human", "completed"
    }  # fmt: skip

    # job 3: the approving review of the Epic's pull request ends the Epic.
    world.fake.review("bob", "APPROVED", "")
    third = world.machine("job3")
    done = third.job("pull_request_review", reviewed_epic(world, "bob"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["epic_ref"]: r["state"] for r in third.workflows()} == dict.fromkeys(
        states, "completed"
    )
    assert {r["state"] for r in world.saved()["state"]["tables"]["workflows"]} == {"completed"}


def test_a_job_runs_no_more_of_an_epics_agents_at_once_than_the_slots_it_holds(
    world: World,
) -> None:
    """Each child's agent counts against the repository-wide cap (`max_concurrent = 2`),
    as it would on one machine. With one slot held by another job's agent, the job gets
    the other and runs the two children one after the other, and says so. Seen red: the
    job held one slot and ran both children at once."""
    fan_out_by_policy(world)
    script(world, {
        f"{ISSUE}/109": [{"do": "done", "delay": 1}],
        f"{ISSUE}/110": [{"do": "done", "delay": 1}],
    })  # fmt: skip
    others = world.machine("others")
    held = claim_slot(others.checkout, 2, issue="1", job="other-1")
    assert held is not None
    try:
        done = world.machine("job1").job("issues", labeled(world))
    finally:
        release_slot(others.checkout, held)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of the 2 agent slots this run may use are free" in done.stdout
    started = {t["epic"]: t["ts"] for t in world.agent_log("turn")}
    ended = {t["epic"]: t["ts"] for t in world.agent_log("stop")}
    assert set(started) == set(ended) == {f"{ISSUE}/109", f"{ISSUE}/110"}
    first, second = sorted(started, key=started.__getitem__)
    assert ended[first] <= started[second], (started, ended)  # one after the other
    states = {r["epic_ref"]: r["state"] for r in world.saved()["state"]["tables"]["workflows"]}
    assert states == {ISSUE: "waiting-human", f"{ISSUE}/109": "completed",
                      f"{ISSUE}/110": "completed"}  # fmt: skip
    assert not [r for r in world.remote_refs() if r.startswith("refs/middle/slots/")]


def test_changes_requested_on_the_epics_pull_request_are_a_review_round_in_the_next_job(
    world: World,
) -> None:
    """Job 1 merges both sub-issues and opens the Epic's pull request; job 2, on another
    runner, gets the requested changes: a new child of the sub-issue that merged last works
    again on its branch, merges, and the Epic parks for review again, its branch pushed."""
    fan_out_by_policy(world)
    script(world, {f"{ISSUE}/{n}": [{"do": "done"}, {"do": "done"}] for n in (109, 110)})
    first = world.machine("job1")
    done = first.job("issues", labeled(world))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready for review" in done.stdout
    before = remote_branch(world, INTEGRATION)

    world.fake.review("bob", "CHANGES_REQUESTED", "Name the queue.")
    second = world.machine("job2")
    done = second.job("pull_request_review", reviewed_epic(world, "bob", "changes_requested"))

    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["id"]: r for r in second.workflows()}
    (again,) = [r for r in rows.values() if r["id"].endswith("-r1")]
    assert again["state"] == "completed" and again["parent_id"] in rows
    assert rows[again["parent_id"]]["state"] == "waiting-human"
    turns = [t for t in world.agent_log("turn") if t.get("epic") == again["epic_ref"]]
    assert len(turns) == 2 and "Name the queue." in turns[1]["brief"]
    assert remote_branch(world, INTEGRATION) != before  # the round's work is on the PR
    assert {r["id"] for r in world.saved()["state"]["tables"]["workflows"]} == set(rows)


def test_an_epic_across_repos_is_refused_by_the_ci_job_in_one_line(world: World) -> None:
    """A CI job checks out one repository, so it does not run an Epic whose sub-issues are
    in others. Seen red: the job failed on `epic_repos`, telling the runner to register a
    checkout of acme/app with `middle pause/unpause`, which no runner has."""
    fan_out_by_policy(world)
    github = world.fake.read()
    github["issues"][ISSUE]["sub_issues"] = [109, "acme/app#7"]
    github["repos"] = {
        "acme/app": {
            "prs": [],
            "issues": {
                "7": {"title": "Use the API", "body": "Call it.", "parent": f"{SLUG}#{ISSUE}"}
            },
        }
    }
    world.fake.write(github)

    job = world.machine("job1")
    done = job.job("issues", labeled(world))

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"issue {ISSUE} is an Epic across repositories (acme/app)" in done.stderr
    assert "run it with `middle serve` on a machine with every repo checked out" in done.stderr
    assert job.workflows() == [] and world.agent_log("launch") == []
    assert world.saved()["job"] == {}  # the claim is released
