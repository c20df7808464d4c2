"""`middle start` / `middle stop` / `middle service install` (issue 21 item 3), through the
real CLI: a detached `middle serve` on this test's own MIDDLE_HOME, tmux socket and ports,
and a unit file under this test's own XDG_CONFIG_HOME.

Seen red: before the commands existed, each `middle start|stop|service` call here exited 1
with invoke's "No idea what 'start' is!"."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox


def middle_processes(home: Path) -> list[int]:
    """Every live `python -m middle ...` (serve, its dashboard) whose MIDDLE_HOME is `home`:
    found by their environment, so one the test lost track of is found too."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
            zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if not zombie and b"middle" in argv and f"MIDDLE_HOME={home}".encode() in environ:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, not merely a zombie left for its parent to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def daemon(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The e2e sandbox with HOME and XDG_CONFIG_HOME in tmp_path; any middle process left
    with this MIDDLE_HOME is killed afterwards (and fails the test that left it)."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user" / "config"))
    yield sandbox
    left = middle_processes(sandbox.home)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"middle processes left behind: {left}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_start_then_stop_leaves_no_process_behind(daemon: Sandbox) -> None:
    started = daemon.middle("start", "--repo", str(daemon.repo))
    assert started.returncode == 0, started.stderr
    pid = int((daemon.home / "serve.pid").read_text())
    assert f"middle serve started (pid {pid})" in started.stdout
    assert alive(pid) and b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert middle_processes(daemon.home) == [pid]
    assert os.getsid(pid) == pid  # its own session: no terminal's hangup reaches it
    assert f"started (pid {pid})" in (daemon.home / "logs" / "serve.log").read_text()

    stopped = daemon.middle("stop")

    assert stopped.returncode == 0, stopped.stderr
    assert f"middle serve stopped (pid {pid})" in stopped.stdout
    assert not alive(pid) and middle_processes(daemon.home) == []
    assert not (daemon.home / "serve.pid").exists()


def test_start_with_the_dashboard_answers_and_stop_ends_both(daemon: Sandbox) -> None:
    started = daemon.middle("start", "--dashboard", "--port", "0")
    assert started.returncode == 0, started.stderr
    (url,) = [w for w in started.stdout.split() if w.startswith("http://127.0.0.1:")]
    port = int(url.split(":")[2].split("/")[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
        assert answer.read() == b"ok"
    assert len(middle_processes(daemon.home)) == 2  # serve and its dashboard

    assert daemon.middle("stop").returncode == 0
    assert middle_processes(daemon.home) == []


def test_the_service_keeps_none_of_the_callers_descriptors(daemon: Sandbox) -> None:
    """A pipe `middle start` inherited (a CI runner's, a `$(...)`) is not held open by
    the service for as long as it runs. Seen red: posix_spawn passed it on."""
    read_end, write_end = os.pipe()
    try:
        started = subprocess.run(
            [sys.executable, "-m", "middle", "start"],
            pass_fds=(write_end,),
            capture_output=True,
            text=True,
        )
        assert started.returncode == 0, started.stderr
        pid = int((daemon.home / "serve.pid").read_text())
        pipe = f"pipe:[{os.fstat(read_end).st_ino}]"
        held = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        assert pipe not in held
    finally:
        os.close(read_end)
        os.close(write_end)
        daemon.middle("stop")


def test_a_second_start_is_refused(daemon: Sandbox) -> None:
    assert daemon.middle("start").returncode == 0
    pid = int((daemon.home / "serve.pid").read_text())

    second = daemon.middle("start")

    assert second.returncode == 1
    assert f"middle serve is already running (pid {pid}" in second.stderr
    assert "middle stop" in second.stderr and "Traceback" not in second.stderr
    assert middle_processes(daemon.home) == [pid]
    assert daemon.middle("stop").returncode == 0


def test_a_serve_that_dies_during_start_up_prints_its_log_and_exits_1(daemon: Sandbox) -> None:
    """Its dashboard cannot listen (the port is taken), so serve --dashboard exits.
    Seen red: serve ran on without its dashboard; start waited its 20 s, stopped it and
    said "did not answer" instead of why."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = daemon.middle("start", "--dashboard", "--port", str(port))

    assert started.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in started.stderr  # the log's tail
    assert "middle serve exited during start-up" in started.stderr
    assert started.stderr.strip().splitlines()[-1].startswith("middle: ")
    assert middle_processes(daemon.home) == []
    assert not (daemon.home / "serve.pid").exists()


def test_stop_with_nothing_running_says_so_and_exits_0(daemon: Sandbox) -> None:
    stopped = daemon.middle("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "middle serve is not running" in stopped.stdout


def test_a_stale_pid_file_naming_another_process_is_never_signalled(daemon: Sandbox) -> None:
    """The pid was reused: serve.pid names a `sleep`. Seen red (start): serve's own
    check took any live pid for a running serve and refused to start."""
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        daemon.home.mkdir(exist_ok=True)
        (daemon.home / "serve.pid").write_text(f"{sleeper.pid}\n")

        stopped = daemon.middle("stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"pid {sleeper.pid}" in stopped.stdout and "not middle serve" in stopped.stdout
        assert sleeper.poll() is None  # not signalled
        assert not (daemon.home / "serve.pid").exists()

        (daemon.home / "serve.pid").write_text(f"{sleeper.pid}\n")
        started = daemon.middle("start")
        assert started.returncode == 0, started.stderr
        assert int((daemon.home / "serve.pid").read_text()) != sleeper.pid
        assert daemon.middle("stop").returncode == 0
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def unit_path(daemon: Sandbox) -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / "middle.service"


def test_service_install_writes_a_unit_systemd_accepts(daemon: Sandbox) -> None:
    installed = daemon.middle("service", "install", "--repo", str(daemon.repo), "--dashboard")

    assert installed.returncode == 0, installed.stderr
    unit = unit_path(daemon)
    assert str(unit) in installed.stdout
    assert "systemctl --user daemon-reload && systemctl --user enable --now middle" in (
        installed.stdout
    )
    parsed = configparser.ConfigParser(interpolation=None, strict=False)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parsed.read_string(unit.read_text())
    exec_start = parsed["Service"]["ExecStart"]
    assert exec_start.startswith(f"{sys.executable} -m middle serve --repo {daemon.repo}")
    assert "--dashboard" in exec_start
    assert f"MIDDLE_HOME={daemon.home}" in parsed["Service"]["Environment"]
    assert parsed["Service"]["Restart"] == "on-failure"
    assert parsed["Install"]["WantedBy"] == "default.target"
    systemd_accepts(unit, daemon.root)


def systemd_accepts(unit: Path, tmp_path: Path) -> None:
    """`systemd-analyze --user verify` finds nothing wrong with it (where systemd is)."""
    if not shutil.which("systemd-analyze"):
        return
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    verify = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(unit)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )
    assert verify.returncode == 0, verify.stderr
    assert "middle.service" not in verify.stderr, verify.stderr  # no warning about it


def test_a_unit_for_paths_with_spaces_quotes_and_percent_signs_is_still_valid(
    daemon: Sandbox,
) -> None:
    """systemd splits ExecStart= on spaces and expands %x and $VAR: each is escaped.
    Seen red (the escaping taken out): systemd-analyze warned "Invalid environment
    assignment, ignoring: home" and expanded `%h` of `100%home` to the user's home."""
    odd_home = daemon.root / 'my "home" 100%home $HOME'
    odd_repo = daemon.root / "a repo, 50%off $PWD"
    odd_repo.mkdir()
    installed = daemon.middle(
        "service", "install", "--repo", str(odd_repo), env={"MIDDLE_HOME": str(odd_home)}
    )
    assert installed.returncode == 0, installed.stderr
    systemd_accepts(unit_path(daemon), daemon.root)
    text = unit_path(daemon).read_text()
    assert '--repo "' + str(odd_repo).replace("%", "%%").replace("$", "$$") + '"' in text
    assert '"MIDDLE_HOME=' + str(odd_home).replace("%", "%%").replace('"', '\\"') in text


def test_service_install_refuses_to_overwrite_a_unit_it_did_not_write(daemon: Sandbox) -> None:
    unit = unit_path(daemon)
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/true\n")

    refused = daemon.middle("service", "install")
    assert refused.returncode == 1
    assert str(unit) in refused.stderr and "--force" in refused.stderr
    assert unit.read_text() == "[Service]\nExecStart=/usr/bin/true\n"

    assert daemon.middle("service", "install", "--force").returncode == 0
    assert "-m middle serve" in unit.read_text()
    again = daemon.middle("service", "install")  # its own unit: rewritten without --force
    assert again.returncode == 0, again.stderr


def test_stop_past_its_timeout_kills_the_serve_and_its_dashboard(daemon: Sandbox) -> None:
    """serve ends at most 0.2 s after SIGTERM, so a 0.01 s timeout escalates to SIGKILL
    of its process group: the dashboard goes with it, and the pid file too. Seen red
    (SIGKILL to the serve alone): its dashboard was left behind."""
    assert daemon.middle("start", "--dashboard", "--port", "0").returncode == 0
    pid = int((daemon.home / "serve.pid").read_text())

    stopped = daemon.middle("stop", "--timeout", "0.01")

    assert stopped.returncode == 0, stopped.stderr
    assert f"middle serve (pid {pid}) did not stop within 0.01 s" in stopped.stdout
    assert "killed it (SIGKILL)" in stopped.stdout
    assert middle_processes(daemon.home) == [] and not (daemon.home / "serve.pid").exists()
