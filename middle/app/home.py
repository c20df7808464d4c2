"""The state home as the use cases see it: its directory, its migrated database, and the
logs of the middle commands started in the background."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from middle.config import db_path, middle_home
from middle.store import LATEST_VERSION, open_reader

if TYPE_CHECKING:
    from sqlite_utils import Database

    from middle.store import Readable


def open_home_db(home: Path | None = None) -> Database:
    """The migrated database under `home` (default: `$MIDDLE_HOME`)."""
    from middle.store import open_db  # sqlite-utils loads here, not for a read

    return open_db(db_path(home or middle_home()))


def read_home_db(home: Path | None = None) -> Readable:
    """The database under `home` to read only, through plain sqlite3 (so a command that
    only looks starts fast); opened and migrated as `open_home_db` does when it does not
    exist yet or is behind the schema."""
    path = db_path(home or middle_home())
    return open_reader(path, LATEST_VERSION) or open_home_db(home)


def spawn_middle(args: list[str], log_name: str) -> None:
    """Run `middle ARGS` in a process of its own, in a session of its own (serve's end or a
    Ctrl-C does not reach it), its output appended to `$MIDDLE_HOME/logs/<log_name>.log`:
    how serve and poll start what may run for long (a resumed run, the recommender, a
    documentation run) without waiting on it."""
    logs = middle_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{log_name}.log").open("a") as log:
        subprocess.Popen(
            [sys.executable, "-m", "middle", *args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
