"""What the agent can see of middle's secrets (issue 20 item 8), with the stand-in agent
through the `command` adapter, real tmux and the real `middle` CLI.

middle's own environment holds a GitHub token, a cloud key and a `MIDDLE_*` setting. The
agent may read the tmux server it runs under (`tmux show-environment -g`, the server's
`/proc/<pid>/environ`) and its own `/proc/<pid>/environ`; none of them may hold those.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_middle
from tests.e2e.conftest import REF, Sandbox, wait_until

SECRETS = {
    "GH_TOKEN": "ghp-secret-0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789",
    "MIDDLE_SECRET_X": "middle-secret-0123456789",
}


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-S", socket, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


def leaked(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if name in text or value in text]


def test_the_agent_finds_no_secret_in_tmux_or_in_its_own_environment(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen red: the tmux server middle started held middle's whole environment, so
    `tmux show-environment -g` and the server's /proc environ gave the agent GH_TOKEN, the
    cloud key and MIDDLE_SECRET_X, and the agent's own environment held TMUX, the way to
    that server."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    gate = tmp_path / "finish"
    sandbox.script({"do": "done", "wait_for": str(gate)})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    try:
        wait_until(lambda: sandbox.agent_log("turn"))  # the agent is at work
        server = int(tmux(sandbox.socket, "display-message", "-p", "#{pid}"))
        (pane,) = tmux(sandbox.socket, "list-panes", "-a", "-F", "#{pane_pid}").split()
        agent = environ(int(pane))

        assert leaked(tmux(sandbox.socket, "show-environment", "-g")) == []
        assert leaked("\n".join(f"{k}={v}" for k, v in environ(server).items())) == []
        assert leaked("\n".join(f"{k}={v}" for k, v in agent.items())) == []
        assert "TMUX" not in agent and "TMUX_PANE" not in agent
        assert agent["MIDDLE_SESSION_TOKEN"]  # what the agent needs still reaches it
    finally:
        gate.touch()
        out, err = dispatcher.communicate(timeout=60)
    assert dispatcher.returncode == 0, err
    assert "ready for review" in out


def test_doctor_warns_about_a_tmux_server_that_holds_secrets(
    home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server started by an older middle (or by a person) holds the environment of
    whoever started it, and every agent on it can read that. doctor names the variables,
    never their values, and says how to restart the server. Seen red: no such check."""
    clean = run_middle("doctor")
    assert "✓ tmux server:" in clean.stdout and "not running" in clean.stdout
    env = {**os.environ, **SECRETS}
    subprocess.run(
        ["tmux", "-S", tmux_socket, "new-session", "-d", "-s", "old", "sleep", "600"],
        env=env, check=True,
    )  # fmt: skip
    result = run_middle("doctor")
    (line,) = [line for line in result.stdout.splitlines() if "tmux server" in line]
    assert line.startswith("! tmux server:")
    assert all(name in line for name in SECRETS)
    assert not any(value in result.stdout for value in SECRETS.values())
    assert f"tmux -S {tmux_socket} kill-server" in line
