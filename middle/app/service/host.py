"""The runs `serve` drives itself: each live run on a thread of the one serve process.

A run continued by `serve` (adopted at start, resumed by a poll, restarted by the
watchdog, dispatched automatically) used to get a `middle resume` process of its own, 39
MiB each. Here it gets a thread that does exactly what that process did
(`middle.app.implement.resume` for its issue), so fifty live runs share one interpreter.

Nothing about a run's safety depends on the process: each thread builds its own runtime
(its own database connection and run lock; the run locks are open-file-description locks,
which exclude each other between threads too), and a run's progress is in the database, not
in the thread. When serve ends, by SIGTERM or SIGKILL, its threads end with it, as a killed
dispatcher process would; the kernel releases their run locks, and the next `serve` (or
`middle resume`) adopts the runs where they stopped, with no second launch.

`implement` in the foreground and `middle poll` outside serve still drive or spawn their
runs as before: only serve hosts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from middle.engine.runstate import describe_error
from middle.errors import MiddleError, WorkflowBusyError

Log = Callable[[str], None]


class RunHost:
    """Starts a thread per run and keeps at most one per run id."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    def start(self, workflow_id: str, run_input: dict[str, Any]) -> None:
        """Drive the run on a thread of this process, unless one already does. The same
        signature as `spawn_resume`, which it stands in for under serve."""
        with self._lock:
            running = self._threads.get(workflow_id)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self._drive,
                args=(workflow_id, str(run_input["repo"]), str(run_input["ref"])),
                name=f"run-{workflow_id}",
                daemon=True,  # serve's end is the end of its runs' drivers, as a kill is
            )
            self._threads[workflow_id] = thread
            thread.start()

    def hosting(self) -> list[str]:
        """The ids of the runs a thread drives now."""
        with self._lock:
            return sorted(key for key, thread in self._threads.items() if thread.is_alive())

    def _drive(self, workflow_id: str, repo: str, ref: str) -> None:
        from middle.app.implement import resume  # the command a spawned process ran

        where = f"run {workflow_id} (issue {ref})"
        try:
            for outcome in resume(repo, ref):
                self._log(f"{where}: {outcome.message}")
        except WorkflowBusyError:
            self._log(f"{where}: driven elsewhere; left to that driver")
        except MiddleError as exc:
            self._log(f"{where}: {exc}")
        except Exception as exc:  # a bug in one run must not end serve or its other runs
            self._log(f"{where}: {describe_error(exc)}")
        finally:
            with self._lock:
                if self._threads.get(workflow_id) is threading.current_thread():
                    del self._threads[workflow_id]
