"""middle driving the real OpenCode CLI (`opencode-ai`, pinned) through the `opencode`
adapter, end to end, through `middle`: OpenCode in ACP mode under middle's supervisor,
pointed by its user config at the scripted model server's Chat Completions dialect. Each
scenario gets a fresh HOME holding only that config. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from middle.agents.opencode import OpenCodeAdapter
from tests.e2e.conftest import REF, Sandbox, git, sandbox, wait_until
from tests.fakes.model_server import ModelServer
from tests.real_agents.harness import pinned_versions
from tests.real_agents.harness_opencode import opencode_env
from tests.real_agents.test_middle_drives_real_clis import ask, done

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused


class OpenCodeRun:
    def __init__(self, sandbox: Sandbox, server: ModelServer, env: dict[str, str]) -> None:
        self.sandbox, self.server, self.env = sandbox, server, env

    def middle(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.sandbox.middle(*args, env=self.env)

    def implement(self) -> subprocess.CompletedProcess[str]:
        return self.middle("implement", "--issue", REF)

    def brief(self) -> str:
        return (self.sandbox.worktree() / ".middle" / "prompt.md").read_text().rstrip()

    def log(self) -> str:
        return git(self.sandbox.repo, "log", "--format=%s", "middle/issue-" + REF)


def setup_run(
    sandbox: Sandbox,
    server: ModelServer,
    agent_bin: Path,
    tmp: Path,
    user_config: dict[str, Any] | None = None,
) -> OpenCodeRun:
    env = opencode_env(tmp, server.url, agent_bin)
    if user_config:
        path = Path(env["HOME"]) / ".config" / "opencode" / "opencode.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **user_config}))
    policy = sandbox.repo / ".middle" / "policy.toml"
    policy.write_text(
        policy.read_text().replace("launch_timeout_seconds = 30", "launch_timeout_seconds = 120")
        + '\n[repo]\ndefault_adapter = "opencode"\n'
        # No env_pass: the key variable the user's config names passes by itself.
    )
    git(sandbox.repo, "commit", "-qam", "policy")
    return OpenCodeRun(sandbox, server, env)


@pytest.fixture
def opencode(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OpenCodeRun]:
    turns = request.node.get_closest_marker("turns")
    with ModelServer(list(turns.args) if turns else [done()]) as server:
        yield setup_run(sandbox, server, agent_bin, tmp_path)


def test_the_tested_version_is_the_pinned_one() -> None:
    pinned = pinned_versions()["OPENCODE_VERSION"]
    assert OpenCodeAdapter.tested_agents == {"opencode": pinned}
    assert OpenCodeAdapter().tested_versions == (pinned, pinned)


@pytest.mark.turns(done("first"))
def test_implement_then_approve(opencode: OpenCodeRun) -> None:
    result = opencode.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    (accepted,) = opencode.sandbox.events("agent.prompt-accepted")
    assert accepted["exact"] is True
    assert opencode.server.prompts()[0] == opencode.brief()  # the brief, byte for byte
    assert any(r["path"] == "/v1/chat/completions" for r in opencode.server.requests)
    approved = opencode.middle("review", "--issue", REF, "--approve")
    assert approved.returncode == 0, approved.stderr
    assert opencode.sandbox.workflow()["state"] == "completed"
    assert "first" in opencode.log()
    assert len(opencode.sandbox.events("agent.launched")) == 1


@pytest.mark.turns(ask("Which backoff base, 2 or 3?"), done("answered"))
def test_a_question_is_answered_in_the_same_conversation(opencode: OpenCodeRun) -> None:
    asked = opencode.implement()
    assert asked.returncode == 0, asked.stderr
    assert "Which backoff base, 2 or 3?" in asked.stdout
    session = opencode.sandbox.workflow()["session_id"]
    assert session.startswith("ses_")

    answered = opencode.middle("answer", "--issue", REF, "--text", "Base 3, capped at 5 minutes.")
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    _, second = (event["argv"] for event in opencode.sandbox.events("agent.launched"))
    assert second[second.index("--resume") + 1] == session
    last = json.dumps(opencode.server.requests[-1]["body"])
    assert "Base 3, capped at 5 minutes." in opencode.server.prompts()[-1]
    assert "Deliveries to customer endpoints fail" in last  # the first brief, in its history


def test_a_usage_limit_parks_the_run_then_it_resumes_after_the_reset(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    limit = {"error": 429, "type": "rate_limit_exceeded", "message": "Rate limit reached"}
    with ModelServer([limit]) as server:
        run = setup_run(sandbox, server, agent_bin, tmp_path)
        limited = run.implement()
        assert limited.returncode == 0, limited.stderr
        assert "usage limit" in limited.stdout
        assert sandbox.workflow()["state"] == "rate-limited"
        assert sandbox.db()["rate_limit_state"].get("opencode")["status"] == "limited"

        server.turns[:] = [done("after the reset")] * 2  # the limit reset
        cleared = run.middle("rate-limit", "clear", "opencode")
        assert cleared.returncode == 0, cleared.stderr
        polled = run.middle("poll")
    assert polled.returncode == 0, polled.stderr
    assert "ready for review" in polled.stdout
    assert "after the reset" in run.log()


@pytest.mark.turns(done("fresh"))
def test_a_fresh_home_starts_without_a_human(opencode: OpenCodeRun) -> None:
    """A HOME with nothing but the provider's config: no database, no trust, no state."""
    home = Path(opencode.env["HOME"])
    assert [p.relative_to(home) for p in home.rglob("*") if p.is_file()] == [
        Path(".config/opencode/opencode.json")
    ]
    result = opencode.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert opencode.sandbox.events("agent.dialog-answered") == []


@pytest.mark.turns({"run": ["sleep 4"], "say": "Still here."}, done("after the crash"))
def test_a_killed_dispatcher_resumes_without_a_second_launch(opencode: OpenCodeRun) -> None:
    sandbox = opencode.sandbox
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "middle", "implement", "--issue", REF],
        cwd=sandbox.repo,
        env={**os.environ, **opencode.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: sandbox.events("agent.prompt-accepted"), timeout=120)
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.wait()

    resumed = opencode.middle("resume", "--issue", REF)
    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(sandbox.events("agent.launched")) == 1
    assert len(sandbox.events("agent.adopted")) == 1


def test_a_permission_rule_that_asks_parks_with_opencodes_options(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """The user's config makes bash ask; OpenCode's options are Allow once, Always allow
    and Reject."""
    with ModelServer([done("allowed")]) as server:
        run = setup_run(sandbox, server, agent_bin, tmp_path, {"permission": {"bash": "ask"}})
        asked = run.implement()
        assert asked.returncode == 0, asked.stderr
        assert "asks permission to run" in asked.stdout
        assert "1. Allow once · 2. Always allow · 3. Reject" in asked.stdout, asked.stdout
        assert sandbox.workflow()["state"] == "waiting-human"
        answered = run.middle("answer", "--issue", REF, "--text", "always allow")  # by name
        assert "asks permission to run printf" in answered.stdout  # another command
        answered = run.middle("answer", "--issue", REF, "--text", "1")  # by its number
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    assert "allowed" in run.log()
    assert len(sandbox.events("agent.launched")) == 1
