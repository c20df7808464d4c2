"""The state home and the files holding session tokens stay private (issue 20 item 9):
the home is 0700 and the database (with its `-wal` and `-shm`) and the hook spool 0600,
whether middle created them or found them looser; `doctor` warns about what it finds
looser, with the chmod to run."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from middle.app.doctor import check_home
from middle.store import open_db
from middle.system.hooks import install_hook_script
from middle.system.worktree import spool_dir
from tests.conftest import run_middle


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(home: Path) -> list[Path]:
    names = ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm")
    return [home / name for name in names if (home / name).exists()]


def test_an_existing_open_home_and_database_are_tightened(home: Path) -> None:
    """Seen red: after `mkdir -m 755` the home stayed 0755 and db.sqlite3 was created
    0644, so every user of the machine could read the session tokens in it."""
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)  # whatever the umask
    assert run_middle("status").returncode == 0
    assert mode(home) == 0o700
    assert (home / "db.sqlite3").exists()
    db = open_db(home / "db.sqlite3")  # held open, so -wal and -shm exist to look at
    try:
        files = database_files(home)
        assert len(files) == 3
        os.chmod(home / "db.sqlite3", 0o644)  # as an older middle left it
        assert run_middle("status").returncode == 0
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        db.close()


def test_the_hook_spool_holding_the_token_is_private(tmp_path: Path) -> None:
    """Seen red: each spooled hook (its second line is the session token) was written
    0644 under the agent's umask."""
    install_hook_script(tmp_path)
    subprocess.run(
        ["sh", "-c", 'umask 022; exec "$0" Stop', str(tmp_path / ".middle/hooks/hook.sh")],
        input=json.dumps({}),
        text=True,
        env={"PATH": "/usr/bin:/bin", "MIDDLE_SESSION_TOKEN": "s3cret"},
        check=True,
    )
    (spooled,) = spool_dir(tmp_path).glob("*.hook")
    assert "s3cret" in spooled.read_text()
    assert mode(spooled) == 0o600
    assert mode(spool_dir(tmp_path)) == 0o700


def test_doctor_warns_about_a_loose_home_and_database_with_the_chmod(tmp_path: Path) -> None:
    """What doctor finds looser than 0700 / 0600 (when middle could not tighten it: a file
    of another user's, a read-only mount) is a warning that says what to run. Seen red:
    doctor looked at the home's mode only, never at the database holding the tokens."""
    home = tmp_path / "home"
    home.mkdir()
    open_db(home / "db.sqlite3").close()
    os.chmod(home, 0o700)
    os.chmod(home / "db.sqlite3", 0o644)
    found = check_home(home)
    assert found.verdict == "warn", found
    assert f"chmod 600 {home / 'db.sqlite3'}" in found.detail
    os.chmod(home, 0o755)
    assert f"chmod 700 {home}" in check_home(home).detail
    os.chmod(home, 0o700)
    os.chmod(home / "db.sqlite3", 0o600)
    assert check_home(home).verdict == "ok"
