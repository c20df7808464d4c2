"""The state home as the use cases see it: its directory and its migrated database."""

from __future__ import annotations

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
