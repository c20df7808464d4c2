"""One `serve` process drives many live runs (issue 24 item 4), on threads of its own.

Ten runs are orphaned (their foreground dispatchers SIGKILLed mid-turn), one `serve`
adopts them all, one agent is SIGKILLed, serve itself is SIGKILLed and started again, and
every run still ends where it should: no second launch, no `middle resume` process.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from middle.app.demo import sample_epic
from middle.steps.dispatch import worktree_path
from tests.e2e.conftest import Sandbox, git, wait_until

RUNS = 10
SLOW = 120.0  # ten agents and their dispatchers start on a small machine: wait on signals, long


def middle_resume_processes(home: Path) -> list[int]:
    """Live `python -m middle resume` processes of this MIDDLE_HOME."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"middle" in argv and b"resume" in argv and f"MIDDLE_HOME={home}".encode() in environ:
            found.append(int(entry.name))
    return found


def standin_pid(worktree: Path) -> int:
    """The stand-in agent working in `worktree`."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"middle.agents.standin" in argv and (entry / "cwd").resolve() == worktree:
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no stand-in agent runs in {worktree}")


def states(sandbox: Sandbox) -> dict[str, str]:
    return {row["epic_ref"]: row["state"] for row in sandbox.db()["workflows"].rows}


def test_one_serve_hosts_ten_runs_through_an_agent_kill_and_its_own_restart(
    sandbox: Sandbox,
) -> None:
    """Seen red: serve continued each adopted run in a `middle resume` process of its own
    (ten processes, 39 MiB each), which this test finds under /proc."""
    refs = [f"epic-{n}" for n in range(RUNS)]
    for ref in refs:
        text = sample_epic().replace("slug: retry-webhooks", f"slug: {ref}")
        (sandbox.repo / "planning" / "epics" / f"{ref}.md").write_text(text)
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nmax_concurrent = 20\nlaunch_timeout_seconds = 120\nturn_timeout_seconds = 900\n"
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-qm", "ten epics")
    sandbox.home.mkdir(parents=True, exist_ok=True)
    (sandbox.home / "config.toml").write_text("[global]\nmax_concurrent = 20\n")
    release = sandbox.root / "release"
    sandbox.script({"do": "done", "wait_for": str(release)})

    dispatchers = [sandbox.popen("implement", "--issue", ref, "--agent", "command") for ref in refs]
    wait_until(  # every agent has its prompt, and every dispatcher has recorded that
        lambda: (
            len(sandbox.agent_log("turn")) == RUNS
            and sorted(states(sandbox).values()) == ["running"] * RUNS
        ),
        SLOW,
    )
    for dispatcher in dispatchers:  # every run orphaned mid-turn
        dispatcher.send_signal(signal.SIGKILL)
        dispatcher.communicate()

    serve_args = ("serve", "--poll-seconds", "0.5", "--watchdog-seconds", "1")
    service = sandbox.popen(*serve_args)
    log = sandbox.home / "logs" / "serve.log"
    wait_until(lambda: log.exists() and log.read_text().count("adopted issue") == RUNS, SLOW)
    assert middle_resume_processes(sandbox.home) == []

    victim = refs[0]
    os.kill(standin_pid(worktree_path(sandbox.home, sandbox.repo, victim)), signal.SIGKILL)
    wait_until(lambda: states(sandbox)[victim] == "compensated", SLOW)  # its work kept

    service.send_signal(signal.SIGKILL)  # serve dies with its runs' threads
    service.communicate()
    service = sandbox.popen(*serve_args)
    wait_until(lambda: log.read_text().count("adopted issue") == 2 * RUNS - 1, SLOW)
    release.touch()
    wait_until(lambda: list(states(sandbox).values()).count("waiting-human") == RUNS - 1, SLOW)

    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=60)
    assert service.returncode == 0
    assert states(sandbox)[victim] == "compensated"
    assert len(sandbox.agent_log("launch")) == RUNS  # adopted twice, never relaunched
    assert middle_resume_processes(sandbox.home) == []
