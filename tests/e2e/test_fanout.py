"""An Epic fanned out (issue 23): `middle implement --parallel 3` with the stand-in agent,
real git and tmux. Four sub-issues, #3 blocked by #1, and a conflict seeded between #2
and #4. Concurrency is proven by what the agents recorded (each turn of #1, #2 and #4
waits until all three have started, and the timestamps overlap), never by sleeping."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Sandbox, git, wait_until

REF = "fan"
INTEGRATION = f"middle/epic-{REF}"
CRITERION = "Every part is in"
GATES = """\
[[gate]]
name = "no-conflict-markers"
command = "! grep -rqs '^<<<<<<<' --exclude-dir=.git ."
"""


def sub_issue(number: int, title: str, body: str) -> str:
    return (
        f"<!-- middle:sub-issue id={number} -->\n- [ ] **{number} — {title}**\n"
        + "".join(f"  {line}\n" for line in body.splitlines())
        + "<!-- /middle:sub-issue -->\n"
    )


def fan_epic() -> str:
    subs = "\n".join(
        [
            sub_issue(1, "Part one", "The first part."),
            sub_issue(2, "Part two", "The second part."),
            sub_issue(3, "Part three", "Builds on part one.\nblocked-by: [1]"),
            sub_issue(4, "Part four", "The fourth part."),
        ]
    )
    return (
        "<!-- middle:epic v1 -->\n# Four parts\n\n<!-- middle:meta\nslug: fan\n"
        "approved: true\n-->\n\n## Context\n\nFour parts, three of them at once.\n\n"
        f"## Acceptance criteria\n- [ ] {CRITERION}\n\n## Sub-issues\n{subs}\n"
        "<!-- middle:conversation -->\n<!-- /middle:conversation -->\n"
    )


def set_up(sandbox: Sandbox, *, hold: Path | None = None) -> Path:
    """The Epic, its gate and the agents' script; returns the folder of start marks."""
    epics = sandbox.repo / "planning" / "epics"
    (epics / f"{REF}.md").write_text(fan_epic())
    (sandbox.repo / ".middle" / "verify.toml").write_text(GATES)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "the Epic and its gate")
    marks = sandbox.root / "marks"
    marks.mkdir()
    together = [str(marks / n) for n in ("1", "2", "4")] + ([str(hold)] if hold else [])

    def evidence(n: int) -> list[dict[str, str]]:
        return [{"criterion": CRITERION, "evidence": f"STANDIN_WORK-{n}.md"}]

    def first(n: int, **more: Any) -> dict[str, Any]:
        return {"do": "done", "mark": str(marks / str(n)), "wait_for": together,
                "evidence": evidence(n), **more}  # fmt: skip

    both = {"shared.txt": "two\nfour\n"}
    script = {
        "by_epic": {
            f"{REF}/1": [first(1)],
            f"{REF}/2": [
                first(2, commit=["shared.txt"], write={"shared.txt": "two\n"}),
                {"do": "rebase", "resolve": both, "evidence": evidence(2)},
            ],
            f"{REF}/3": [{"do": "done", "evidence": evidence(3)}],
            f"{REF}/4": [
                first(4, commit=["shared.txt"], write={"shared.txt": "four\n"}),
                {"do": "rebase", "resolve": both, "evidence": evidence(4)},
            ],
        }
    }
    path = sandbox.root / "script.json"
    path.write_text(json.dumps(script))
    command = [sys.executable, "-m", "middle.agents.standin", "--script", str(path)]
    os.environ["MIDDLE_AGENT_COMMAND"] = shlex.join([*command, "--log", str(sandbox.log)])
    return marks


def implement(sandbox: Sandbox) -> list[str]:
    return [sys.executable, "-m", "middle", "implement", "--issue", REF, "--agent", "command",
            "--parallel", "3"]  # fmt: skip


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def events(sandbox: Sandbox, type: str) -> list[dict[str, Any]]:
    rows = sandbox.db()["events"].rows_where("type = ?", [type], order_by="id")
    return [{**json.loads(r["payload_json"]), "ts": r["ts"], "run": r["workflow_id"]} for r in rows]


def all_events(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(sandbox.db()["events"].rows)


def check_the_end(sandbox: Sandbox) -> None:
    """What both tests reach: every claim of the issue's first done-when bullet."""
    log = sandbox.agent_log()
    turns = [e for e in log if e["event"] == "turn"]
    stops = [e for e in log if e["event"] == "stop"]
    # each sub-issue's first turn ran once: no child was started twice
    firsts = sorted(e["epic"] for e in turns if e["turn"] == 1)
    assert firsts == [f"{REF}/{n}" for n in (1, 2, 3, 4)]

    # each agent was briefed on its own sub-issue only
    brief = next(e["brief"] for e in turns if e["epic"] == f"{REF}/1" and e["turn"] == 1)
    assert "# Sub-issue 1 — Part one" in brief and "MIDDLE_EPIC=fan/1" in brief
    assert not any(f"Part {other}" in brief for other in ("two", "three", "four"))

    # #1, #2 and #4 ran at the same time: each started before any of them stopped
    def first_turn(n: int, kind: list[dict[str, Any]]) -> float:
        return float(next(e["ts"] for e in kind if e["epic"] == f"{REF}/{n}" and e["turn"] == 1))

    starts = [first_turn(n, turns) for n in (1, 2, 4)]
    ends = [first_turn(n, stops) for n in (1, 2, 4)]
    assert max(starts) < min(ends)

    # #3 started only after #1 merged, from an integration head that holds #1
    merged = events(sandbox, "epic.merged")
    merged_at = {m["sub"]: epoch(m["ts"]) for m in merged}
    assert first_turn(3, turns) > merged_at["1"]
    one = next(m["head"] for m in merged if m["sub"] == "1")
    git(sandbox.repo, "merge-base", "--is-ancestor", one, f"{INTEGRATION}-3")

    # the conflict went to the later of #2 and #4, once, and its agent resolved it
    (conflict,) = events(sandbox, "epic.conflict")
    order = [m["sub"] for m in merged]
    later = "2" if order.index("2") > order.index("4") else "4"
    assert conflict["sub"] == later and conflict["files"] == ["shared.txt"]
    (second,) = [e for e in turns if e["turn"] == 2]
    assert second["epic"] == f"{REF}/{later}"
    for said in ("conflict", "rebase", "shared.txt", INTEGRATION, conflict["head"]):
        assert said in second["brief"]

    # the integration head holds all four, and the gates passed there
    head = git(sandbox.repo, "rev-parse", INTEGRATION)
    for m in merged:
        git(sandbox.repo, "merge-base", "--is-ancestor", m["head"], head)
    tree = git(sandbox.repo, "ls-tree", "--name-only", head).split()
    assert {f"STANDIN_WORK-{n}.md" for n in (1, 2, 3, 4)} <= set(tree)
    assert git(sandbox.repo, "show", f"{head}:shared.txt") == "two\nfour"
    parent = next(r for r in sandbox.db()["workflows"].rows if r["parent_id"] is None)
    ran = [e for e in events(sandbox, "gates.ran") if e["run"] == parent["id"]]
    assert ran[-1]["head"] == head
    assert [r["result"] for r in ran[-1]["results"]] == ["passed"]

    # one ready branch, four children, each completed
    rows = list(sandbox.db()["workflows"].rows)
    children = [r for r in rows if r["parent_id"] == parent["id"]]
    assert len(rows) == 5 and len(children) == 4
    assert {r["epic_ref"] for r in children} == {f"{REF}/{n}" for n in (1, 2, 3, 4)}
    assert all(r["state"] == "completed" for r in children)
    assert parent["state"] == "waiting-human" and parent["pr_branch"] == INTEGRATION

    # the Epic's sub-issues ticked, and its Status ticks each with its evidence
    text = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    status = text[text.index("## Status") :]
    for n, title in ((1, "one"), (2, "two"), (3, "three"), (4, "four")):
        assert f"- [x] **{n} — Part {title}**\n" in text
        line = next(x for x in status.splitlines() if x.startswith(f"- [x] **{n} — "))
        kept = Path(line.rpartition("evidence: ")[2])
        assert json.loads(kept.read_text())["sub"] == str(n)


def test_an_epic_fans_out_to_three_agents_and_merges_on_one_branch(sandbox: Sandbox) -> None:
    set_up(sandbox)

    done = subprocess.run(implement(sandbox), cwd=sandbox.repo, capture_output=True, text=True)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"branch {INTEGRATION} is ready for review" in done.stdout
    check_the_end(sandbox)

    approved = sandbox.middle("review", "--issue", REF, "--approve")

    assert approved.returncode == 0, approved.stdout + approved.stderr
    states = {r["epic_ref"]: r["state"] for r in sandbox.db()["workflows"].rows}
    assert set(states.values()) == {"completed"}
    assert not list((sandbox.home / "worktrees").glob("*/epic-*"))  # every worktree went
    assert git(sandbox.repo, "rev-parse", INTEGRATION)  # the branches stay


def test_a_fan_out_killed_mid_way_resumes_the_whole_tree(sandbox: Sandbox) -> None:
    hold = sandbox.root / "go"
    marks = set_up(sandbox, hold=hold)
    middle = subprocess.Popen(implement(sandbox), cwd=sandbox.repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: all((marks / n).exists() for n in ("1", "2", "4")), timeout=300)
    middle.send_signal(signal.SIGKILL)  # three agents mid-turn, their runs mid-step
    middle.wait()
    hold.touch()

    done = subprocess.run(
        [sys.executable, "-m", "middle", "resume", "--issue", REF],
        cwd=sandbox.repo, capture_output=True, text=True,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    # the three agents the kill left working were adopted, not launched again: one launch
    # a sub-issue, and one more for the conflict's turn
    launches = sorted(e["epic"] for e in sandbox.agent_log("launch"))
    (conflict,) = events(sandbox, "epic.conflict")
    assert launches == sorted([*(f"{REF}/{n}" for n in (1, 2, 3, 4)), f"{REF}/{conflict['sub']}"])
    assert any(e["type"] == "agent.adopted" for e in all_events(sandbox))
    check_the_end(sandbox)


def two_parts(sandbox: Sandbox, by_epic: dict[str, list[dict[str, Any]]]) -> None:
    """The Epic with parts one and two only, no evidence needed, and the agents' script."""
    epic = fan_epic().replace(
        sub_issue(3, "Part three", "Builds on part one.\nblocked-by: [1]"), ""
    )
    epic = epic.replace(sub_issue(4, "Part four", "The fourth part."), "")
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(epic)
    (sandbox.repo / ".middle" / "policy.toml").write_text('[verify]\nevidence = "off"\n')
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "a two-part Epic")
    path = sandbox.root / "script.json"
    path.write_text(json.dumps({"by_epic": by_epic}))
    command = [sys.executable, "-m", "middle.agents.standin", "--script", str(path)]
    os.environ["MIDDLE_AGENT_COMMAND"] = shlex.join([*command, "--log", str(sandbox.log)])


def a_question_from_part_one(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    """A two-part Epic whose #1 asks a question; its fan-out run to where it parks."""
    two_parts(sandbox, {f"{REF}/1": [{"do": "ask", "question": "Which backoff?"}]})
    return subprocess.run(implement(sandbox), cwd=sandbox.repo, capture_output=True, text=True)


def test_a_childs_question_parks_only_that_child_and_its_answer_finishes_the_epic(
    sandbox: Sandbox,
) -> None:
    first = a_question_from_part_one(sandbox)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "sub-issue(s) 1 wait for a human" in first.stdout
    assert [m["sub"] for m in events(sandbox, "epic.merged")] == ["2"]  # #2 went on
    (asked,) = [e for e in events(sandbox, "workflow.waiting") if e["reason"] == "asked-question"]
    assert f"middle answer --issue {REF}/1 " in asked["message"]
    states = {r["epic_ref"]: r["state"] for r in sandbox.db()["workflows"].rows}
    assert states == {REF: "waiting-human", f"{REF}/1": "waiting-human", f"{REF}/2": "completed"}
    shown = sandbox.middle("status").stdout
    assert f"└ {REF}/1" in shown and f"└ {REF}/2" in shown
    assert shown.index(f"└ {REF}/1") > shown.index(f" {REF} ")  # under its Epic

    answered = sandbox.middle("answer", "--issue", f"{REF}/1", "--text", "Exponential.")

    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert f"branch {INTEGRATION} is ready for review" in answered.stdout
    second = [e for e in sandbox.agent_log("turn") if e["epic"] == f"{REF}/1"][1]
    assert "Exponential." in second["brief"]
    assert sorted(m["sub"] for m in events(sandbox, "epic.merged")) == ["1", "2"]


def test_a_childs_worktree_has_the_skills_its_brief_points_to(sandbox: Sandbox) -> None:
    """A child's brief says middle's skills (`.claude/skills/`, `.agents/skills/`) say the
    rest, so its worktree has them, out of git status, as any run's has. Seen red: a
    child's worktree had none (prepare-child did not stamp them)."""
    from middle.system.skills import skill_files

    assert a_question_from_part_one(sandbox).returncode == 0
    child = next(r for r in sandbox.db()["workflows"].rows if r["epic_ref"] == f"{REF}/1")
    worktree = Path(child["worktree_path"])
    for path, text in skill_files("file").items():
        assert (worktree / path).read_text() == text, path
    assert git(worktree, "status", "--porcelain", "--untracked-files=all") == ""


def test_github_mode_orders_by_dependencies_and_opens_one_pull_request(
    sandbox: Sandbox, monkeypatch: Any
) -> None:
    """GitHub mode with the `gh` fake: #111 depends on #109 (GitHub's issue dependencies),
    so with room for three only two start, and the Epic ends in one pull request of the
    integration branch, pushed to the bare "GitHub", whose Status ticks each sub-issue."""
    from tests.conftest import REPO_ROOT

    bin_dir = sandbox.root / "bin"
    bin_dir.mkdir()
    fake_gh = REPO_ROOT / "tests" / "fakes" / "gh_fake.py"
    (bin_dir / "gh").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake_gh}" "$@"\n')
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    remote = sandbox.root / "github.git"
    state_file = sandbox.root / "github.json"
    monkeypatch.setenv("FAKE_GH_STATE", str(state_file))
    state_file.write_text(json.dumps({
        "login": "middle-bot", "repo": "acme/webhooks", "git_remote": str(remote), "prs": [],
        "issues": {
            "108": {"title": "Retry failed webhooks", "body": "- [ ] It retries\n",
                    "labels": ["approved"], "sub_issues": [109, 110, 111]},
            "109": {"title": "Retry queue", "body": "Persist them.", "parent": 108},
            "110": {"title": "Backoff", "body": "Exponential.", "parent": 108},
            "111": {"title": "Metrics", "body": "Count them.", "parent": 108,
                    "blocked_by": [109]},
        },
    }))  # fmt: skip
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        '[epic_store]\nmode = "github"\n\n[adapters.command]\nenv_pass = ["FAKE_GH_STATE"]\n'
    )
    git(sandbox.repo, "commit", "-q", "-am", "github mode")
    subprocess.run(["git", "clone", "-q", "--bare", str(sandbox.repo), str(remote)], check=True)
    url = "https://github.com/acme/webhooks.git"
    git(sandbox.repo, "remote", "add", "origin", url)
    git(sandbox.repo, "config", f"url.{remote}.pushInsteadOf", url)
    sandbox.script({"do": "done"})

    done = subprocess.run(
        [sys.executable, "-m", "middle", "implement", "--issue", "108", "--agent", "command",
         "--parallel", "3"], cwd=sandbox.repo, capture_output=True, text=True,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "pull request #200 is ready for review" in done.stdout
    github = json.loads(state_file.read_text())
    (pr,) = github["prs"]
    assert pr["head"] == "middle/epic-108"
    for number, title in (("109", "Retry queue"), ("110", "Backoff"), ("111", "Metrics")):
        assert f"- [x] **{number} — {title}**: merged at " in pr["body"]
        assert f"Closes #{number}" in pr["body"]
    pushed = subprocess.run(["git", "--git-dir", str(remote), "rev-parse", "middle/epic-108"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert pushed == git(sandbox.repo, "rev-parse", "middle/epic-108")
    merged = {m["sub"]: epoch(m["ts"]) for m in events(sandbox, "epic.merged")}
    turns = {e["epic"]: e["ts"] for e in sandbox.agent_log("turn")}
    assert set(merged) == {"109", "110", "111"}
    assert turns["108/111"] > merged["109"]  # the dependency held


def test_cancelling_a_fanned_out_epic_ends_every_child_and_leaves_no_agent(
    sandbox: Sandbox,
) -> None:
    """`middle cancel --issue <ref>` on a fan-out in flight: the parent and each child
    end cancelled, and no agent session is left behind. Seen red (twice): without the
    cancel reaching the children, the foreground process let go of them mid-step and
    children stayed `running`."""
    marks = set_up(sandbox, hold=sandbox.root / "never")
    middle = subprocess.Popen(implement(sandbox), cwd=sandbox.repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: all((marks / n).exists() for n in ("1", "2", "4")), timeout=300)

    cancelled = sandbox.middle("cancel", "--issue", REF)
    middle.wait()

    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    states = {r["epic_ref"]: r["state"] for r in sandbox.db()["workflows"].rows}
    assert states == {REF: "cancelled", **{f"{REF}/{n}": "cancelled" for n in (1, 2, 4)}}
    assert sandbox.sessions() == []


def answer_part_one_in_the_epic_file_then_poll(sandbox: Sandbox, ref: str, answer: str) -> None:
    """Write `answer` under part 1's question in Epic `ref`'s file and run `middle poll`:
    the answer reaches part 1's next turn, and both parts merge."""
    from middle.issues.epic_blocks import ANSWER_PLACEHOLDER

    epic = sandbox.repo / "planning" / "epics" / f"{ref}.md"
    epic.write_text(epic.read_text().replace(ANSWER_PLACEHOLDER, f"{ANSWER_PLACEHOLDER}\n{answer}"))

    polled = sandbox.middle("poll")

    assert f"issue {ref}/1: answer" in polled.stdout, polled.stdout + polled.stderr
    second = [e for e in sandbox.agent_log("turn") if e["epic"] == f"{ref}/1"][1]
    assert answer in second["brief"]
    assert sorted(m["sub"] for m in events(sandbox, "epic.merged")) == ["1", "2"]


def test_an_answer_written_in_the_epic_file_reaches_the_child_through_poll(
    sandbox: Sandbox,
) -> None:
    """Seen red: poll read the child's question from an Epic named `fan/1` (no such
    file), so the written answer never reached it."""
    assert a_question_from_part_one(sandbox).returncode == 0
    answer_part_one_in_the_epic_file_then_poll(sandbox, REF, "Linear.")
    parent = next(r for r in sandbox.db()["workflows"].rows if r["parent_id"] is None)
    assert parent["state"] == "waiting-human"
    assert "ready for review" in sandbox.middle("status").stdout


def test_a_sequential_epic_runs_its_sub_issues_in_order_whatever_the_parallelism(
    sandbox: Sandbox,
) -> None:
    """`sequential: true` in the Epic's meta: each sub-issue waits on the one before it,
    and `parallel: 3` there (no flag) fans it out."""
    epic = fan_epic().replace("approved: true\n", "approved: true\nsequential: true\nparallel: 3\n")
    epic = epic.replace(sub_issue(3, "Part three", "Builds on part one.\nblocked-by: [1]"), "")
    epic = epic.replace(sub_issue(4, "Part four", "The fourth part."), "")
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(epic)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "a sequential Epic")
    sandbox.script({"do": "done"})

    done = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert done.returncode == 0, done.stdout + done.stderr
    merged = {m["sub"]: epoch(m["ts"]) for m in events(sandbox, "epic.merged")}
    started = {e["epic"]: e["ts"] for e in sandbox.agent_log("turn")}
    assert started[f"{REF}/2"] > merged["1"]
    assert len([r for r in sandbox.db()["workflows"].rows if r["parent_id"]]) == 2
