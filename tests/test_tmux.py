"""middle's tmux: its own server by default, and a client environment with no secret."""

from __future__ import annotations

import pytest

from middle.app.control import attach_command
from middle.system.tmux import Tmux


def test_middle_uses_its_own_server_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen red: with MIDDLE_TMUX_SOCKET unset, middle ran its agents on the user's
    default server (whose environment is the user's shell's) and said `tmux attach`."""
    monkeypatch.delenv("MIDDLE_TMUX_SOCKET", raising=False)
    assert attach_command("middle-app-7") == "tmux -L middle attach -t =middle-app-7"
    monkeypatch.setenv("MIDDLE_TMUX_SOCKET", "/tmp/my sock")
    assert attach_command("s") == "tmux -S '/tmp/my sock' attach -t =s"


def test_every_tmux_client_gets_only_the_base_allow_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client that starts the server gives it its environment, so no client gets a
    secret (tests/e2e/test_secrets.py shows the server's)."""
    for name, value in {"GH_TOKEN": "g", "ANTHROPIC_API_KEY": "a", "MIDDLE_HOME": "/h"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = Tmux("/tmp/x.sock").env
    assert {"GH_TOKEN", "ANTHROPIC_API_KEY", "MIDDLE_HOME", "TMUX"}.isdisjoint(env)
    assert env["LC_ALL"] == "C.UTF-8"
