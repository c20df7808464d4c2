"""middle driving the real GitHub Copilot CLI, end to end, through `middle` itself.

The pinned CLI (installed by `.ci/install-agent-clis`) runs in a fresh HOME for every
scenario, with a custom provider at the scripted model server (`copilot_env`): no login,
no network. Everything else (the worktree's `COPILOT_HOME`, its hooks and trusted folder,
`--allow-all-tools`, delivering and confirming prompts, reading its session log) is
middle's job, and is what these tests prove.
"""

from __future__ import annotations

from pathlib import Path

from middle.agents import CopilotAdapter
from middle.steps.dispatch import worktree_path
from tests.e2e.conftest import REF, Sandbox, git, sandbox
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import copilot_limit, done
from tests.real_agents.copilot_env import copilot_env
from tests.real_agents.harness import pinned_versions
from tests.real_agents.test_middle_drives_real_clis import RealRun

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

CLI = "copilot"
USAGE_LIMIT = copilot_limit(0)  # no reset time: middle waits an hour


def copilot_run(
    sandbox: Sandbox, server: ModelServer, agent_bin: Path, tmp: Path, policy: str = ""
) -> RealRun:
    env = copilot_env(tmp, server.url, agent_bin)
    path = sandbox.repo / ".middle" / "policy.toml"
    path.write_text(path.read_text() + f'\n[repo]\ndefault_adapter = "{CLI}"\n' + policy)
    git(sandbox.repo, "commit", "-qam", "policy")
    return RealRun(sandbox, CLI, server, env)


def launches(sandbox: Sandbox) -> list[list[str]]:
    return [event["argv"] for event in sandbox.events("agent.launched")]


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
    worktree = worktree_path(sandbox.home, sandbox.repo, REF)
    assert sandbox.workflow()["transcript_path"].startswith(str(worktree))
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


def test_the_installed_copilot_is_the_pinned_version(agent_bin: Path) -> None:
    assert (
        CopilotAdapter({"binary": str(agent_bin / CLI)}).version()
        == (pinned_versions()["COPILOT_VERSION"])
    )
