"""The installed CLIs are the pinned ones, and the environments hold what a user has set up."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from tests.real_agents.conftest import Checkout
from tests.real_agents.harness import claude_env, codex_env, pinned_versions


def test_installed_clis_are_the_pinned_versions(agent_bin: Path) -> None:
    pins = pinned_versions()
    claude = subprocess.run([agent_bin / "claude", "--version"], capture_output=True, text=True)
    codex = subprocess.run([agent_bin / "codex", "--version"], capture_output=True, text=True)
    assert claude.stdout.split()[0] == pins["CLAUDE_CODE_VERSION"]
    assert codex.stdout.split()[-1] == pins["CODEX_VERSION"]


def test_environments_are_private_and_point_at_the_server(
    agent_bin: Path, checkout: Checkout, tmp_path: Path
) -> None:
    url = "http://127.0.0.1:9"
    claude = claude_env(tmp_path, url, checkout.repo, agent_bin)
    state = json.loads(Path(claude["HOME"], ".claude.json").read_text())
    assert state["projects"][str(checkout.repo)]["hasTrustDialogAccepted"] is True
    assert claude["ANTHROPIC_BASE_URL"] == url and "ANTHROPIC_API_KEY" not in claude
    codex = codex_env(tmp_path, url, checkout.repo, agent_bin)
    config = tomllib.loads(Path(codex["CODEX_HOME"], "config.toml").read_text())
    provider = config["model_providers"][config["model_provider"]]
    assert provider["base_url"] == url + "/v1" and provider["wire_api"] == "responses"
    assert codex[provider["env_key"]]
    assert config["projects"][str(checkout.repo)]["trust_level"] == "trusted"
    for env in (claude, codex):
        assert env["PATH"].startswith(str(agent_bin)) and str(tmp_path) in env["HOME"]


def test_doctor_tests_the_versions_ci_installs() -> None:
    """One pin, two readers: `.ci/install-agent-clis` installs what the adapters'
    `tested_versions` (so `middle doctor`) call tested."""
    from middle.agents import ClaudeAdapter, CodexAdapter
    from tests.real_agents.harness import pinned_versions

    pins = pinned_versions()
    assert ClaudeAdapter.tested_versions == (pins["CLAUDE_CODE_VERSION"],) * 2
    assert CodexAdapter.tested_versions == (pins["CODEX_VERSION"],) * 2
