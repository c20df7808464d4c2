"""middle driving the real GitHub Copilot CLI, end to end, through `middle` itself.

The pinned CLI (installed by `.ci/install-agent-clis`) runs in a fresh HOME for every
scenario, with a custom provider at the scripted model server (`copilot_env`): no login,
no network. Everything else (the worktree's `COPILOT_HOME`, its hooks and trusted folder,
`--allow-all-tools`, delivering and confirming prompts, reading its session log) is
middle's job, and is what these tests prove.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from middle.agents import CopilotAdapter
from middle.steps.dispatch import worktree_path
from tests.e2e.conftest import REF, Sandbox, git, sandbox, wait_until
from tests.fakes.model_server import ModelServer
from tests.real_agents.copilot_env import copilot_env
from tests.real_agents.harness import pinned_versions
from tests.real_agents.test_middle_drives_real_clis import RealRun, ask, done

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

CLI = "copilot"
USAGE_LIMIT = {"error": 429, "type": "usage_limit_reached", "message": "usage limit reached"}


def copilot_run(
    sandbox: Sandbox, server: ModelServer, agent_bin: Path, tmp: Path, policy: str = ""
) -> RealRun:
    env = copilot_env(tmp, server.url, agent_bin)
    path = sandbox.repo / ".middle" / "policy.toml"
    path.write_text(path.read_text() + f'\n[repo]\ndefault_adapter = "{CLI}"\n' + policy)
    git(sandbox.repo, "commit", "-qam", "policy")
    return RealRun(sandbox, CLI, server, env)


@pytest.fixture
def real(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[RealRun]:
    turns = request.node.get_closest_marker("turns")
    with ModelServer(list(turns.args) if turns else [done()]) as server:
        yield copilot_run(sandbox, server, agent_bin, tmp_path)


def launches(sandbox: Sandbox) -> list[list[str]]:
    return [event["argv"] for event in sandbox.events("agent.launched")]


@pytest.mark.turns(done("first"))
def test_implement_then_approve(real: RealRun) -> None:
    """Seen red: before the model server dropped the `<current_datetime>` line Copilot puts
    before each prompt, the prompt the model saw was not the brief."""
    result = real.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout, result.stdout
    assert real.server.prompts()[0] == real.brief().rstrip()  # the brief, byte for byte
    (accepted,) = real.sandbox.events("agent.prompt-accepted")
    assert accepted["exact"] is True
    worktree = worktree_path(real.sandbox.home, real.sandbox.repo, REF)
    assert real.sandbox.workflow()["transcript_path"].startswith(str(worktree))
    approved = real.middle("review", "--issue", REF, "--approve")
    assert approved.returncode == 0, approved.stderr
    assert real.sandbox.workflow()["state"] == "completed"
    log = git(real.sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)
    assert "first" in log, real.server.tool_outputs()
    assert len(launches(real.sandbox)) == 1


@pytest.mark.turns(ask("Which backoff base, 2 or 3?"), done("answered"))
def test_a_question_is_parked_and_the_answer_reaches_the_same_conversation(
    real: RealRun,
) -> None:
    asked = real.implement()
    assert asked.returncode == 0, asked.stderr
    assert "Which backoff base, 2 or 3?" in asked.stdout
    assert real.sandbox.workflow()["state"] == "waiting-human"

    answered = real.middle("answer", "--issue", REF, "--text", "Base 3, capped at 5 minutes.")
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout, [p[:80] for p in real.server.prompts()]
    assert "Base 3, capped at 5 minutes." in real.server.prompts()[-1]
    session = real.sandbox.workflow()["session_id"]
    first, second = launches(real.sandbox)
    assert session and f"--resume={session}" not in first
    assert f"--resume={session}" in second  # the same conversation
    # the model saw the first prompt again in the second turn's history: one conversation
    assert len(real.server.prompts()) == 2


def test_a_usage_limit_parks_rate_limited_and_continues_after_the_reset(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """Copilot sends no hook that ends a turn on a 429: its session log's `session.error`
    (`errorType: "rate_limit"`) does. Seen red: without reading it, middle waited for an
    `agentStop` that never came (the turn timeout)."""
    with ModelServer([USAGE_LIMIT, done("after the reset")]) as server:
        run = copilot_run(sandbox, server, agent_bin, tmp_path)
        limited = run.implement()
        assert limited.returncode == 0, limited.stderr
        assert sandbox.workflow()["state"] == "rate-limited", limited.stdout
        assert "usage limit" in limited.stdout
        assert sandbox.db()["rate_limit_state"].get(CLI)["status"] == "limited"

        # The reset passes (Copilot names no reset time, so middle waits an hour).
        sandbox.db()["rate_limit_state"].update(CLI, {"reset_at": "2000-01-01T00:00:00Z"})
        resumed = run.middle("poll")
    assert resumed.returncode == 0, resumed.stderr
    assert sandbox.workflow()["state"] == "waiting-human", resumed.stdout
    log = git(sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)
    assert "after the reset" in log
    session = sandbox.workflow()["session_id"]
    assert f"--resume={session}" in launches(sandbox)[-1]


def test_a_fresh_home_starts_without_a_dialog(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """A HOME with no `~/.copilot` at all: middle's own Copilot home for the worktree
    trusts it, so no dialog shows, and none is answered. Seen red: with the trust left out
    of that home, Copilot asked "Do you trust the files in this folder?" (and middle
    answered it, by its shape)."""
    with ModelServer([done("trusted")]) as server:
        run = copilot_run(sandbox, server, agent_bin, tmp_path)
        assert not (Path(run.env["HOME"]) / ".copilot").exists()
        result = run.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert sandbox.events("agent.dialog-answered") == []
    assert sandbox.events("agent.unknown-screen") == []
    assert not (Path(run.env["HOME"]) / ".copilot").exists()  # the user's home untouched


def test_a_permission_prompt_parks_and_yes_runs_the_command(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """With `allow_all_tools = false` Copilot asks "Do you want to run this command?":
    the run parks on it, naming the command, and a yes runs it in the same session."""
    with ModelServer([done("allowed")]) as server:
        policy = "\n[adapters.copilot]\nallow_all_tools = false\n"
        run = copilot_run(sandbox, server, agent_bin, tmp_path, policy)
        asked = run.implement()
        assert asked.returncode == 0, asked.stderr
        assert "asks permission to run bash: echo allowed" in asked.stdout, asked.stdout
        assert sandbox.workflow()["state"] == "waiting-human"
        assert server.tool_outputs() == []  # nothing ran
        answered = run.middle("answer", "--issue", REF, "--text", "yes")
        while "asks permission" in answered.stdout:  # each command asks
            answered = run.middle("answer", "--issue", REF, "--text", "yes")
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    assert len(launches(sandbox)) == 1
    asked = [event["tool"] for event in sandbox.events("agent.permission-asked")]
    assert asked == [f"bash: {command}" for command in done("allowed")["run"]]


@pytest.mark.turns({"run": ["sleep 4"], "say": "Still here."}, done("after the crash"))
def test_a_killed_dispatcher_resumes_without_a_second_launch(real: RealRun) -> None:
    sandbox = real.sandbox
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "middle", "implement", "--issue", REF],
        cwd=sandbox.repo,
        env={**os.environ, **real.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: sandbox.events("agent.prompt-accepted"), timeout=120)
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.wait()

    resumed = real.middle("resume", "--issue", REF)
    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(launches(sandbox)) == 1
    assert len(sandbox.events("agent.adopted")) == 1


def test_the_installed_copilot_is_the_pinned_version(agent_bin: Path) -> None:
    assert (
        CopilotAdapter({"binary": str(agent_bin / CLI)}).version()
        == (pinned_versions()["COPILOT_VERSION"])
    )
