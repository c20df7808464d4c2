"""One process at a time per workflow run, enforced with an OS lock the kernel releases
when its holder dies (SIGKILL included), so a crashed dispatcher never leaves a stale lock
and `resume` can tell "crashed" (lock free) from "running elsewhere" (lock held).

On Linux each run locks one byte of a shared `runs.lock` file (an open-file-description
lock, `F_OFD_SETLK`: a single `fcntl` call, and it conflicts between two descriptors of one
process too). The byte is picked by hashing the run id into 2^56 offsets, so two runs share
one only by a negligible accident, which would show as a spurious "busy". Elsewhere (macOS)
each run `flock`s its own file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from middle.errors import WorkflowBusyError

_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None)
_OFD_GETLK: int | None = getattr(fcntl, "F_OFD_GETLK", None)
_FLOCK = "hhqqi4x"


def _flock_struct(kind: int, offset: int) -> bytes:
    # struct flock {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid;}
    return struct.pack(_FLOCK, kind, os.SEEK_SET, offset, 1, 0)


def _offset(workflow_id: str) -> int:
    return int.from_bytes(hashlib.sha256(workflow_id.encode()).digest()[:7], "big")


class RunLocks:
    """The run locks of one runner. `with locks.hold(workflow_id, wait=seconds):` holds the
    run, or raises `WorkflowBusyError` once `wait` seconds pass with another holder.

    The shared lock file stays open for the runner's life, so taking a lock is one syscall.
    """

    def __init__(self, lock_dir: Path) -> None:
        self.lock_dir = lock_dir
        self._shared_fd: int | None = None

    @classmethod
    def beside(cls, database: Path) -> RunLocks:
        """The run locks of the runs in `database`: in `locks/` beside it."""
        return cls(database.parent / "locks")

    @contextmanager
    def hold(self, workflow_id: str, *, wait: float = 0.0) -> Iterator[None]:
        fd = self._shared() if _OFD_SETLK is not None else self._open(f"{workflow_id}.lock")
        offset = _offset(workflow_id)
        deadline = time.monotonic() + wait
        try:
            while not _try_lock(fd, offset):
                if time.monotonic() >= deadline:
                    raise WorkflowBusyError(
                        f"workflow {workflow_id} is being run by another process; wait for "
                        f"it to park or finish, or stop that process and run `middle resume`"
                    )
                time.sleep(0.05)
            yield
        finally:
            if _OFD_SETLK is not None:
                fcntl.fcntl(fd, _OFD_SETLK, _flock_struct(fcntl.F_UNLCK, offset))
            else:
                os.close(fd)  # closing the descriptor releases the flock

    def is_held(self, workflow_id: str) -> bool:
        """Whether another holder drives the run now, found without taking its lock (a
        probe that took it, even for a moment, could make that holder's own `hold` find
        the run busy). Where there is no such probe (macOS), a momentary try."""
        if _OFD_GETLK is None or _OFD_SETLK is None:
            try:
                with self.hold(workflow_id):
                    return False
            except WorkflowBusyError:
                return True
        asked = _flock_struct(fcntl.F_WRLCK, _offset(workflow_id))
        answer = fcntl.fcntl(self._shared(), _OFD_GETLK, asked)
        return bool(struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK)

    def close(self) -> None:
        if self._shared_fd is not None:
            os.close(self._shared_fd)
            self._shared_fd = None

    def _shared(self) -> int:
        if self._shared_fd is None:
            self._shared_fd = self._open("runs.lock")
        return self._shared_fd

    def _open(self, name: str) -> int:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        return os.open(self.lock_dir / name, os.O_RDWR | os.O_CREAT, 0o600)


def _try_lock(fd: int, offset: int) -> bool:
    try:
        if _OFD_SETLK is not None:
            fcntl.fcntl(fd, _OFD_SETLK, _flock_struct(fcntl.F_WRLCK, offset))
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EAGAIN/EACCES: another holder
        return False
    return True
