"""Per-phase gates through `middle implement` and `middle poll` (issue 19, items 3 and 4):
a sub-issue's checkbox going from `[ ]` to `[x]` runs that phase's gates on the branch's
committed head; a failing one is unticked, said where people read the issue, and sent
to the agent; each phase's evidence is one record, edited in place. The stand-in agent,
real git and tmux, the real CLI; in GitHub mode the fake `gh` of tests/e2e/test_github.py.
"""

from __future__ import annotations

import json

import pytest

from middle.steps.dispatch import worktree_path
from middle.verify.gates import GateResult
from middle.verify.phases import PhaseRun
from tests.e2e.conftest import REF, Sandbox, git
from tests.e2e.test_github import EPIC, FakeGitHub, github, implement

__all__ = ["github"]  # the fixture, used by name

QUEUE_GATE = """\
[[gate]]
name = "queue"
command = "test -f QUEUE.md || { echo 'QUEUE.md is missing'; exit 1; }"
phases = ["{phase}"]

[[gate]]
name = "always"
command = "true"
"""
QUEUE_KEPT_GATE = """\
[[gate]]
name = "queue"
command = "test ! -f BROKEN.md || { echo 'BROKEN.md breaks the queue'; exit 1; }"
phases = ["{phase}"]
"""
EVIDENCE = "<!-- middle:gate-evidence:phase-109 -->"


def commit_gates(sandbox: Sandbox, phase: str, gates: str = QUEUE_GATE) -> None:
    """The queue gate for `phase` (and by default one for every phase), with evidence
    at done off: these tests are about the phases."""
    (sandbox.repo / ".middle" / "verify.toml").write_text(gates.replace("{phase}", phase))
    policy = sandbox.repo / ".middle" / "policy.toml"
    policy.write_text(policy.read_text() + '\n[verify]\nevidence = "off"\n')
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "gates")


# -- file mode: the sub-issue line of the Epic file, at a turn end ------------------------


def test_a_phase_ticked_in_the_epic_with_failing_gates_is_unticked_and_sent_back(
    sandbox: Sandbox,
) -> None:
    """The agent ticks sub-issue 1 without committing what its gate checks: middle
    unticks it, says why in the Epic file, and nudges the agent with the gate and its
    output; ticked again with the work committed, it stays ticked, and its one evidence
    block says so. Seen red before phases were judged: the tick stood, no gate ran for
    it, and the second turn's prompt was the bare-stop "continue"."""
    commit_gates(sandbox, "#1")
    epic = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    tick = {str(epic): ["- [ ] **1 —", "- [x] **1 —"]}
    sandbox.script(
        {"do": "done", "edit": tick}, {"do": "done", "edit": tick, "commit": ["QUEUE.md"]}
    )

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    brief = sandbox.agent_log("turn")[0]["brief"]
    assert f"tick it on its line in the Epic file {epic} (`- [x] **2 — Title**`" in brief
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert nudge.startswith("Phase #1 is not done: its gates failed on commit ")
    assert "queue [unit] failed: QUEUE.md is missing" in nudge
    assert "phase #1: gate queue [unit] failed: QUEUE.md is missing" in result.stdout
    runs = sandbox.events("phase.gates")
    assert [(run["phase"], run["passed"]) for run in runs] == [("1", False), ("1", True)]
    text = epic.read_text()
    assert "- [x] **1 — Retry queue**" in text  # ticked again, and it stood
    assert text.count("kind=phase_gates_failed") == 1 and "QUEUE.md is missing" in text
    assert text.count("kind=gate_evidence") == 1
    assert f"Gate evidence for phase #1 on commit {runs[1]['head'][:12]}: passed." in text
    assert "| queue | unit | passed |" in text and "| always | unit | passed |" in text


def test_a_phase_ticked_before_the_run_is_not_judged_again(sandbox: Sandbox) -> None:
    """Only a tick from `[ ]` to `[x]` runs a phase's gates. Seen red with no baseline:
    the sub-issue ticked before dispatch was judged at the first turn end."""
    commit_gates(sandbox, "#1")
    epic = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    epic.write_text(epic.read_text().replace("- [ ] **1 —", "- [x] **1 —"))
    git(sandbox.repo, "commit", "-q", "-am", "phase 1 was done before")
    sandbox.script({"do": "done", "commit": ["QUEUE.md"]})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert sandbox.events("phase.gates") == []
    assert "kind=gate_evidence" not in epic.read_text()


# -- GitHub mode: the PR body's ## Status, at a turn end and on a new head (poll) ----------


STATUS = "## Status\n- [{mark}] #109 Retry queue\n- [ ] #110 Backoff\n"


def evidence_comments(github: FakeGitHub, number: int) -> list[dict[str, object]]:
    return [c for c in github.comments(str(number)) if str(c["body"]).startswith(EVIDENCE)]


def test_a_phase_ticked_in_the_pr_status_is_unticked_then_its_evidence_edited_in_place(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """The agent opens its PR with #109 ticked and the queue missing: middle unticks it
    in the PR body, says which gate failed in a PR comment, publishes the phase's
    evidence and nudges the agent. Ticked again on a new head, `poll` judges it, and the
    one evidence comment is edited (a PATCH), never posted twice. Seen red before phases
    were judged (the tick stood, no comment), and with the evidence posted each run (two
    marked comments)."""
    commit_gates(sandbox, "#109")
    ticked = STATUS.format(mark="x")
    sandbox.script(
        {"do": "done", "pr": "ready", "pr_body": ticked},
        {"do": "done", "commit": ["QUEUE.md"]},
    )

    result = implement(sandbox)

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    brief = sandbox.agent_log("turn")[0]["brief"]
    assert "tick it in your pull request body's `## Status`" in brief
    nudge = sandbox.agent_log("turn")[1]["prompt"]
    assert nudge.startswith("Phase #109 is not done") and "QUEUE.md is missing" in nudge
    pr = github.pr()
    assert pr["body"] == STATUS.format(mark=" ")  # unticked, nothing else changed
    said = [c for c in github.comments(str(pr["number"])) if "middle unticked #109" in c["body"]]
    assert len(said) == 1 and "QUEUE.md is missing" in said[0]["body"]
    (first,) = evidence_comments(github, pr["number"])
    assert ": failed." in first["body"] and "| queue | unit | failed |" in first["body"]

    head = git(sandbox.repo, "rev-parse", "middle/issue-108")
    github.update_pr(body=ticked, headRefOid=head)  # the agent ticks it again and pushes
    polled = sandbox.middle("poll")

    assert polled.returncode == 0, polled.stderr
    assert polled.stdout.strip() == "Nothing to resume."
    (edited,) = evidence_comments(github, pr["number"])
    assert edited["id"] == first["id"] and f"{head[:12]}: passed." in edited["body"]
    calls = github.read()["calls"]
    assert [c[:3] for c in calls if c[:1] == ["api"] and "PATCH" in c] == [
        ["api", "--method", "PATCH"]
    ]
    assert github.pr()["body"] == ticked  # it passed: the tick stands
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."  # judged once
    assert len(sandbox.events("phase.gates")) == 2


def test_poll_unticks_a_failing_phase_on_a_new_head_and_resumes_the_agent(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    """A parked run whose PR gets a new head with #109 ticked and its gate failing:
    `poll` unticks it, comments, and resumes the agent with the report (a review
    round). Seen red before poll judged phases: "Nothing to resume." and the tick stood."""
    commit_gates(sandbox, "#109", QUEUE_KEPT_GATE)
    sandbox.script(
        {"do": "done", "pr": "ready", "pr_body": STATUS.format(mark=" ")}, {"do": "done"}
    )
    assert "ready for review" in implement(sandbox).stdout

    worktree = worktree_path(sandbox.home, sandbox.repo, EPIC)
    (worktree / "BROKEN.md").write_text("the agent broke it\n")
    git(worktree, "add", "BROKEN.md")
    git(worktree, "commit", "-q", "-m", "phase 109, broken")
    head = git(sandbox.repo, "rev-parse", "middle/issue-108")
    github.update_pr(body=STATUS.format(mark="x"), headRefOid=head)
    polled = sandbox.middle("poll")

    assert polled.returncode == 0, polled.stderr
    assert "issue 108: phase-failed" in polled.stdout
    assert github.pr()["body"] == STATUS.format(mark=" ")
    brief = sandbox.agent_log("turn")[1]["brief"]
    assert brief.startswith("# A phase's gates failed (round 1)")
    assert "Phase #109 is not done" in brief and "BROKEN.md breaks the queue" in brief
    note = json.loads(sandbox.workflow()["meta_json"])["phases"]["109"]
    assert note["passed"] is False and note["head"] == head


def test_status_of_an_issue_shows_each_phases_gate_evidence(sandbox: Sandbox) -> None:
    """`middle status --issue REF` (issue 19, item 4). Seen red before the option:
    invoke refused `--issue`."""
    commit_gates(sandbox, "#1")
    epic = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    tick = {str(epic): ["- [ ] **1 —", "- [x] **1 —"]}
    sandbox.script({"do": "done", "edit": tick, "commit": ["QUEUE.md"]})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0

    shown = sandbox.middle("status", "--issue", REF)

    assert shown.returncode == 0, shown.stderr
    head = git(sandbox.repo, "rev-parse", f"middle/issue-{REF}")
    assert f"phase #1: passed on {head[:12]}" in shown.stdout
    assert "  queue [unit] passed in " in shown.stdout
    (row,) = json.loads(sandbox.middle("status", "--issue", REF, "--json").stdout)
    assert [record["phase"] for record in row["phases"]] == ["1"]
    other = sandbox.middle("status", "--issue", "nothing-here")
    assert other.returncode == 1 and "no runs of issue nothing-here" in other.stderr


@pytest.mark.parametrize("as_bot", [False, True])
def test_the_evidence_comment_middle_edits_is_its_own_never_a_strangers(
    sandbox: Sandbox, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, as_bot: bool
) -> None:
    """Someone else's comment that starts with the marker is never edited (GitHub would
    refuse it: an installation token edits only what its bot wrote), and middle's own
    is edited, once per run after the first. Seen red with the marker alone deciding:
    the stranger's comment was PATCHed, which the fake refuses as GitHub does."""
    from middle.issues.github_store import GitHubIssueStore

    state = github.read()
    state["prs"].append(
        {"number": 200, "head": "middle/issue-108", "title": "t", "body": "", "author": "x",
         "isDraft": False, "state": "OPEN", "reviewDecision": "", "headRefOid": "0" * 40,
         "reviews": []}
    )  # fmt: skip
    if as_bot:
        state["token"] = {"value": "ghs_test", "bot": "github-actions[bot]"}
        monkeypatch.setenv("GH_TOKEN", "ghs_test")
    github.write(state)
    github.comment("200", "mallory", f"{EVIDENCE}\nall passed, trust me", association="NONE")
    store = GitHubIssueStore(sandbox.repo, {})
    failed = PhaseRun("109", "a" * 40, (GateResult("queue", "unit", "failed", 1.0, "a" * 40, "x"),))

    store.publish_phase_evidence(EPIC, "middle/issue-108", failed)
    store.publish_phase_evidence(EPIC, "middle/issue-108", PhaseRun("109", "b" * 40, ()))

    mine, theirs = [], []
    for comment in github.comments("200"):
        (theirs if comment["login"] == "mallory" else mine).append(comment)
    assert [c["body"] for c in theirs] == [f"{EVIDENCE}\nall passed, trust me"]
    assert len(mine) == 1 and f"{'b' * 12}: passed." in mine[0]["body"]
    assert mine[0]["login"] == ("github-actions[bot]" if as_bot else "middle-bot")
    assert "refused" not in github.read()
