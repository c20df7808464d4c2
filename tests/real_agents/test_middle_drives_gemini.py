"""middle driving the real Gemini CLI, end to end, through `middle` itself.

The pinned CLI (installed by `.ci/install-agent-clis`) runs in a fresh HOME for every
scenario, with an API key and the scripted model server's Gemini dialect as its base URL
(`gemini_env`): no login, no network. Everything else (the worktree's `GEMINI_CLI_HOME` and
its hooks, `--skip-trust`, the approval mode, the usage-limit menu, delivering and
confirming prompts) is middle's job, and is what these tests prove.
"""

from __future__ import annotations

from pathlib import Path

from middle.agents import GeminiAdapter
from middle.steps.dispatch import worktree_path
from tests.e2e.conftest import REF, Sandbox, git, sandbox
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import done, gemini_limit
from tests.real_agents.gemini_env import gemini_env
from tests.real_agents.harness import pinned_versions
from tests.real_agents.test_middle_drives_real_clis import RealRun

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

CLI = "gemini"
USAGE_LIMIT = gemini_limit(0)  # no reset time: middle waits an hour


def gemini_run(
    sandbox: Sandbox, server: ModelServer, agent_bin: Path, tmp: Path, policy: str = ""
) -> RealRun:
    env = gemini_env(tmp, server.url, agent_bin)
    path = sandbox.repo / ".middle" / "policy.toml"
    path.write_text(path.read_text() + f'\n[repo]\ndefault_adapter = "{CLI}"\n' + policy)
    git(sandbox.repo, "commit", "-qam", "policy")
    return RealRun(sandbox, CLI, server, env)


def launches(sandbox: Sandbox) -> list[list[str]]:
    return [event["argv"] for event in sandbox.events("agent.launched")]


def pairs(argv: list[str]) -> list[list[str]]:
    return [argv[i : i + 2] for i in range(len(argv))]


def test_a_usage_limit_parks_rate_limited_and_continues_after_the_reset(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """A daily quota draws Gemini's "Usage limit reached" menu ("Keep trying" / "Stop"),
    which middle answers "Stop", and parks the run rate-limited."""
    with ModelServer([USAGE_LIMIT]) as server:
        run = gemini_run(sandbox, server, agent_bin, tmp_path)
        limited = run.implement()
        assert limited.returncode == 0, limited.stderr
        assert sandbox.workflow()["state"] == "rate-limited", limited.stdout
        assert "usage limit" in limited.stdout
        assert sandbox.db()["rate_limit_state"].get(CLI)["status"] == "limited"

        # The reset passes (Gemini names no reset time, so middle waits an hour), and the
        # API answers again. Gemini keeps no prompt that failed in the conversation, so the
        # next prompt is the resumed conversation's first.
        sandbox.db()["rate_limit_state"].update(CLI, {"reset_at": "2000-01-01T00:00:00Z"})
        server.turns[0] = done("after the reset")
        resumed = run.middle("poll")
    assert resumed.returncode == 0, resumed.stderr
    assert sandbox.workflow()["state"] == "waiting-human", resumed.stdout
    log = git(sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)
    assert "after the reset" in log
    # The same conversation if it kept the failed prompt; else a new one: Gemini drops the
    # prompt once the limit menu is answered, and `--resume` of a session left without a
    # prompt made it exit (seen red). Which one depends on whether Gemini rewrote its chat
    # before middle ended the session.
    first, second = launches(sandbox)
    assert "--resume" not in first
    if "--resume" in second:
        assert ["--resume", sandbox.workflow()["session_id"]] in pairs(second)


def test_a_fresh_home_starts_without_a_dialog(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """A HOME that trusts no folder (only the auth choice in `~/.gemini/settings.json`):
    middle's `--skip-trust` keeps the trust dialog away, and nothing is written there. Seen
    red: without it, Gemini asked "Do you trust the files in this folder?", a screen middle
    does not answer, and the run parked on it as a question."""
    with ModelServer([done("trusted")]) as server:
        run = gemini_run(sandbox, server, agent_bin, tmp_path)
        user_settings = Path(run.env["HOME"]) / ".gemini" / "settings.json"
        before = user_settings.read_text()
        result = run.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert sandbox.events("agent.dialog-answered") == []
    assert sandbox.events("agent.unknown-screen") == []
    worktree = worktree_path(sandbox.home, sandbox.repo, REF)
    assert sandbox.workflow()["transcript_path"].startswith(str(worktree))
    assert user_settings.read_text() == before  # the user's settings untouched
    assert not (Path(run.env["HOME"]) / ".gemini" / "trustedFolders.json").exists()


def test_a_permission_prompt_parks_and_yes_runs_the_command(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """With `approval_mode = "default"` Gemini asks "Allow execution of [Shell]?": the run
    parks on it, naming the command, and a yes runs it in the same session. Seen red: the
    prompt just answered was still drawn when middle looked again, so the run parked on it
    a second time (naming the screen's text, not the command), and the human's second yes
    allowed the next command, which no park had named; its turn end was then taken as an
    earlier turn's, and the run waited out the turn timeout."""
    with ModelServer([done("allowed")]) as server:
        policy = '\n[adapters.gemini]\napproval_mode = "default"\n'
        run = gemini_run(sandbox, server, agent_bin, tmp_path, policy)
        asked = run.implement()
        assert asked.returncode == 0, asked.stderr
        asks = "asks permission to run run_shell_command: echo allowed"
        assert asks in asked.stdout, asked.stdout
        assert sandbox.workflow()["state"] == "waiting-human"
        assert server.tool_outputs() == []  # nothing ran
        answered = run.middle("answer", "--issue", REF, "--text", "yes")
        while "asks permission" in answered.stdout:  # each command asks
            answered = run.middle("answer", "--issue", REF, "--text", "yes")
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    assert len(launches(sandbox)) == 1
    asked = [event["tool"] for event in sandbox.events("agent.permission-asked")]
    assert asked == [f"run_shell_command: {command}" for command in done("allowed")["run"]]


def test_the_installed_gemini_is_the_pinned_version(agent_bin: Path) -> None:
    assert (
        GeminiAdapter({"binary": str(agent_bin / CLI)}).version()
        == (pinned_versions()["GEMINI_CLI_VERSION"])
    )
