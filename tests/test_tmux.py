"""middle's tmux: its own server by default, and a client environment with no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.app.control import attach_command
from middle.system.tmux import Tmux
from tests.e2e.conftest import wait_until


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


def test_a_paste_cannot_end_itself_and_type_what_follows(tmux_socket: str, tmp_path: Path) -> None:
    """The brief pasted into the agent holds issue text. tmux passes an ESC through, so an
    issue whose text held `ESC [201~` ended the bracketed paste early and the rest was
    read as typed keys, its carriage return an Enter. Seen red: the receiving terminal got
    a second `ESC [201~`, before `cd` and a bare Enter."""
    ready, received = tmp_path / "ready", tmp_path / "received"
    sent = "ab\x1b[201~cd\r\x07x\x9b1m\n"
    clean = "ab[201~cd\rx1m\r"  # tmux turns each newline of a paste into a carriage return
    expected = b"\x1b[200~" + clean.encode() + b"\x1b[201~"
    receiver = (  # a TUI that asks for bracketed paste, then records the bytes it gets
        f"printf '\\033[?2004hREADY'; stty raw -echo; touch {ready}; "
        f"head -c {len(expected)} > {received}.part && mv {received}.part {received}; sleep 60"
    )
    tmux = Tmux()
    tmux.new_session("paste", tmp_path, ["sh", "-c", receiver])
    try:
        # READY on the screen: tmux has read the mode switch printed before it (in order)
        wait_until(lambda: ready.exists() and "READY" in tmux.capture("paste", 5))
        tmux.paste("paste", sent)
        wait_until(received.exists)
        assert received.read_bytes() == expected
    finally:
        tmux.kill_session("paste")
