"""tmux, as middle uses it: one detached session per agent turn.

Every call is an argument list. `MIDDLE_TMUX_SOCKET` (a socket path) selects a private
tmux server; tests give each test its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from middle.errors import AgentError


class Tmux:
    def __init__(self, socket: str | None = None) -> None:
        socket = socket if socket is not None else os.environ.get("MIDDLE_TMUX_SOCKET")
        self.base = ["tmux", *(["-S", socket] if socket else [])]

    def _run(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                [*self.base, *args], capture_output=True, text=True, timeout=30, input=stdin
            )
        except FileNotFoundError:
            if not check:  # no tmux means no session: nothing to find or to kill
                return subprocess.CompletedProcess([*self.base, *args], 127, "", "no tmux")
            raise AgentError("tmux is not installed or not on PATH") from None
        if check and result.returncode != 0:
            raise AgentError(f"tmux {args[0]} failed: {result.stderr.strip()}")
        return result

    def new_session(self, name: str, cwd: Path, argv: list[str]) -> None:
        """Start `argv` detached in session `name`. With more than one argument tmux execs
        it directly, so no shell ever parses it. The environment is the caller's business
        (see `middle.agents.launch`): nothing secret belongs in `argv`, which `ps` shows."""
        self._run(
            "new-session", "-d", "-s", name, "-c", str(cwd), "-x", "200", "-y", "50", *argv
        )  # fmt: skip

    def has_session(self, name: str) -> bool:
        return self._run("has-session", "-t", f"={name}", check=False).returncode == 0

    def paste(self, name: str, text: str) -> None:
        """Paste `text` into the session as one bracketed paste (`paste-buffer -p`), so a
        TUI takes it as a single input, newlines and all. Unlike `send-keys`, there is no
        size limit, and the text never reaches tmux's key-name parser."""
        buffer = f"middle-{name}"
        self._run("load-buffer", "-b", buffer, "-", stdin=text)
        self._run("paste-buffer", "-p", "-d", "-b", buffer, "-t", f"={name}:")

    def send_keys(self, name: str, *keys: str) -> None:
        self._run("send-keys", "-t", f"={name}:", *keys)

    def capture(self, name: str, lines: int = 200) -> str:
        result = self._run("capture-pane", "-p", "-t", f"={name}:", "-S", f"-{lines}", check=False)
        return result.stdout if result.returncode == 0 else ""

    def kill_session(self, name: str) -> None:
        """End the session if it exists."""
        self._run("kill-session", "-t", f"={name}", check=False)

    def version(self) -> str:
        return self._run("-V").stdout.strip()
