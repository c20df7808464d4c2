"""The state home as the use cases see it: its directory and its migrated database."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from middle.config import db_path, middle_home
from middle.store import open_db


def open_home_db(home: Path | None = None) -> Database:
    """The migrated database under `home` (default: `$MIDDLE_HOME`)."""
    return open_db(db_path(home or middle_home()))
