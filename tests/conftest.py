"""Shared fixtures. Every test gets its own MIDDLE_HOME and database under `tmp_path`, so the
suite is xdist-safe and leaves nothing behind. The store, registry and runner fixtures are
`middle.testing`'s own (`middle_db`, ...), the ones a plugin author gets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private MIDDLE_HOME for this test (and for the CLI processes it starts)."""
    path = tmp_path / "middle-home"
    monkeypatch.setenv("MIDDLE_HOME", str(path))
    monkeypatch.setenv("MIDDLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    return path


@pytest.fixture
def tmux_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private tmux server for this test (`MIDDLE_TMUX_SOCKET`), killed afterwards.
    The folder is short and under /tmp because socket paths are limited to ~100 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="mt-", dir="/tmp"))
    socket = str(folder / "tmux.sock")
    monkeypatch.setenv("MIDDLE_TMUX_SOCKET", socket)
    yield socket
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def run_middle(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `middle` CLI (as `python -m middle`) and capture what a user would see."""
    return subprocess.run(
        [sys.executable, "-m", "middle", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def mypy_strict(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """`mypy --strict` on one file, as a plugin author would run it: outside this repo, so
    no project configuration applies. mypy finds this checkout's `middle` through MYPYPATH,
    since an editable install's import hook is invisible to it."""
    return subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
            "--cache-dir", str(cache / "mypy-cache"), str(path),
        ],
        cwd=cache,
        env={**os.environ, "MYPYPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
