"""Fixtures for tests that drive the real Claude Code and Codex CLIs (installed by
`.ci/install-agent-clis`). Without the CLIs these tests skip, except under CI (`CI` set),
where they fail: CI must never pass by silently skipping the suite that proves the product."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import git
from tests.real_agents.harness import agent_bin_dir
from tests.real_agents.terminal import Terminal


@pytest.fixture(scope="session")
def agent_bin() -> Path:
    folder = agent_bin_dir()
    if folder is None:
        message = "real agent CLIs not installed: run .ci/install-agent-clis"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


@dataclass
class Checkout:
    repo: Path  # the trusted repository
    worktree: Path  # a git worktree of it, where the agent runs (as middle does)


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    worktree = tmp_path / "worktrees" / "issue-1"
    git(repo, "worktree", "add", "-q", "-b", "issue-1", str(worktree))
    return Checkout(repo, worktree)


@pytest.fixture
def terminal(checkout: Checkout) -> Iterator[Callable[[], Terminal]]:
    """A factory of private tmux servers; every one is killed at teardown."""
    made: list[Terminal] = []

    def make() -> Terminal:
        made.append(Terminal(checkout.worktree))
        return made[-1]

    yield make
    for term in made:
        term.kill()
