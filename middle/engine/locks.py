"""One process at a time per workflow run, enforced with an OS file lock.

`flock` is released by the kernel when its holder dies, SIGKILL included, so a crashed
dispatcher never leaves a stale lock behind, and `resume` can tell "crashed" (lock free)
from "still running elsewhere" (lock held) without guessing from timestamps.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from middle.errors import WorkflowBusyError


class RunLock:
    def __init__(self, lock_dir: Path, workflow_id: str, *, wait: float = 0.0) -> None:
        self.path = lock_dir / f"{workflow_id}.lock"
        self.workflow_id = workflow_id
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise WorkflowBusyError(
                        f"workflow {self.workflow_id} is being run by another process "
                        f"(pid {holder}); wait for it, or stop it and run `middle resume`"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
