"""`middle start` / `middle stop`: `middle serve` as a detached background process.

`start` spawns `serve` in a session of its own (setsid: no terminal's hangup or Ctrl-C
reaches it), stdin from /dev/null, stdout and stderr appended to `logs/serve.log` (where
serve writes its own lines too), none of the caller's other descriptors, and the caller's
environment (serve and the agents it resumes need the same PATH, gh login and API keys).
It returns once the service answers: its pid file names the child and the child lives,
and with --dashboard the dashboard's `/health` says "ok". A child that dies first has its
log's new lines shown, and one that never answers is stopped, so a failed start leaves no
process behind.

`stop` signals only a process it has identified as `middle serve` (`pidfile.py`): SIGTERM,
then, past its timeout, SIGKILL to the serve's process group (its dashboard with it), as
systemd does past TimeoutStopSec. The engine is durable, so a killed pass resumes later.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from middle.app.service.pidfile import (
    log_path,
    pid_path,
    read_pid,
    serving_pid,
)
from middle.config import middle_home
from middle.errors import ServeAlreadyRunningError, ServiceError
from middle.system.processes import command_line

START_TIMEOUT = 20.0  # seconds; a loaded machine's import of middle can take several
TAIL_LINES = 20
_URL = re.compile(r"middle dashboard: (http://127\.0\.0\.1:(\d+)/\S*)")


@dataclass(frozen=True)
class Started:
    pid: int
    log: Path
    dashboard_url: str | None


@dataclass(frozen=True)
class Stopped:
    """What `stop` did: `stopped` (SIGTERM was enough), `killed` (SIGKILL after the
    timeout), `not-running` (no pid file), or `stale` (a pid file naming no serve)."""

    outcome: str
    pid: int | None = None


def serve_argv(repo: str, dashboard_port: int | None) -> list[str]:
    """The command line of the service: this middle's own interpreter, so a venv install
    runs its own middle, and the repo as an absolute path."""
    argv = [sys.executable, "-m", "middle", "serve", "--repo", str(Path(repo).resolve())]
    if dashboard_port is not None:
        argv += ["--dashboard", "--port", str(dashboard_port)]
    return argv


def start_service(repo: str, dashboard_port: int | None, timeout: float = START_TIMEOUT) -> Started:
    home = middle_home()
    refuse_a_second(home)
    log = log_path(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    pid = os.posix_spawn(
        sys.executable,
        serve_argv(repo, dashboard_port),
        {**os.environ, "MIDDLE_HOME": str(home)},  # absolute, whatever the caller's cwd
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            *[(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()],
        ],
        setsid=True,
    )
    url = _wait_until_ready(pid, home, offset, dashboard_port is not None, timeout)
    return Started(pid, log, url)


def _inherited_fds() -> list[int]:
    """The descriptors above stderr a child would inherit (not close-on-exec): a pipe the
    caller holds must not stay open for as long as the service runs."""
    found = []
    for name in os.listdir("/dev/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if not flags & fcntl.FD_CLOEXEC:
            found.append(fd)
    return found


def refuse_a_second(home: Path) -> None:
    running = serving_pid(home)
    if running is not None:
        raise ServeAlreadyRunningError(
            f"middle serve is already running (pid {running}, {pid_path(home)}); "
            "stop it first: middle stop"
        )


def _wait_until_ready(
    pid: int, home: Path, offset: int, dashboard: bool, timeout: float
) -> str | None:
    deadline = time.monotonic() + timeout
    while True:
        code = _exit_code(pid)
        if code is not None:
            raise ServiceError(
                f"middle serve exited during start-up (exit code {code}); its log is "
                f"{log_path(home)}",
                log_tail=log_tail(home, offset),
            )
        if read_pid(home) == pid:
            if not dashboard:
                return None
            url = _dashboard_url(home, offset)
            if url is not None and _healthy(url):
                return url
        if time.monotonic() > deadline:
            tail = log_tail(home, offset)
            _end(pid, timeout=10.0)
            _exit_code(pid)  # reap it
            raise ServiceError(
                f"middle serve did not answer within {timeout:g} s, so it was stopped; its "
                f"log is {log_path(home)}",
                log_tail=tail,
            )
        time.sleep(0.05)


def _exit_code(pid: int) -> int | None:
    """The child's exit code once it has ended (and it is reaped), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -1
    return os.waitstatus_to_exitcode(status) if done else None


def _dashboard_url(home: Path, offset: int) -> str | None:
    """The URL the dashboard printed into the log since this start (`--port 0` included)."""
    found = _URL.findall(_new_log(home, offset))
    return found[-1][0] if found else None


def _healthy(url: str) -> bool:
    port = _URL.fullmatch(f"middle dashboard: {url}")
    health = f"http://127.0.0.1:{port.group(2) if port else 0}/health"
    try:
        with urllib.request.urlopen(health, timeout=1) as answer:
            return bool(answer.read() == b"ok")
    except (OSError, urllib.error.URLError):
        return False


def _new_log(home: Path, offset: int) -> str:
    try:
        with log_path(home).open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def log_tail(home: Path, offset: int = 0, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines the log gained since `offset`."""
    return "\n".join(_new_log(home, offset).splitlines()[-lines:])


def stop_service(timeout: float = 10.0) -> Stopped:
    home = middle_home()
    pid = read_pid(home)
    if pid is None:
        if pid_path(home).is_file():
            pid_path(home).unlink()  # unreadable: no serve can own it
            return Stopped("stale")
        return Stopped("not-running")
    if serving_pid(home) != pid:  # dead, a zombie, or a reused pid: never signal it
        pid_path(home).unlink(missing_ok=True)
        return Stopped("stale", pid)
    outcome = _end(pid, timeout)
    pid_path(home).unlink(missing_ok=True)  # serve removes it itself, unless it was killed
    return Stopped(outcome, pid)


def _end(pid: int, timeout: float) -> str:
    """SIGTERM, wait up to `timeout`, then SIGKILL its process group (or it alone when it
    leads none: a foreground serve shares its shell's group)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "stopped"
    except PermissionError as exc:
        raise ServiceError(
            f"middle serve (pid {pid}) belongs to another user; stop it as that user"
        ) from exc
    if _gone_within(pid, timeout):
        return "stopped"
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    if not _gone_within(pid, 10.0):
        raise ServiceError(f"middle serve (pid {pid}) outlived SIGKILL; see: ps -p {pid}")
    return "killed"


def _gone_within(pid: int, timeout: float) -> bool:
    """Wait until the process has ended (gone, or a zombie awaiting its parent)."""
    deadline = time.monotonic() + timeout
    while command_line(pid) is not None:
        if time.monotonic() > deadline:
            return False
        _exit_code(pid)  # reaps it if it is our own child (a start stopping its serve)
        time.sleep(0.05)
    return True
