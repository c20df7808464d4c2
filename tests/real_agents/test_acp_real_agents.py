"""middle driving real ACP agents through the `acp` adapter, end to end, through `middle`.

Each scenario runs for three real agents that speak the Agent Client Protocol, pinned in
`.ci/install-agent-clis`: `codex-acp` (Codex's engine, against the scripted server's
Responses dialect), `claude-code-acp` (Claude Code's, against its Anthropic dialect) and
`gemini --acp` (against its Gemini dialect).
Each gets fresh homes under the test's tmp_path holding only what a user sets up before
using middle; middle runs the agent under its ACP supervisor in tmux. Nothing leaves the
machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from middle.agents.acp import AcpAdapter
from tests.e2e.conftest import REF, Sandbox, git, sandbox
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import ACP_BRIDGES, AGENTS, acp_policy, done
from tests.real_agents.harness import pinned_versions
from tests.real_agents.harness_opencode import KEY_VARIABLE, opencode_env

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

PINS = {
    "codex-acp": "CODEX_ACP_VERSION",
    "claude-code-acp": "CLAUDE_CODE_ACP_VERSION",
    "gemini-acp": "GEMINI_CLI_VERSION",
}


@pytest.fixture(params=list(PINS))
def agent(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class AcpRun:
    def __init__(self, sandbox: Sandbox, server: ModelServer, env: dict[str, str]) -> None:
        self.sandbox, self.server, self.env = sandbox, server, env

    def middle(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.sandbox.middle(*args, env=self.env)

    def implement(self) -> subprocess.CompletedProcess[str]:
        return self.middle("implement", "--issue", REF)


def setup_run(
    sandbox: Sandbox,
    agent: str,
    server: ModelServer,
    agent_bin: Path,
    tmp: Path,
    *,
    trusted: Path | None = None,
    mode: str | None = "",
) -> AcpRun:
    """The user's setup for `agent` (fresh homes), and the repo's policy choosing it."""
    env = AGENTS[agent].environment(tmp, server.url, trusted or sandbox.repo, agent_bin)
    policy = sandbox.repo / ".middle" / "policy.toml"
    # Gemini loads a session only once the minute it opened in has passed: a launch that
    # resumes at once waits up to a minute before it is ready.
    limits = policy.read_text().replace(
        "launch_timeout_seconds = 30", "launch_timeout_seconds = 90"
    )
    policy.write_text(limits + '\n[repo]\ndefault_adapter = "acp"\n\n' + acp_policy(agent, mode))
    git(sandbox.repo, "commit", "-qam", "policy")
    return AcpRun(sandbox, server, env)


def test_the_tested_versions_are_the_pinned_ones() -> None:
    pins = pinned_versions()
    argv0 = {agent: ACP_BRIDGES[agent][0][0] for agent in PINS}
    assert AcpAdapter.tested_agents == {argv0[agent]: pins[pin] for agent, pin in PINS.items()}
    adapter = AcpAdapter({"argv": ["codex-acp"]})
    assert adapter.tested_versions == (pins["CODEX_ACP_VERSION"],) * 2


def test_doctor_reads_the_agents_version_from_its_initialize_answer(
    agent: str, agent_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither bridge has `--version`. Seen red: doctor said "found, but it did not say
    its version" for both."""
    monkeypatch.setenv("PATH", f"{agent_bin}{os.pathsep}{os.environ['PATH']}")
    adapter = AcpAdapter({"argv": ACP_BRIDGES[agent][0]})
    assert adapter.version() == pinned_versions()[PINS[agent]]
    assert adapter.tested_versions == (adapter.version(),) * 2


def test_a_usage_limit_parks_the_run_then_it_resumes_after_the_reset(
    sandbox: Sandbox, agent: str, agent_bin: Path, tmp_path: Path
) -> None:
    reset = int(time.time()) + 3 * 3600
    with ModelServer([AGENTS[agent].usage_limit(reset)]) as server:
        run = setup_run(sandbox, agent, server, agent_bin, tmp_path)
        limited = run.implement()
        assert limited.returncode == 0, limited.stderr
        assert "usage limit (it resets at" in limited.stdout
        assert sandbox.workflow()["state"] == "rate-limited"
        limit = sandbox.db()["rate_limit_state"].get("acp")
        assert limit["status"] == "limited" and limit["reset_at"]

        # The limit resets: the model answers again. (Claude Code sends the prompt that
        # failed and the next one in one user message, so the script starts over.)
        server.turns[:] = [done("after the reset")] * 2
        cleared = run.middle("rate-limit", "clear", "acp")
        assert cleared.returncode == 0, cleared.stderr
        polled = run.middle("poll")
    assert polled.returncode == 0, polled.stderr
    assert "ready for review" in polled.stdout
    assert "after the reset" in git(sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)
    _, second = (event["argv"] for event in sandbox.events("agent.launched"))
    resumed = second[second.index("--resume") + 1]
    # Gemini deletes a session with nothing to resume when it exits: this one's only prompt
    # failed, so its load finds nothing and the brief starts a new one.
    assert (resumed == sandbox.workflow()["session_id"]) is (agent != "gemini-acp")


def test_a_fresh_home_that_trusts_nothing_starts_without_a_human(
    sandbox: Sandbox, agent: str, agent_bin: Path, tmp_path: Path
) -> None:
    nothing = tmp_path / "nothing-trusted"
    nothing.mkdir()
    with ModelServer([done("trusted")]) as server:
        run = setup_run(sandbox, agent, server, agent_bin, tmp_path, trusted=nothing)
        result = run.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert sandbox.events("agent.dialog-answered") == []
    transcript = Path(sandbox.workflow()["transcript_path"]).read_text()
    assert "AGENT_WORK.md" in transcript and "Done." in transcript  # tool calls, messages


def test_a_permission_request_parks_with_the_agents_options_and_the_answer_picks_one(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """claude-code-acp in its default mode asks before each command
    (`session/request_permission`, options Always Allow / Allow / Reject)."""
    with ModelServer([done("allowed")]) as server:
        run = setup_run(sandbox, "claude-code-acp", server, agent_bin, tmp_path, mode=None)
        asked = run.implement()
        assert asked.returncode == 0, asked.stderr
        assert "asks permission to run `echo allowed >> AGENT_WORK.md" in asked.stdout
        assert "1. Always Allow · 2. Allow · 3. Reject" in asked.stdout
        assert sandbox.workflow()["state"] == "waiting-human"
        assert len(sandbox.sessions()) == 1  # the agent waits for the answer, alive

        answered = run.middle("answer", "--issue", REF, "--text", "2")  # by its number
        assert "asks permission to run `printf" in answered.stdout, answered.stderr
        answered = run.middle("answer", "--issue", REF, "--text", "yes")  # its allow once
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    assert len(sandbox.events("agent.launched")) == 1
    assert "allowed" in git(sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)


def test_a_permission_denied_in_words_runs_nothing_and_the_words_reach_the_agent(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    turn = {"run": ["touch forbidden.txt"], "say": "Tried."}
    with ModelServer([turn, done("instead")]) as server:
        run = setup_run(sandbox, "claude-code-acp", server, agent_bin, tmp_path, mode=None)
        asked = run.implement()
        assert "asks permission to run `touch forbidden.txt`" in asked.stdout, asked.stderr
        instead = "Do not touch files; commit AGENT_WORK.md instead."
        answered = run.middle("answer", "--issue", REF, "--text", instead)
        for _ in range(len(done()["run"])):  # each command of the next turn asks
            if "asks permission" not in answered.stdout:
                break
            answered = run.middle("answer", "--issue", REF, "--text", "yes")
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    assert not (sandbox.worktree() / "forbidden.txt").exists()
    assert instead in server.prompts()


def test_opencode_speaks_acp_to_the_acp_adapter_too(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """The third agent: `[adapters.acp] argv = ["opencode", "acp"]`, no mode."""
    with ModelServer([done("through acp")]) as server:
        env = opencode_env(tmp_path, server.url, agent_bin)
        policy = sandbox.repo / ".middle" / "policy.toml"
        slow_start = policy.read_text().replace("timeout_seconds = 30", "timeout_seconds = 120")
        policy.write_text(
            slow_start
            + '\n[repo]\ndefault_adapter = "acp"\n'
            + f'\n[adapters.acp]\nargv = ["opencode", "acp"]\nenv_pass = ["{KEY_VARIABLE}"]\n'
        )
        git(sandbox.repo, "commit", "-qam", "policy")
        result = AcpRun(sandbox, server, env).implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert "through acp" in git(sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)
