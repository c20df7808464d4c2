"""The worktree's `.middle/` layout has one owner, and nothing in it reaches a commit."""

from __future__ import annotations

from pathlib import Path

from middle.agents.launch import launch_argv
from middle.system import git, worktree
from middle.system.hooks import install_hook_script
from middle.system.worktree import IGNORED
from tests.e2e.conftest import git as run_git


def test_nothing_middle_writes_into_a_worktree_shows_up_in_git_status(tmp_path: Path) -> None:
    """Everything middle writes there, written the way middle writes it, is ignored. Seen
    red: the agent's environment file (which holds the session token) was not, so a
    rescue commit (`git add -A`) could have committed it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    git.ignore_middle_files(repo)
    install_hook_script(repo)
    (worktree.spool_dir(repo) / "1-1.hook").write_text("Stop\n")
    worktree.prompt_path(repo).write_text("the brief")
    for name in worktree.SENTINELS:
        worktree.sentinel_path(repo, name).write_text("{}")
    launch_argv(repo, ["true"], {"MIDDLE_SESSION_TOKEN": "secret"})
    (repo / ".middle" / "agent").mkdir()
    (repo / ".middle" / "agent" / "transcript.jsonl").write_text("{}\n")
    (repo / ".claude").mkdir()
    (repo / worktree.CLAUDE_LOCAL_SETTINGS).write_text("{}")

    assert run_git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert all(line.startswith(".") for line in IGNORED)
