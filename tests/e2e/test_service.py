"""`middle serve` and the watchdog: adoption, clean shutdown, stuck and idle sessions."""

from __future__ import annotations

import signal
import subprocess
import time

from middle.store import update_workflow
from tests.e2e.conftest import REF, Sandbox, wait_until


def crashed_dispatcher(sandbox: Sandbox, *turns: dict[str, object]) -> None:
    """Start a turn, then SIGKILL the dispatcher once the agent has its prompt."""
    sandbox.script(*turns)
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn"))
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.communicate()


def test_serve_adopts_an_orphaned_run_and_stops_cleanly_on_sigterm(sandbox: Sandbox) -> None:
    crashed_dispatcher(sandbox, {"do": "done", "delay": 1})
    service = sandbox.popen("serve", "--poll-seconds", "0.5", "--watchdog-seconds", "600")

    wait_until(lambda: sandbox.workflow()["state"] == "waiting-human")
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)

    assert service.returncode == 0
    assert not (sandbox.home / "serve.pid").exists()
    log = (sandbox.home / "logs" / "serve.log").read_text()
    assert f"adopted issue {REF}" in log and log.rstrip().endswith("stopped")
    assert len(sandbox.agent_log("launch")) == 1  # adopted, not relaunched


def test_a_second_serve_is_refused(sandbox: Sandbox) -> None:
    service = sandbox.popen("serve", "--poll-seconds", "600", "--watchdog-seconds", "600")
    wait_until(lambda: (sandbox.home / "serve.pid").exists())
    second = sandbox.middle("serve")
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)
    assert second.returncode == 1 and "middle serve is already running" in second.stderr


def test_a_vanished_session_without_a_question_fails_the_run(sandbox: Sandbox) -> None:
    crashed_dispatcher(sandbox, {"do": "hang"})
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)

    result = sandbox.middle("watchdog")

    assert f"issue {REF}" in result.stdout and "failed" in result.stdout
    row = sandbox.workflow()
    assert (row["state"], row["end_reason"]) == ("failed", "session-vanished")


def test_a_vanished_session_that_left_a_question_is_resumed_and_parks(sandbox: Sandbox) -> None:
    crashed_dispatcher(sandbox, {"do": "ask", "question": "Which queue?", "delay": 0.5})
    wait_until(lambda: (sandbox.worktree() / ".middle" / "blocked.json").exists())
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)

    assert "resumed" in sandbox.middle("watchdog").stdout
    wait_until(lambda: sandbox.workflow()["state"] == "waiting-human")
    epic = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "Which queue?" in epic


def idle_policy(sandbox: Sandbox) -> None:
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 600\n"
        "idle_warning_seconds = 1\nidle_kill_seconds = 6\n"
    )


def test_an_idle_agent_is_warned_then_killed_and_its_dispatcher_fails_the_run(
    sandbox: Sandbox,
) -> None:
    idle_policy(sandbox)
    sandbox.script({"do": "hang"})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn"))
    time.sleep(1.5)  # idle past the warning, well short of the kill
    assert "warned" in sandbox.middle("watchdog").stdout
    time.sleep(5)

    assert "told-dispatcher" in sandbox.middle("watchdog").stdout
    _, err = dispatcher.communicate(timeout=60)

    assert dispatcher.returncode == 1
    assert "the watchdog ended this turn: idle-timeout" in err
    assert sandbox.events("watchdog.idle-warning") and sandbox.sessions() == []


def test_a_session_under_human_control_is_never_killed_for_idling(sandbox: Sandbox) -> None:
    idle_policy(sandbox)
    crashed_dispatcher(sandbox, {"do": "hang"})
    update_workflow(sandbox.db(), sandbox.workflow()["id"], controlled_by="human")
    time.sleep(6.5)  # idle past the kill threshold

    assert sandbox.middle("watchdog").stdout.strip() == "All agent sessions look healthy."
    assert sandbox.workflow()["state"] == "running"
    assert sandbox.sessions() != []
