"""One task across repos with the real Claude Code (issue 23 item 2): an Epic in the
consumer's repo whose sub-issue 1 is in a library beside it, `middle implement` with
the pinned CLI against the scripted model server on 127.0.0.1, then a review round of
the consumer alone.

The model plays the same turn in every conversation, in shell commands, so what differs
between them is what middle gave each agent: it reads its brief (`cat`, so the brief
comes back to the server as a tool result), commits a file named after its sub-issue,
and writes `done.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Sandbox, git, sandbox
from tests.e2e.test_fanout_repos import INTEGRATION, LIBRARY_AT_ITS_HEAD, REF, cross_epic
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import GIT_AS_AGENT, write_json
from tests.real_agents.harness import claude_env
from tests.real_agents.test_fanout_claude import commit_for_claude

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

SUB = "${MIDDLE_EPIC#*/}"  # the sub-issue's id, in the agent's own shell
THE_TURN = {
    "run": [
        "cat .middle/prompt.md",
        f'echo "part {SUB}" > api.txt && {GIT_AS_AGENT} add api.txt '
        f'&& {GIT_AS_AGENT} commit -qm "sub-issue {SUB}"',
        write_json(".middle/done.json", {"summary": "my part"}),
    ],
    "say": "Done.",
}


def briefs(server: ModelServer) -> list[str]:
    """Each conversation's brief, as the agent's `cat` sent it back, in order."""
    return [out for out in server.tool_outputs() if out.lstrip().startswith("#")]


def test_a_library_and_its_consumer_with_real_claude_agents(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    lib = sandbox.root / "lib"
    lib.mkdir()
    (lib / "README.md").write_text("the library\n")
    git(lib, "init", "-q", "-b", "main")
    git(lib, "add", "-A")
    git(lib, "commit", "-q", "-m", "the library")
    (sandbox.repo / "planning" / "epics" / f"{REF}.md").write_text(cross_epic())
    (sandbox.repo / ".middle" / "verify.toml").write_text(
        f"[[gate]]\nname = \"library-at-its-head\"\ncommand = '{LIBRARY_AT_ITS_HEAD}'\n"
    )
    commit_for_claude(sandbox, "an Epic across two repos, for Claude")

    with ModelServer([THE_TURN]) as server:
        env = claude_env(tmp_path, server.url, sandbox.repo, agent_bin)
        state = tmp_path / "claude-home" / ".claude.json"
        trusted = json.loads(state.read_text())  # the library's worktrees are trusted too
        trusted["projects"][str(lib.resolve())] = {"hasTrustDialogAccepted": True}
        state.write_text(json.dumps(trusted))
        done = sandbox.middle("implement", "--issue", REF, env=env)
        lib_head = git(lib, "rev-parse", INTEGRATION)
        first = briefs(server)
        asked = sandbox.middle(
            "review", "--issue", f"{REF}/2", "--request-changes", "Say it twice.", env=env
        )
        after = briefs(server)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"repo lib: branch {INTEGRATION} in {lib}" in done.stdout
    # the library's agent first, then the consumer's, told where the library's work is
    assert len(first) == 2, first
    assert "# Sub-issue 1 — Library API" in first[0]
    assert "# Sub-issue 2 — Use the API" in first[1]
    for said in (str(lib), INTEGRATION, lib_head, f"pinned to {lib_head}"):
        assert said in first[1], said
    assert git(lib, "show", f"{INTEGRATION}:api.txt") == "part 1"
    assert git(sandbox.repo, "show", f"{INTEGRATION}:api.txt") == "part 2"
    ran = [e for e in sandbox.events("gates.ran") if e.get("repo") == "repo"]
    assert ran and all(r["result"] == "passed" for e in ran for r in e["results"])
    assert f"repo lib: {lib}, branch `{INTEGRATION}`" in git(
        sandbox.repo, "config", f"branch.{INTEGRATION}.description"
    )

    # the review round: one more conversation, the consumer's, with the feedback
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "linked, ready for review" in asked.stdout
    assert len(after) == 3 and "Say it twice." in after[2] and "Sub-issue 2" in after[2]
    assert git(lib, "rev-parse", INTEGRATION) == lib_head  # the library did not move
    assert sandbox.sessions() == []
