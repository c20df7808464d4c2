"""Another connection holding SQLite's write lock, as another process would with
`BEGIN EXCLUSIVE`: from a thread of its own, for a measured while (that is the point of
the tests that use it), or until released."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class HeldLock:
    seconds: float
    taken_at: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)

    def held_for(self) -> float:
        """Seconds since the lock was taken."""
        return time.monotonic() - self.taken_at


@contextmanager
def write_lock_held(database: Path, seconds: float) -> Iterator[HeldLock]:
    """Hold the database's write lock from a thread for `seconds`, or until
    `held.release` is set, or the block ends; the block runs while it is held."""
    held = HeldLock(seconds)
    taken = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN EXCLUSIVE")
        held.taken_at = time.monotonic()
        taken.set()
        held.release.wait(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    taken.wait()
    try:
        yield held
    finally:
        held.release.set()
        holder.join()
