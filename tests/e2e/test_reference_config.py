"""Issue 21 item 6: the reference's own config files (thejustinwalsh/middle's README global
config and its `.middle/policy.toml`, copied as tests/fixtures/reference/) work here: each
key with a meaning is used, each without one is one warning line from `middle doctor`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from middle.config import load_config, load_config_checked
from tests.conftest import REPO_ROOT, run_middle

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "reference"


def reference_repo(home: Path, tmp_path: Path) -> Path:
    """A git repo with the reference's policy.toml, and its README config as ours."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "config.toml", home / "config.toml")
    repo = tmp_path / "repo"
    (repo / ".middle").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    shutil.copy(FIXTURES / "policy.toml", repo / ".middle" / "policy.toml")
    return repo


def test_the_reference_config_files_load_with_their_keys_mapped(home: Path, tmp_path: Path) -> None:
    """Seen red: `[global] dispatcher_port = 4120: expected one of the keys default_adapter,
    max_concurrent`, and the policy's `[repo] owner`, `[limits] max_concurrent_per_adapter`,
    `[recommender] enabled`, `[docs]` refused the same way."""
    repo = reference_repo(home, tmp_path)

    config = load_config(home, repo)

    assert config["recommender"]["interval"] == "15m"  # interval_minutes = 15
    assert config["adapters"]["claude"]["max_concurrent"] == 2  # max_concurrent_per_adapter
    assert config["adapters"]["codex"]["max_concurrent"] == 1
    assert config["adapters"]["claude"]["binary"] == "claude"
    assert config["limits"]["max_concurrent"] == 3
    assert config["repo"]["default_branch"] == "main"
    assert "dispatcher_port" not in config["global"] and "owner" not in config["repo"]


def test_doctor_warns_once_per_key_with_no_meaning_and_exits_0(home: Path, tmp_path: Path) -> None:
    """Seen red: `✗ config: ...: [global] dispatcher_port = 4120: expected one of the keys`,
    exit 1."""
    repo = reference_repo(home, tmp_path)

    result = run_middle("doctor", "--repo", str(repo))

    assert "✗ config" not in result.stdout, result.stdout
    assert "! config:" in result.stdout
    _, problems, warnings = load_config_checked(home, repo)
    assert problems == []
    warned = {line.split(": ", 1)[1].split(" = ")[0] for line in warnings}
    # worktree_root, db_path and log_dir name ~/.middle, not this test's MIDDLE_HOME
    assert {
        "[global] dispatcher_port",
        "[global] worktree_root",
        "[global] db_path",
        "[global] log_dir",
        "[repo] owner",
        "[repo] name",
    } <= warned
    mapped = ["interval_minutes = 15", "max_concurrent_per_adapter", "pr_mode", "[recommender]"]
    assert not [line for line in warnings for key in mapped if key in line]
    assert len(warnings) == len(warned)  # one line each
    for line in warnings:
        assert line in result.stdout
    assert result.returncode == 0 or "✗ agent" in result.stdout, result.stdout


def test_status_runs_on_the_reference_config(home: Path, tmp_path: Path) -> None:
    """Seen red: `middle status` in the repo said its config cannot be loaded, naming
    `[global] dispatcher_port = 4120`."""
    repo = reference_repo(home, tmp_path)
    result = run_middle("status", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "No workflows yet" in result.stdout
    assert "config" not in result.stdout, result.stdout


def test_default_branch_is_where_runs_start_and_a_missing_one_is_one_line(tmp_path: Path) -> None:
    """`[repo] default_branch` (the reference's key) is the base of every new run, whatever
    branch the checkout is on. Seen red: implement, recommend and auto-dispatch took
    `git.current_branch` and ignored it."""
    from middle.app.repo import base_branch
    from middle.errors import RepoError

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "root"], check=True)
    subprocess.run([*git, "checkout", "-q", "-b", "feature"], check=True)

    assert base_branch({"repo": {}}, repo) == "feature"
    assert base_branch({"repo": {"default_branch": "main"}}, repo) == "main"
    try:
        base_branch({"repo": {"default_branch": "trunk"}}, repo)
    except RepoError as exc:
        assert "[repo] default_branch = 'trunk': no such branch" in str(exc)
    else:
        raise AssertionError("a default_branch that is not there was accepted")
