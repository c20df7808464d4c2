"""The real Claude Code, driven by `middle implement` in GitHub mode (the fake `gh` of
tests/e2e/test_github.py on PATH), with the scripted model: the model marks its PR ready
before its evidence is on the branch. middle's blocking `PreToolUse` hook refuses the
call, and the refusal is the tool result the model's next request carries; once the named
file is committed, `gh pr ready` goes through and the done is accepted (issue 19)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Sandbox, git, sandbox
from tests.e2e.test_evidence_github import commit_gates
from tests.e2e.test_github import EPIC, FakeGitHub, github
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import GIT_AS_AGENT, write_json
from tests.real_agents.harness import claude_env

__all__ = ["github", "sandbox"]  # fixtures, used by name

BODY = "## Acceptance criteria\n- [x] Failed deliveries retry with backoff: `RETRY.md`\n"
READY = "gh pr ready 200 --repo acme/webhooks"


def test_the_hook_blocks_gh_pr_ready_until_the_evidence_is_committed(
    sandbox: Sandbox, github: FakeGitHub, agent_bin: Path, tmp_path: Path
) -> None:
    """Seen red without the hook (its Bash entry taken out of `prepare`): the first
    `gh pr ready` marked the PR ready and no tool result held the reason."""
    commit_gates(sandbox)
    turn = {
        "run": [
            f"gh pr create --draft --head middle/issue-{EPIC} --title Retry --body-file - "
            f"<<'EOF'\n{BODY}EOF",
            READY,
            f"echo retry > RETRY.md && {GIT_AS_AGENT} add RETRY.md && "
            f"{GIT_AS_AGENT} commit -qm retry",
            READY,
            write_json(".middle/done.json", {"summary": "retry"}),
        ],
        "say": "Done.",
    }
    with ModelServer([turn]) as server:
        env = claude_env(tmp_path, server.url, sandbox.repo, agent_bin)
        policy = sandbox.repo / ".middle" / "policy.toml"
        policy.write_text(
            policy.read_text()
            + '\n[repo]\ndefault_adapter = "claude"\n'
            + '\n[adapters.claude]\npermission_mode = "bypassPermissions"\n'
            + 'env_pass = ["FAKE_GH_STATE"]\n'
        )
        git(sandbox.repo, "commit", "-qam", "policy")

        result = sandbox.middle("implement", "--issue", EPIC, env=env)

        outputs = server.tool_outputs()
    assert result.returncode == 0, result.stdout + result.stderr
    blocked = [o for o in outputs if "Not done yet: the acceptance criteria need evidence" in o]
    assert len(blocked) == 1, outputs
    assert "RETRY.md: no file RETRY.md in the head commit" in blocked[0]
    assert "ready for review" in result.stdout, result.stdout
    assert github.pr()["isDraft"] is False
    assert "undone" not in github.read()  # never marked ready without evidence
