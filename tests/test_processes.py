"""`system/processes.py`: whether a process group still runs, read from /proc where there
is one and from `ps` where there is not (macOS), against real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from middle.system.processes import group_alive
from tests.e2e.conftest import wait_until

PS_ONLY = Path("/nonexistent-proc")  # as on macOS: no /proc, so `ps` answers
LOADER = (  # starts its worker, says so, and exits: as npm's `copilot` leaves its binary
    "import subprocess, sys; subprocess.Popen(['sleep', '60'], stdout=subprocess.DEVNULL); "
    "print('started', flush=True)"
)


@pytest.mark.parametrize("proc", [Path("/proc"), PS_ONLY], ids=["proc", "ps"])
def test_a_group_is_alive_while_a_child_of_its_leader_runs(proc: Path) -> None:
    """The leader gone, its child still counts, and once that ends (a zombie awaiting
    init counts as ended) the group is gone. Seen red with the leader's pid alone: the
    loader had exited, its child had not."""
    if proc != PS_ONLY and not proc.is_dir():
        pytest.skip("no /proc on this machine")
    leader = subprocess.Popen(
        [sys.executable, "-c", LOADER], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    with leader:
        assert leader.stdout is not None and leader.stdout.readline() == "started\n"
    try:
        assert group_alive(leader.pid, proc)  # the leader exited and was reaped
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
    wait_until(lambda: not group_alive(leader.pid, proc))
