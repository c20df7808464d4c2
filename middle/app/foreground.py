"""A command that drives a run in the foreground, and how a signal makes it let go.

`implement`, `answer`, `review` and `resume` drive a run until it parks or settles. A
SIGINT (Ctrl-C) or SIGTERM makes them let go of it as a SIGKILL would, minus the
surprise: `RunDetached` unwinds the drive without failing, compensating or checkpointing
anything; the run's lock is released, so the run has no driver (`middle resume` adopts
it, as `serve` does when it starts); and the agent keeps working in its tmux session.
After a Ctrl-C, a second one within `CANCEL_WINDOW` seconds cancels the run instead, as
`middle cancel` does: its uncommitted work is rescued to a branch.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from middle.app.home import open_home_db
from middle.app.repo import resolve_repo
from middle.engine.locks import RunLocks
from middle.engine.runs import Runs
from middle.errors import MiddleError, RunDetached
from middle.store import Row, database_file
from middle.system import git

CANCEL_WINDOW = 2.0  # seconds after the detach line in which a second Ctrl-C cancels
DRIVEN_STATES = ("pending", "launching", "running")  # a run someone must drive to go on


class Foreground:
    """`with Foreground() as foreground:` turns the first SIGINT or SIGTERM into
    `RunDetached`, raised wherever the drive is. Later signals only mark that a second
    Ctrl-C came (`cancel_asked`): they never interrupt the letting go. A third Ctrl-C is
    an ordinary `KeyboardInterrupt` again.

    Signal handlers belong to the main thread; elsewhere this changes nothing.
    """

    def __init__(self) -> None:
        self.first: signal.Signals | None = None
        self.again = False
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> Foreground:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.first is None:
            self.first = signal.Signals(signum)
            raise RunDetached(self.first.name)
        if signum == signal.SIGINT and self.first == signal.SIGINT and not self.again:
            self.again = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def cancel_asked(self, within: float = CANCEL_WINDOW) -> bool:
        """After a Ctrl-C: whether a second one came already, or comes within `within`
        seconds. After a SIGTERM, never: that is a process manager, and it waits for no one."""
        if self.first is not signal.SIGINT:
            return False
        deadline = time.monotonic() + within
        while not self.again and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.again


def detached_run(detached: RunDetached, repo: str | Path, ref: str | None) -> Row | None:
    """The run a detach left live with no driver: the one being driven when the signal
    came, else the issue's run if nobody drives it (the signal came between its row and
    its lock); None if no run was left so (the signal came before the dispatch, or after
    the run parked)."""
    runs = Runs(open_home_db())
    row: Row | None = None
    if detached.workflow_id is not None:
        row = runs.get(detached.workflow_id)
    elif ref is not None:
        try:
            row = runs.live(repo=str(git.repo_root(resolve_repo(repo))), ref=ref)
        except MiddleError:
            return None
        if row is not None and _driven(runs, row["id"]):
            return None  # another process drives it: not ours to speak for
    return row if row is not None and row["state"] in DRIVEN_STATES else None


def _driven(runs: Runs, workflow_id: str) -> bool:
    locks = RunLocks.beside(database_file(runs.db))
    try:
        return locks.is_held(workflow_id)
    finally:
        locks.close()
