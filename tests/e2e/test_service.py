"""`middle serve` and the watchdog: adoption, clean shutdown, stuck and idle sessions."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from middle.store import update_workflow
from tests.e2e.conftest import REF, Sandbox, wait_until


def crashed_dispatcher(sandbox: Sandbox, *turns: dict[str, object]) -> Path:
    """Start a turn, then SIGKILL the dispatcher once the agent has its prompt and the
    dispatcher has recorded that (the run is `running`, not still `launching`). The turns
    hold at a gate until the test opens it (touches the path returned): a turn that ended
    before the kill would leave nothing running to adopt."""
    gate = sandbox.root / "turn-gate"
    sandbox.script(*({**turn, "wait_for": str(gate)} for turn in turns))
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.prompted() or dispatcher.poll() is not None, timeout=60)
    dispatcher.send_signal(signal.SIGKILL)
    _, err = dispatcher.communicate()
    assert dispatcher.returncode == -signal.SIGKILL, err
    return gate


def test_serve_adopts_an_orphaned_run_and_stops_cleanly_on_sigterm(sandbox: Sandbox) -> None:
    gate = crashed_dispatcher(sandbox, {"do": "done"})
    service = sandbox.popen("serve", "--poll-seconds", "0.5", "--watchdog-seconds", "600")
    gate.touch()  # the turn ends with serve up: its Stop reaches the adopted run

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
    crashed_dispatcher(sandbox, {"do": "ask", "question": "Which queue?"}).touch()
    wait_until(lambda: (sandbox.worktree() / ".middle" / "blocked.json").exists())
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)

    assert "resumed" in sandbox.middle("watchdog").stdout
    wait_until(lambda: sandbox.workflow()["state"] == "waiting-human")
    epic = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "Which queue?" in epic


def idle_policy(sandbox: Sandbox, warn: float, kill: float) -> None:
    """Idle limits in the repo's policy, which the watchdog reads again on every pass."""
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 600\n"
        f"idle_warning_seconds = {warn}\nidle_kill_seconds = {kill}\n"
    )


def watchdog_until(sandbox: Sandbox, pattern: str) -> list[str]:
    """Run watchdog passes until one prints `pattern`; every pass's output."""
    passes: list[str] = []
    wait_until(lambda: passes.append(sandbox.middle("watchdog").stdout) or pattern in passes[-1])
    return passes


def test_an_idle_agent_is_warned_then_killed_and_its_dispatcher_fails_the_run(
    sandbox: Sandbox,
) -> None:
    """The kill comes only after a warning. The kill limit is lowered once the warning is
    seen, so no pace of the machine's lets a first pass kill before it warned."""
    idle_policy(sandbox, warn=0.5, kill=600)
    sandbox.script({"do": "hang"})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn"))
    assert "told-dispatcher" not in "".join(watchdog_until(sandbox, "warned"))
    idle_policy(sandbox, warn=0.5, kill=1)

    passes = watchdog_until(sandbox, "told-dispatcher")
    assert not any("warned" in out for out in passes), passes  # it warns once
    _, err = dispatcher.communicate(timeout=60)

    assert dispatcher.returncode == 1
    assert "the watchdog ended this turn: idle-timeout" in err
    assert sandbox.events("watchdog.idle-warning") and sandbox.sessions() == []


def test_a_session_under_human_control_is_never_killed_for_idling(sandbox: Sandbox) -> None:
    idle_policy(sandbox, warn=0.5, kill=1)
    crashed_dispatcher(sandbox, {"do": "hang"})
    update_workflow(sandbox.db(), sandbox.workflow()["id"], controlled_by="human")
    time.sleep(1.5)  # idle past the kill limit (no signal to wait on: nothing may happen)

    assert sandbox.middle("watchdog").stdout.strip() == "All agent sessions look healthy."
    assert sandbox.workflow()["state"] == "running"
    assert sandbox.sessions() != []


def parked_behind_the_watchdogs_back(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """A running run whose session vanished; the first time the watchdog judges it, the
    dispatcher parks it on a question right after that (unlocked) read."""
    from middle.app.service import watchdog

    crashed_dispatcher(sandbox, {"do": "hang"})
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)
    workflow_id = str(sandbox.workflow()["id"])
    judge = watchdog._verdict
    calls = []

    def verdict_then_park(*args: object, **kwargs: object) -> object:
        found = judge(*args, **kwargs)  # type: ignore[arg-type]
        if not calls:
            update_workflow(sandbox.db(), workflow_id, state="waiting-human")
        calls.append(found)
        return found

    monkeypatch.setattr(watchdog, "_verdict", verdict_then_park)
    return workflow_id


def test_the_watchdog_acts_on_what_it_reads_under_the_lock(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 7. Seen red: the watchdog decided from its unlocked read and marked
    a run that had just parked on a question `failed`."""
    from middle.app.service.watchdog import watchdog_once

    parked_behind_the_watchdogs_back(sandbox, monkeypatch)
    assert watchdog_once() == []
    assert sandbox.workflow()["state"] == "waiting-human"


def test_a_broken_repo_config_does_not_stop_the_watchdog_pass(sandbox: Sandbox) -> None:
    """Issue 11 item 8. Seen red: a half-edited policy.toml made `middle watchdog` exit 1
    with a traceback-free error and check nothing else."""
    crashed_dispatcher(sandbox, {"do": "hang"})
    (sandbox.repo / ".middle" / "policy.toml").write_text("[limits\nmax_concurrent = ")
    result = sandbox.middle("watchdog")
    assert result.returncode == 0, result.stderr
    assert f"issue {REF}" in result.stderr and "cannot check it" in result.stderr
    assert "policy.toml is not valid TOML" in result.stderr


def test_serve_and_poll_carry_on_past_a_broken_repo_and_status_names_it(
    sandbox: Sandbox,
) -> None:
    """Issue 11 item 8. Seen red: `middle serve` exited at start (adopting the run raised
    ConfigError), and `middle status` did not say which repo was broken."""
    crashed_dispatcher(sandbox, {"do": "hang"})
    (sandbox.repo / ".middle" / "policy.toml").write_text("[limits\n")
    service = sandbox.popen("serve", "--poll-seconds", "0.2", "--watchdog-seconds", "0.2")
    log = sandbox.home / "logs" / "serve.log"
    wait_until(lambda: log.exists() and log.read_text().count("cannot check it") >= 2)
    assert service.poll() is None  # still serving
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)
    assert service.returncode == 0
    text = log.read_text()
    assert f"adopt: issue {REF} in {sandbox.repo}" in text and "not valid TOML" in text
    status = sandbox.middle("status")
    assert status.returncode == 0 and "config broken in" in status.stdout


@pytest.mark.parametrize("command", [["recommend"], ["docs"]], ids=["recommender", "docs"])
def test_a_recommender_or_docs_run_whose_dispatcher_died_is_failed(
    sandbox: Sandbox, command: list[str]
) -> None:
    """A recommender (or documentation) run's dispatcher is killed mid-turn and its session
    is gone: the run would stay `running` for good (and a live recommender keeps serve from
    starting the next). Seen red: the watchdog checked implementation runs only and said
    "All agent sessions look healthy."."""
    sandbox.script({"do": "hang"})
    dispatcher = sandbox.popen(*command, "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn") and sandbox.workflow()["state"] == "running")
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.communicate()
    subprocess.run(["tmux", "-S", sandbox.socket, "kill-server"], capture_output=True)

    result = sandbox.middle("watchdog")

    kind = sandbox.workflow()["kind"]
    assert f"({kind})" in result.stdout and "failed" in result.stdout, result.stdout
    row = sandbox.workflow()
    assert (row["state"], row["end_reason"]) == ("failed", "session-vanished")
