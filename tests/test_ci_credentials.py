"""How middle's git gets the job token on Actions, and that nothing the agent gets holds it
(issue 20 item 3). Seen red: `ci-job` put `AUTHORIZATION: basic <the token>` into its
own environment as git config, so every process it started (the tmux server, whose
environment `tmux show-environment -g` prints to the agent) carried the token."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from middle.agents.launch import agent_environment
from middle.app.ci.main import git_credentials_from_gh
from tests.conftest import REPO_ROOT

TOKEN = "ghs_jobtoken0123456789"


@pytest.fixture
def gh_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake gh, holding only the job's installation token, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = REPO_ROOT / "tests" / "fakes" / "gh_fake.py"
    (bin_dir / "gh").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    (bin_dir / "gh").chmod(0o755)
    state = tmp_path / "github.json"
    token = {"value": TOKEN, "bot": "github-actions[bot]"}
    state.write_text(json.dumps({"login": "-", "repo": "acme/webhooks", "token": token}))
    monkeypatch.setenv("FAKE_GH_STATE", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name in [n for n in os.environ if n.startswith("GIT_CONFIG_")]:
        monkeypatch.delenv(name)
    return state


def credential(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What git would send github.com, as `git credential fill` finds it."""
    return subprocess.run(
        ["git", "credential", "fill"], input="protocol=https\nhost=github.com\n\n", cwd=cwd,
        env={**env, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""},
        capture_output=True, text=True,
    )  # fmt: skip


def test_middles_git_asks_gh_for_the_job_token_and_the_agent_gets_none(
    gh_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    git_credentials_from_gh()

    given = {n: v for n, v in os.environ.items() if n.startswith("GIT_CONFIG_")}
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert not [v for v in given.values() if TOKEN in v or basic in v]
    assert "!gh auth git-credential" in given.values()

    found = credential(tmp_path, dict(os.environ))
    assert found.returncode == 0, found.stderr
    assert f"password={TOKEN}" in found.stdout.splitlines()

    agent = agent_environment(os.environ, ["FAKE_GH_STATE"], {})
    assert not [name for name in agent if name.startswith("GIT_CONFIG_") or "TOKEN" in name]
    refused = credential(tmp_path, agent)
    assert refused.returncode != 0 and TOKEN not in refused.stdout


def test_nothing_changes_off_actions(gh_on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Actions git keeps the user's own setup (their credential helper, their SSH)."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    git_credentials_from_gh()
    assert "GIT_CONFIG_COUNT" not in os.environ


def test_gh_with_no_token_on_a_runner_fails_as_gh_does(
    gh_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gh with no token at all exits 4 with its `authHelp` hint, which depends on where
    it runs (GitHub Actions, another CI, a terminal)."""
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    hints = {
        "true": "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN",
        "": "To get started with GitHub CLI, please run:  gh auth login",
    }
    for actions, hint in hints.items():
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
        env.update({"GITHUB_ACTIONS": actions} if actions else {})
        done = subprocess.run(
            ["gh", "pr", "create", "--head", "middle/issue-7", "--title", "t", "--body", "b"],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 4
        assert done.stderr.startswith(hint), done.stderr
    refused = json.loads(gh_on_path.read_text())["refused"]
    assert [entry["code"] for entry in refused] == [4, 4]
