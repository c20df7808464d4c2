"""What the real Claude Code, driven by middle, can see of middle's secrets (issue 20
item 8): its Bash tool looks where an agent would (its environment, the tmux server's
global environment, the server's /proc environ) and none of them holds a secret that is
in middle's own environment. Claude only: Codex runs under the same launcher and server.
"""

from __future__ import annotations

import shlex

import pytest

from tests.e2e.conftest import sandbox
from tests.real_agents.conformance_agents import done
from tests.real_agents.test_middle_drives_real_clis import RealRun, real

__all__ = ["real", "sandbox"]  # the fixtures, reused

SECRETS = {
    "GH_TOKEN": "ghp-secret-0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789",
    "MIDDLE_SECRET_X": "middle-secret-0123456789",
}
SEEN = ".middle/seen.txt"


@pytest.fixture
def cli() -> str:
    return "claude"


def look_around(socket: str) -> dict[str, list[str]]:
    """The model's turn: write down everything it can find, then finish."""
    tmux = f"tmux -S {shlex.quote(socket)}"
    look = [
        f"env > {SEEN}",
        f"echo TMUX-GLOBAL >> {SEEN}; {tmux} show-environment -g >> {SEEN} 2>&1",
        f"echo TMUX-SERVER >> {SEEN}; "
        f"tr '\\0' '\\n' < /proc/$({tmux} display-message -p '#{{pid}}')/environ >> {SEEN}",
    ]
    finish = done("looked")
    return {"run": [*look, *finish["run"]]}


@pytest.mark.turns(done("placeholder"))
def test_claude_finds_no_secret_of_middles(real: RealRun) -> None:
    """Seen red (on the code before this test): the tmux server middle started held its
    whole environment, so the agent read GH_TOKEN and the rest from it."""
    real.env.update(SECRETS)  # middle's own environment
    real.server.turns[:] = [look_around(real.sandbox.socket)]
    result = real.implement()
    assert result.returncode == 0, result.stderr
    seen = (real.sandbox.worktree() / SEEN).read_text()
    assert "TMUX-GLOBAL" in seen and "TMUX-SERVER" in seen, real.server.tool_outputs()
    assert "HOME=" in seen.split("TMUX-SERVER")[1]  # the server's environ was read
    leaked = [name for name, value in SECRETS.items() if name in seen or value in seen]
    assert leaked == []
    own = seen.split("TMUX-GLOBAL")[0].splitlines()
    assert not [line for line in own if line.startswith(("TMUX=", "TMUX_PANE="))]
