"""The auto-dispatch race, pinned: a dispatcher that loses the insert to another stands
down without an error and without an event."""

from __future__ import annotations

import subprocess
from pathlib import Path

from middle.app.home import open_home_db
from middle.app.runtime import Runtime
from middle.app.service import autodispatch
from middle.config import load_config, middle_home


def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(
        ["git", *identity, "commit", "-q", "--allow-empty", "-m", "i"], cwd=repo, check=True
    )
    return repo


def test_a_configured_adapter_no_plugin_registers_is_skipped(home: Path, tmp_path: Path) -> None:
    """A Ready row naming an adapter that is configured but whose plugin is gone is passed
    over with its reason, so the rows after it are still tried. Seen red without the check:
    the row was eligible, and building its adapter raised out of every serve pass."""
    repo = git_repo(tmp_path)
    config = load_config(middle_home(), repo)
    config["adapters"]["ghost"] = {"argv": ["ghost-agent"]}
    runtime = Runtime(repo, config=config)
    why = autodispatch._why_not(
        open_home_db(), runtime, runtime.issues, "queue", "ghost", since="2026-01-01T00:00:00Z"
    )
    assert why == "adapter ghost is not registered (is its plugin installed?)"


def test_the_loser_of_the_unique_index_stands_down(home: Path, tmp_path: Path) -> None:
    """Seen red: without `except AlreadyInFlight`, the second dispatch raised
    AlreadyInFlight out of the serve tick."""
    repo = git_repo(tmp_path)
    db, runtime = open_home_db(), Runtime(repo)
    first = autodispatch._dispatch(db, runtime, "queue", "command", "rank 1", None)
    second = autodispatch._dispatch(db, runtime, "queue", "command", "rank 1", None)
    assert first is not None and second is None
    events = list(db["events"].rows_where("type = 'dispatch.auto'"))
    assert len(events) == 1 and db["workflows"].count == 1
