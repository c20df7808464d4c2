"""The launchd agent `middle service install` writes on macOS, checked as data (no launchd
here): it parses as a plist and says what the systemd unit says."""

from __future__ import annotations

import plistlib
import sys
from pathlib import Path

import pytest

from middle.app.service.unit import MARKER, install_service, render_launchd_plist
from middle.errors import ServiceError


def test_the_plist_parses_and_runs_this_middles_serve(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "middle", "serve", "--repo", "/r & <s>"]
    body = render_launchd_plist(argv, {"MIDDLE_HOME": "/h"}, Path("/r & <s>"), Path("/h/l"))

    plist = plistlib.loads(body)

    assert MARKER.encode() in body
    assert plist["ProgramArguments"] == argv
    assert plist["EnvironmentVariables"] == {"MIDDLE_HOME": "/h"}
    assert plist["KeepAlive"] == {"SuccessfulExit": False} and plist["RunAtLoad"] is True
    assert plist["StandardErrorPath"] == "/h/l" and plist["WorkingDirectory"] == "/r & <s>"


def test_install_on_macos_writes_a_launch_agent_and_refuses_a_foreign_one(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    installed = install_service(str(tmp_path), 4120, platform="darwin")

    assert installed.path == tmp_path / "user/Library/LaunchAgents/middle.serve.plist"
    assert installed.enable == f"launchctl load -w {installed.path}"
    argv = plistlib.loads(installed.path.read_bytes())["ProgramArguments"]
    assert argv[2:] == ["middle", "serve", "--repo", str(tmp_path), "--dashboard", "--port", "4120"]
    assert install_service(str(tmp_path), None, platform="darwin").path == installed.path

    installed.path.write_bytes(plistlib.dumps({"Label": "mine"}))
    with pytest.raises(ServiceError, match="middle did not write it"):
        install_service(str(tmp_path), None, platform="darwin")
    assert plistlib.loads(installed.path.read_bytes()) == {"Label": "mine"}
