"""One gate command as a process group: run it, bound it by a timeout, and leave nothing
behind.

The command is the leader of a new session (`start_new_session=True`), so everything it
starts is in its process group. When the timeout passes, the whole group is killed; when
the command ends on its own, whatever it left running in the background is killed too.

Its output goes to an unnamed temporary file, never to a pipe: a background child that
inherited the output keeps a pipe open after the command ends (and after a timeout, if
it left the group), and a reader waiting for the pipe's end would wait as long as that
child lives. Here only the command's own exit is waited for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TAIL_CHARS = 2000
POLL_CAP_SECONDS = 0.05  # the longest wait between two checks for the command's exit


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit code (None when it timed out or could not start),
    the tail of its output (stdout and stderr, interleaved as written), and its time."""

    exit_code: int | None
    timed_out: bool
    tail: str
    seconds: float


def run_in_group(
    argv: list[str], cwd: Path, timeout: float, env: Mapping[str, str] | None = None
) -> Finished:
    """Run `argv` in `cwd` with stdin closed and environment `env` (None: this process's);
    kill its process group on a timeout, and after it exits. Raises `OSError` when the
    program cannot be started."""
    began = time.monotonic()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        exited = False
        try:
            exited = _wait_unreaped(process.pid, began + timeout)
        finally:  # a timeout, or middle let go (Ctrl-C detaches it): no gate outlives it
            # The leader is a zombie now (or still running), so its pid, which is the
            # group's id, cannot have been reused: killing the group reaches only its own.
            _kill_group(process.pid)
            code = process.wait()
        seconds = time.monotonic() - began
        return Finished(code if exited else None, not exited, _tail(output), seconds)


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Whether `pid` exited before `deadline`. It is left unreaped (WNOWAIT)."""
    delay = 0.0005
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, POLL_CAP_SECONDS)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already empty
        os.killpg(pgid, signal.SIGKILL)


def _tail(output: IO[bytes]) -> str:
    """The last `TAIL_CHARS` characters written (a UTF-8 character cut in two is replaced)."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 4 * TAIL_CHARS))
    return output.read().decode("utf-8", errors="replace")[-TAIL_CHARS:]
