"""The processes middle watches but did not start as its children (a serve from its pid
file, an agent CLI in a tmux pane): what each runs, and whether it still runs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def command_line(pid: int) -> list[str] | None:
    """The process's argv; None if it is gone or a zombie (its command line is empty)."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:  # gone, or not ours to read
            return None
        argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        return argv or None
    listed = subprocess.run(  # macOS and the BSDs: no /proc
        ["ps", "-o", "stat=,command=", "-p", str(pid)], capture_output=True, text=True
    )
    fields = listed.stdout.split()
    if listed.returncode != 0 or len(fields) < 2 or fields[0].startswith("Z"):
        return None
    return fields[1:]


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie awaiting its parent has ended)."""
    return command_line(pid) is not None
