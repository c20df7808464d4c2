"""tmux, as middle uses it: one detached session per agent turn, on middle's own server.

Every call is an argument list. middle runs its own tmux server (`tmux -L middle`), never
the user's default one, so it neither inherits the user's server nor fills its session
list; `MIDDLE_TMUX_SOCKET` (a socket path, `tmux -S`) selects another, and tests give each
test its own. `attach_command` is what a person types, on either.

Every process on a tmux server can read the server's environment (`tmux show-environment
-g`, `/proc/<server>/environ`), and the server's environment is that of the client that
started it. So every tmux client middle runs gets only `BASE_ENV` (plus what tmux reads
itself): a server middle starts holds no credential and no `MIDDLE_*` setting, and what
each agent gets beyond that is `middle.agents.launch`'s business.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from middle.errors import AgentError

SERVER_NAME = "middle"  # `tmux -L middle`: middle's own server socket

# What any CLI needs to run as the user: identity, paths, locale, proxies and CA files.
BASE_ENV = (
    "HOME", "USER", "LOGNAME", "PATH", "SHELL", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
    "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "SSH_AUTH_SOCK",
)  # fmt: skip

# What tmux reads or sets besides: the terminal, where `-L` sockets live, the folder.
TMUX_ENV = ("TERM", "COLORTERM", "TMUX_TMPDIR", "PWD")


def allow_listed(source: Mapping[str, str], patterns: Iterable[str]) -> dict[str, str]:
    """The variables of `source` that `patterns` allow (`NAME` or a `PREFIX*` glob).
    `MIDDLE_*` never pass: those are middle's own settings."""
    allowed = tuple(patterns)
    return {
        name: value
        for name, value in source.items()
        if not name.startswith("MIDDLE_")
        and any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed)
    }


class Tmux:
    def __init__(self, socket: str | None = None) -> None:
        socket = socket if socket is not None else os.environ.get("MIDDLE_TMUX_SOCKET")
        self.base = ["tmux", *(["-S", socket] if socket else ["-L", SERVER_NAME])]
        self.env = allow_listed(os.environ, (*BASE_ENV, *TMUX_ENV))

    def _run(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                [*self.base, *args],
                capture_output=True, text=True, timeout=30, input=stdin, env=self.env,
            )  # fmt: skip
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
        size limit, and the text never reaches tmux's key-name parser. Control characters
        are taken out first (`pasteable`): the text holds issue text and review comments,
        and tmux passes an ESC through, so `ESC [201~` in it would end the paste early
        and what follows would be typed, Enter and all."""
        buffer = f"middle-{name}"
        self._run("load-buffer", "-b", buffer, "-", stdin=pasteable(text))
        self._run("paste-buffer", "-p", "-d", "-b", buffer, "-t", f"={name}:")

    def send_keys(self, name: str, *keys: str) -> None:
        self._run("send-keys", "-t", f"={name}:", *keys)

    def capture(self, name: str, lines: int = 200) -> str:
        result = self._run("capture-pane", "-p", "-t", f"={name}:", "-S", f"-{lines}", check=False)
        return result.stdout if result.returncode == 0 else ""

    def pane_pid(self, name: str) -> int | None:
        """The pid of the process session `name` runs (its pane's); None without one."""
        done = self._run("display", "-p", "-t", f"={name}:", "#{pane_pid}", check=False)
        text = done.stdout.strip()
        return int(text) if done.returncode == 0 and text.isdigit() else None

    def kill_session(self, name: str) -> None:
        """End the session if it exists."""
        self._run("kill-session", "-t", f"={name}", check=False)

    def version(self) -> str:
        return self._run("-V").stdout.strip()

    def attach_command(self, name: str) -> str:
        """What a person types to watch or drive session `name`, on this server."""
        return shlex.join([*self.base, "attach", "-t", f"={name}"])

    def server_environment(self) -> dict[str, str] | None:
        """The running server's global environment (what every process on it can read),
        or None when no server runs."""
        result = self._run("show-environment", "-g", check=False)
        if result.returncode != 0:
            return None
        pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        return {name: value for name, value in pairs}

    def stray_environment(self) -> list[str]:
        """The names in the running server's global environment that a server middle starts
        would not hold (a server started by an older middle, or by a person): every agent
        on it can read them."""
        found = self.server_environment() or {}
        return sorted(set(found) - set(allow_listed(found, (*BASE_ENV, *TMUX_ENV))))


# C0 controls but tab and newline, DEL, and the C1 controls (U+009B is a one-character CSI).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def pasteable(text: str) -> str:
    """`text` with its line ends as newlines and every other control character removed."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
