"""The auto-dispatch race, pinned: a dispatcher that loses the insert to another stands
down without an error and without an event."""

from __future__ import annotations

import subprocess
from pathlib import Path

from middle.app import autodispatch
from middle.app.home import open_home_db


def test_the_loser_of_the_unique_index_stands_down(home: Path, tmp_path: Path) -> None:
    """Seen red: without `except AlreadyInFlight`, the second dispatch raised
    AlreadyInFlight out of the serve tick."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(
        ["git", *identity, "commit", "-q", "--allow-empty", "-m", "i"], cwd=repo, check=True
    )
    db = open_home_db()
    first = autodispatch._dispatch(db, repo, "queue", "command", "rank 1", spawn=False)
    second = autodispatch._dispatch(db, repo, "queue", "command", "rank 1", spawn=False)
    assert first is not None and second is None
    events = list(db["events"].rows_where("type = 'dispatch.auto'"))
    assert len(events) == 1 and db["workflows"].count == 1
