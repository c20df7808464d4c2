"""`middle recommend` end to end with the stand-in agent as the recommender: the state
issue is written (file mode: `.middle/state.md`), re-ranked when an Epic closes, and a
plan that is not v1 is sent back with its errors, a bounded number of times."""

from __future__ import annotations

from pathlib import Path

from middle.app.demo import sample_epic
from middle.issues.state_location import STATE_LABEL
from middle.state_issue import parse
from tests.e2e.conftest import REF, Sandbox, git
from tests.e2e.test_github import EPIC, FakeGitHub, github  # noqa: F401  (the fixture)


def add_epic(
    repo: Path, slug: str, *, subs: int = 1, closed: bool = False, blocked_by: str = ""
) -> None:
    text = (
        sample_epic()
        .replace(f"slug: {REF}", f"slug: {slug}")
        .replace("# Retry failed webhooks", f"# Epic {slug}")
    )
    extra = ("closed: true\n" if closed else "") + (
        f"blocked-by: [{blocked_by}]\n" if blocked_by else ""
    )
    text = text.replace("approved: true\n", "approved: true\n" + extra)
    for n in range(2, subs + 1):
        text = text.replace(
            "<!-- middle:conversation -->",
            f"<!-- middle:sub-issue id={n} -->\n- [ ] **{n} — Part {n}**\n"
            "<!-- /middle:sub-issue -->\n\n<!-- middle:conversation -->",
        )
    (repo / "planning" / "epics" / f"{slug}.md").write_text(text)


def state(sandbox: Sandbox) -> str:
    return (sandbox.repo / ".middle" / "state.md").read_text()


def test_file_mode_writes_the_state_file_and_re_ranks_after_an_epic_closes(
    sandbox: Sandbox,
) -> None:
    add_epic(sandbox.repo, "queue", subs=3)
    add_epic(sandbox.repo, "auth", blocked_by="queue")
    add_epic(sandbox.repo, "shipped", closed=True)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "epics")
    sandbox.script({"do": "done"}, {"do": "done"})

    first = sandbox.middle("recommend", "--agent", "command")
    assert first.returncode == 0, first.stderr
    plan = parse(state(sandbox))
    # queue unblocks auth, so it ranks above the smaller sample Epic
    assert [(r.rank, r.ref) for r in plan.ready] == [(1, "queue"), (2, REF)]
    assert [(b.ref, b.blocker.text()) for b in plan.blocked] == [("auth", "#queue (Epic queue)")]
    assert "queue" in first.stdout
    assert "Recommend what to work on next" in sandbox.agent_log("turn")[0]["brief"]
    assert sandbox.db()["workflows"].count == 1
    assert not list((sandbox.home / "worktrees").glob("*/recommender-*"))

    queue = sandbox.repo / "planning" / "epics" / "queue.md"
    queue.write_text(
        queue.read_text().replace("approved: true\n", "approved: true\nclosed: true\n")
    )
    second = sandbox.middle("recommend", "--agent", "command")
    assert second.returncode == 0, second.stderr
    plan = parse(state(sandbox))
    assert [r.ref for r in plan.ready] == ["auth", REF]  # a tie: by ref
    assert plan.blocked == ()


def test_a_plan_that_is_not_v1_is_sent_back_with_its_errors_then_refused(sandbox: Sandbox) -> None:
    """The stand-in's `touch` overwrites the plan with `turn N`, which is not v1."""
    (sandbox.repo / ".middle" / "state.md").write_text("kept\n")
    sandbox.script(*[{"do": "done", "touch": [".middle/plan.md"]}] * 3)

    result = sandbox.middle("recommend", "--agent", "command")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "not valid v1 after 3 attempt(s)" in line and "AGENT-QUEUE-STATE" in line
    briefs = [turn["brief"] for turn in sandbox.agent_log("turn")]
    assert len(briefs) == 3
    assert "Your last plan was refused" not in briefs[0]
    assert "Your last plan was refused" in briefs[1] and "AGENT-QUEUE-STATE" in briefs[1]
    assert state(sandbox) == "kept\n"  # never overwritten


def test_a_state_file_that_is_not_v1_is_never_overwritten(sandbox: Sandbox) -> None:
    (sandbox.repo / ".middle" / "state.md").write_text(
        "<!-- AGENT-QUEUE-STATE v1 -->\nhand edits\n<!-- /AGENT-QUEUE-STATE -->\n"
    )
    sandbox.script({"do": "done"})
    result = sandbox.middle("recommend", "--agent", "command")
    assert result.returncode == 1
    assert "is not a v1 state issue, so middle will not overwrite it" in result.stderr
    assert "line 2" in result.stderr
    assert "hand edits" in state(sandbox)


def test_github_mode_creates_the_state_issue_once_and_edits_it(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    state = github.read()
    state["issues"]["120"] = {"title": "Rate limiter", "body": "- [ ] limits", "labels": ["epic"]}
    state["issues"][EPIC]["blocked_by"] = [120]
    github.write(state)
    sandbox.script({"do": "done"}, {"do": "done"})

    for _ in range(2):  # init is idempotent: one state issue
        assert sandbox.middle("init").returncode == 0
    labelled = [n for n, i in github.read()["issues"].items() if STATE_LABEL in i.get("labels", [])]
    assert len(labelled) == 1
    (number,) = labelled
    assert parse(github.read()["issues"][number]["body"]).ready == ()

    for _ in range(2):
        result = sandbox.middle("recommend", "--agent", "command")
        assert result.returncode == 0, result.stderr
    issues = github.read()["issues"]
    assert [n for n, i in issues.items() if STATE_LABEL in i.get("labels", [])] == [number]
    plan = parse(issues[number]["body"])
    assert [r.ref for r in plan.ready] == ["120"]  # 108 waits on it; 109/110 are sub-issues
    assert [b.blocker.text() for b in plan.blocked] == ["#120 (Rate limiter)"]
    assert [r.name for r in plan.rate_limits][-1] == "github"
    edits = [c for c in github.read()["calls"] if c[:2] == ["issue", "edit"]]
    assert len(edits) == 2 and all(c[2] == number for c in edits)


def test_a_refused_plan_then_a_fixed_one_is_the_agents_ranking_that_gets_written(
    sandbox: Sandbox,
) -> None:
    """The agent's own ranking wins once it is valid v1, after a refused first try. Seen
    red before the stand-in could write a file: every plan was middle's own draft."""
    add_epic(sandbox.repo, "queue", subs=3)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "epics")
    sandbox.script({"do": "done"})
    assert sandbox.middle("recommend", "--agent", "command").returncode == 0
    draft = state(sandbox)
    drafted = [r.ref for r in parse(draft).ready]
    assert sorted(drafted) == sorted(["queue", REF])
    lines = draft.splitlines(keepends=True)
    one, two = (
        next(i for i, line in enumerate(lines) if line.startswith(f"| {n} |")) for n in (1, 2)
    )
    head_one, _, tail_one = lines[one].partition(" | #")
    head_two, _, tail_two = lines[two].partition(" | #")
    lines[one], lines[two] = f"{head_one} | #{tail_two}", f"{head_two} | #{tail_one}"
    mine = "".join(lines)

    sandbox.log.unlink()
    sandbox.script(
        {"do": "done", "touch": [".middle/plan.md"]},
        {"do": "done", "write": {".middle/plan.md": mine}},
    )
    result = sandbox.middle("recommend", "--agent", "command")
    assert result.returncode == 0, result.stderr
    assert len(sandbox.agent_log("turn")) == 2
    assert [r.ref for r in parse(state(sandbox)).ready] == drafted[::-1]
