"""An Epic fanned out to two real Claude Code agents (issue 23): `middle implement --issue
fan --parallel 2` with the pinned CLI against the scripted model server on 127.0.0.1.

The model plays the same turn in both conversations, in shell commands, so what differs
between them is what middle gave each agent: the model reads its brief (`cat`, so the
brief comes back to the server as a tool result), echoes `$MIDDLE_EPIC`, waits until both
agents have started (a mark file each, in a folder outside the worktrees), then commits a
file named after its own sub-issue and writes `done.json`. Overlap is proven by when the
server saw each conversation's requests, never by sleeping in the test.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.e2e.conftest import Sandbox, git, sandbox
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import GIT_AS_AGENT, write_json
from tests.real_agents.harness import claude_env

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

REF = "fan"
INTEGRATION = f"middle/epic-{REF}"
TITLES = {"1": "Parse the feed", "2": "Render the page"}
GATES = """\
[[gate]]
name = "no-conflict-markers"
command = "! grep -rqs '^<<<<<<<' --exclude-dir=.git ."
"""
SUB = "${MIDDLE_EPIC#*/}"  # the sub-issue's id, in the agent's own shell


def epic() -> str:
    subs = "".join(
        f"<!-- middle:sub-issue id={n} -->\n- [ ] **{n} — {title}**\n  Part {n} of the work.\n"
        "<!-- /middle:sub-issue -->\n"
        for n, title in TITLES.items()
    )
    return (
        "<!-- middle:epic v1 -->\n# Feed page\n\n<!-- middle:meta\nslug: fan\napproved: true\n"
        "-->\n\n## Context\n\nTwo parts, both at once.\n\n## Acceptance criteria\n"
        f"- [ ] Both parts are in\n\n## Sub-issues\n{subs}\n"
        "<!-- middle:conversation -->\n<!-- /middle:conversation -->\n"
    )


def the_turn(marks: Path) -> dict[str, object]:
    """Read the brief, show the environment, wait for the other agent, commit, done."""
    folder = shlex.quote(str(marks))
    barrier = (
        f'touch {folder}/"{SUB}"; for i in $(seq 1200); do '
        f'[ "$(ls {folder} | wc -l)" -ge 2 ] && break; sleep 0.1; done; '
        f"echo started: $(ls {folder} | sort | tr '\\n' ' ')"
    )
    work = f'"WORK-{SUB}.md"'
    commit = (
        f"echo done >> {work} && {GIT_AS_AGENT} add {work} "
        f'&& {GIT_AS_AGENT} commit -qm "sub-issue {SUB}"'
    )
    return {
        "run": [
            "cat .middle/prompt.md",
            'echo "agent-env: MIDDLE_EPIC=$MIDDLE_EPIC"',
            barrier,
            commit,
            write_json(".middle/done.json", {"summary": "my part"}),
        ],
        "say": "Done.",
    }


def commit_for_claude(sandbox: Sandbox, message: str) -> None:
    """The repo's policy runs Claude Code and asks nothing (`bypassPermissions`; no
    evidence, which these runs do not script), and the set-up so far is committed."""
    policy = sandbox.repo / ".middle" / "policy.toml"
    policy.write_text(
        policy.read_text()
        + '\n[verify]\nevidence = "off"\n'
        + '\n[repo]\ndefault_adapter = "claude"\n'
        + '\n[adapters.claude]\npermission_mode = "bypassPermissions"\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-qm", message)


def test_an_epic_fans_out_to_two_real_claude_agents(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(epic())
    (sandbox.repo / ".middle" / "verify.toml").write_text(GATES)
    commit_for_claude(sandbox, "a two-part Epic for Claude")
    marks = tmp_path / "marks"
    marks.mkdir()

    with ModelServer([the_turn(marks)]) as server:
        env = claude_env(tmp_path, server.url, sandbox.repo, agent_bin)
        done = sandbox.middle("implement", "--issue", REF, "--parallel", "2", env=env)
        timelines = server.timelines()

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"branch {INTEGRATION} is ready for review" in done.stdout

    # two conversations, one per child, each briefed on its own sub-issue only
    assert len(timelines) == 2, [[text[:60] for _, text, _ in t] for t in timelines]
    by_sub: dict[str, list[tuple[str, str, float]]] = {}
    for timeline in timelines:
        tools = [text for kind, text, _ in timeline if kind == "tool"]
        brief, env_line = tools[0], tools[1]
        (sub,) = [n for n, title in TITLES.items() if f"# Sub-issue {n} — {title}" in brief]
        other = "2" if sub == "1" else "1"
        assert TITLES[other] not in brief and f"Sub-issue {other}" not in brief
        assert f"MIDDLE_EPIC={REF}/{sub}" in brief
        assert env_line.strip() == f"agent-env: MIDDLE_EPIC={REF}/{sub}"  # its environment
        by_sub[sub] = timeline
    assert sorted(by_sub) == ["1", "2"]

    # their turns overlapped: each conversation began before the other's last request
    first = {sub: timeline[0][2] for sub, timeline in by_sub.items()}
    last = {sub: timeline[-1][2] for sub, timeline in by_sub.items()}
    assert first["1"] < last["2"] and first["2"] < last["1"]
    for timeline in by_sub.values():
        waited = [text for kind, text, _ in timeline if kind == "tool" and "started:" in text]
        assert waited and waited[0].split() == ["started:", "1", "2"]

    # each child's commit merged into the integration branch, whose gates ran there
    head = git(sandbox.repo, "rev-parse", INTEGRATION)
    tree = git(sandbox.repo, "ls-tree", "--name-only", head).split()
    assert {"WORK-1.md", "WORK-2.md"} <= set(tree)
    merged = sorted(e["sub"] for e in sandbox.events("epic.merged"))
    assert merged == ["1", "2"]
    for sub in TITLES:
        child_head = git(sandbox.repo, "rev-parse", f"{INTEGRATION}-{sub}")
        git(sandbox.repo, "merge-base", "--is-ancestor", child_head, head)
        assert git(sandbox.repo, "log", "-1", "--format=%s", child_head) == f"sub-issue {sub}"
    rows = list(sandbox.db()["workflows"].rows)
    parent = next(r for r in rows if r["parent_id"] is None)
    ran = [e for e in sandbox.events("gates.ran") if e["head"] == head]
    assert ran and [r["result"] for r in ran[-1]["results"]] == ["passed"]

    # the sub-issue lines ticked; one ready branch; the parent parked "done"
    text = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    for n, title in TITLES.items():
        assert f"- [x] **{n} — {title}**\n" in text
    children = [r for r in rows if r["parent_id"] == parent["id"]]
    assert sorted(r["epic_ref"] for r in children) == [f"{REF}/1", f"{REF}/2"]
    assert all(r["state"] == "completed" for r in children)
    assert parent["state"] == "waiting-human" and parent["pr_branch"] == INTEGRATION
    waiting = sandbox.events("workflow.waiting")
    assert waiting[-1]["reason"] == "done"
    assert sandbox.sessions() == []  # both agents' sessions ended
