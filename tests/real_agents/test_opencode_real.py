"""middle driving the real OpenCode CLI (`opencode-ai`, pinned) through the `opencode`
adapter, end to end, through `middle`: OpenCode in ACP mode under middle's supervisor,
pointed by its user config at the scripted model server's Chat Completions dialect. Each
scenario gets a fresh HOME holding only that config. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from middle.agents.opencode import OpenCodeAdapter
from tests.e2e.conftest import REF, Sandbox, git, sandbox
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import chat_limit, done
from tests.real_agents.harness import pinned_versions
from tests.real_agents.harness_opencode import opencode_env

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused


class OpenCodeRun:
    def __init__(self, sandbox: Sandbox, server: ModelServer, env: dict[str, str]) -> None:
        self.sandbox, self.server, self.env = sandbox, server, env

    def middle(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.sandbox.middle(*args, env=self.env)

    def implement(self) -> subprocess.CompletedProcess[str]:
        return self.middle("implement", "--issue", REF)

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


def test_a_usage_limit_parks_the_run_then_it_resumes_after_the_reset(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    with ModelServer([chat_limit(0)]) as server:
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
    assert any(r["path"] == "/v1/chat/completions" for r in opencode.server.requests)


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
