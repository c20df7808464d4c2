"""Which `middle serve` owns a MIDDLE_HOME: its `serve.pid`, checked against the process.

A pid file outlives a serve that was killed, and the kernel reuses pids, so a pid alone
proves nothing: the process must still exist, not be a zombie, and run `middle serve`
(its command line, from /proc, or `ps` where there is no /proc). Nothing here ever signals
a process it has not identified that way.
"""

from __future__ import annotations

import os
from pathlib import Path

from middle.system.processes import command_line

# The names a serve's command line may carry: `python -m middle serve`, the `middle`
# console script, or `invoke serve` / `inv serve` in a project that mounts middle's tasks.
LAUNCHERS = ("middle", "invoke", "inv")


def pid_path(home: Path) -> Path:
    return home / "serve.pid"


def log_path(home: Path) -> Path:
    return home / "logs" / "serve.log"


def read_pid(home: Path) -> int | None:
    """The pid `serve.pid` names; None when there is no file or it holds no pid."""
    try:
        text = pid_path(home).read_text().strip()
    except (FileNotFoundError, IsADirectoryError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def is_middle_serve(argv: list[str]) -> bool:
    """`argv` runs `serve` through middle (never a `sleep` that inherited the pid)."""
    names = [os.path.basename(part) for part in argv]
    return "serve" in argv and any(name in LAUNCHERS for name in names)


def serving_pid(home: Path) -> int | None:
    """The pid of the live `middle serve` that `serve.pid` names, or None."""
    pid = read_pid(home)
    if pid is None:
        return None
    argv = command_line(pid)
    return pid if argv is not None and is_middle_serve(argv) else None
