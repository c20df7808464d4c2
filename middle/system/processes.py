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


def group_alive(pgid: int, proc: Path = Path("/proc")) -> bool:
    """Whether any process of process group `pgid` still runs (a zombie has ended). A tmux
    pane's process leads its group, and a CLI's work may be in a child: npm's `copilot` is
    a loader that dies at the hang-up at once while its native binary, its child, goes on
    writing the session. Without `proc` (macOS, the BSDs), `ps` says."""
    if proc.is_dir():
        for stat in proc.glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:  # gone since the listing
                continue
            state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
            if state != "Z" and int(group) == pgid:
                return True
        return False
    listed = subprocess.run(  # macOS and the BSDs: no /proc
        ["ps", "-A", "-o", "pgid=,stat="], capture_output=True, text=True
    )
    rows = (line.split() for line in listed.stdout.splitlines())
    return any(row[0] == str(pgid) and not row[1].startswith("Z") for row in rows if len(row) > 1)
