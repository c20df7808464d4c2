"""A real agent CLI in its own tmux server, driven the way a user (or middle) types.

The CLI's environment goes into a launch script, not tmux's `-e`: tmux 3.3a ignores
`new-session -e PATH=...` (the child gets the tmux client's PATH), and a script keeps the
values off every process's command line.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
PASTE_PAUSE = 0.05  # between a bracketed paste and its Enter; < 50 ms loses the Enter


def wait_for(
    predicate: Callable[[], T], timeout: float, what: str, detail: Callable[[], str] | None = None
) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail after
    `timeout` seconds naming `what` (and `detail()`, e.g. the pane, for the post-mortem)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            context = f"\n{detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{context}")
        time.sleep(0.02)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines of a file being appended to (a partial last line is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class Terminal:
    """One tmux server (private socket) running one CLI in window `main`, 200x50."""

    def __init__(self, workdir: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # socket paths < 108 B
        self.socket = str(self.folder / "tmux.sock")
        self.workdir = workdir

    def tmux(self, *args: str, data: bytes | None = None) -> str:
        front = list(args[:2]) if args[:1] == ("-f",) else []  # a server option goes first
        done = subprocess.run(
            ["tmux", *front, "-S", self.socket, *args[len(front) :]],
            input=data,
            capture_output=True,
            check=True,
        )
        return done.stdout.decode(errors="replace")

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> float:
        """Launch `argv` in `cwd` with exactly `env`; return the monotonic launch time."""
        script = self.folder / "launch.sh"
        exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
        script.write_text(f"{exports}cd {shlex.quote(str(cwd))}\nexec {shlex.join(argv)}\n")
        config = self.folder / "tmux.conf"  # read before the CLI starts: no race
        config.write_text("set -g remain-on-exit on\n")  # keep a dead CLI's last screen
        started = time.monotonic()
        self.tmux(
            "-f",
            str(config),
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            str(cwd),
            f"env -i /bin/bash {shlex.quote(str(script))}",
        )
        return started

    def pane(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def paste(self, text: str) -> None:
        """A bracketed paste of `text` (one submission, any size), the pause, then Enter."""
        self.tmux("load-buffer", "-b", "prompt", "-", data=text.encode())
        self.tmux("paste-buffer", "-p", "-d", "-b", "prompt", "-t", "main")
        time.sleep(PASTE_PAUSE)
        self.keys("Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def wait_pane(self, needle: str, timeout: float = 30) -> str:
        def seen() -> str:
            text = self.pane()
            return text if needle in text else ""

        return wait_for(seen, timeout, f"{needle!r} in the pane", self.pane)

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)
        subprocess.run(["rm", "-rf", str(self.folder)], capture_output=True)
