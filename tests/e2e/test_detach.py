"""Ctrl-C and SIGTERM detach a foreground `middle` from its run, as a SIGKILL would: the
agent keeps working in its tmux session, the run is left live with no driver, and
`middle resume` adopts it without a second launch. A second Ctrl-C soon after cancels.

Every test waits on real signals: the run's row says the prompt was delivered, and the
detach line appears on stderr. The stand-in's `wait_for` gate keeps its turn going until
the test lets it finish.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REF, Sandbox, git, wait_until

DETACHED = f"middle: detached; the agent keeps working. Continue with: middle resume --issue {REF}"


def dispatch_and_wait_for_the_turn(
    sandbox: Sandbox, *command: str, turn: int = 1
) -> subprocess.Popen[str]:
    dispatcher = sandbox.popen(*command)
    wait_until(lambda: sandbox.prompted(turn) or dispatcher.poll() is not None, timeout=60)
    assert dispatcher.poll() is None, dispatcher.communicate()
    return dispatcher


def stderr_lines_until(dispatcher: subprocess.Popen[str], wanted: str) -> list[str]:
    """Read the dispatcher's stderr until `wanted` is a line of it (or it closes)."""
    assert dispatcher.stderr is not None
    lines: list[str] = []
    while wanted not in lines:
        line = dispatcher.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_detaches_and_resume_adopts_the_agent_that_kept_working(
    sandbox: Sandbox, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    """Seen red: a SIGINT ran the turn's cleanup, which killed the agent's tmux session,
    and exited 1 with no word; `resume` then found the session gone and compensated the
    run. A SIGTERM exited -15 with nothing said."""
    finish = tmp_path / "finish"
    sandbox.script({"do": "done", "wait_for": str(finish)})
    dispatcher = dispatch_and_wait_for_the_turn(
        sandbox, "implement", "--issue", REF, "--agent", "command"
    )
    (session,) = sandbox.sessions()

    dispatcher.send_signal(signum)
    out, err = dispatcher.communicate(timeout=60)

    assert dispatcher.returncode == code, out + err
    assert DETACHED in err.splitlines(), err
    assert "Traceback" not in err
    assert sandbox.sessions() == [session]  # the agent is still at work
    assert sandbox.workflow()["state"] == "running"
    assert sandbox.events("workflow.detached") == [{"signal": signum.name}]

    finish.touch()
    resumed = sandbox.middle("resume", "--issue", REF)

    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert sandbox.workflow()["state"] == "waiting-human"
    assert len(sandbox.agent_log("launch")) == 1
    assert len(sandbox.agent_log("turn")) == 1
    assert sandbox.events("agent.adopted")
    assert sandbox.events("workflow.compensated") == []


def test_implement_again_on_a_detached_run_points_at_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Seen red: a second `implement` said "wait for it to settle", which a run with no
    driver never does."""
    sandbox.script({"do": "done", "wait_for": str(tmp_path / "never")})
    dispatcher = dispatch_and_wait_for_the_turn(
        sandbox, "implement", "--issue", REF, "--agent", "command"
    )
    dispatcher.send_signal(signal.SIGTERM)
    dispatcher.communicate(timeout=60)

    again = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert again.returncode == 1
    (line,) = again.stderr.strip().splitlines()
    assert "no middle process drives it" in line, line
    assert f"continue it with: middle resume --issue {REF}" in line, line
    assert len(sandbox.agent_log("launch")) == 1


def test_a_second_ctrl_c_cancels_the_run_and_rescues_its_work(sandbox: Sandbox) -> None:
    """Seen red: the first Ctrl-C killed the agent and left the run `running`, and there
    was no second chance to say "cancel it instead"."""
    sandbox.script({"do": "hang"})
    dispatcher = dispatch_and_wait_for_the_turn(
        sandbox, "implement", "--issue", REF, "--agent", "command"
    )
    (sandbox.worktree() / "half-done.txt").write_text("the agent's uncommitted work\n")

    dispatcher.send_signal(signal.SIGINT)
    said = stderr_lines_until(dispatcher, DETACHED)
    assert DETACHED in said, said
    dispatcher.send_signal(signal.SIGINT)
    assert dispatcher.stdout is not None and dispatcher.stderr is not None
    err = "\n".join(said) + "\n" + dispatcher.stderr.read()  # (what readline buffered too)
    out = dispatcher.stdout.read()
    dispatcher.communicate(timeout=120)  # (closes the pipes)

    assert dispatcher.returncode == 1, out + err
    assert "middle: Ctrl-C again within 2 s cancels the run instead" in err, err
    assert f"middle: a second Ctrl-C: cancelling the run of issue {REF}" in err, err
    assert "Traceback" not in err
    row = sandbox.workflow()
    assert row["state"] == "cancelled"
    assert f"uncommitted work saved to branch middle/rescue/{REF}-1" in row["end_reason"]
    assert f"middle/rescue/{REF}-1" in out
    rescued = git(sandbox.repo, "show", f"middle/rescue/{REF}-1:half-done.txt")
    assert rescued == "the agent's uncommitted work"
    assert sandbox.sessions() == []
    assert not sandbox.worktree().exists()


def test_ctrl_c_detaches_answer_too(sandbox: Sandbox, tmp_path: Path) -> None:
    """`answer` drives the run's next turn in the foreground, so it detaches the same way.
    Seen red as `implement` was."""
    finish = tmp_path / "finish"
    sandbox.script(
        {"do": "ask", "question": "Base 2 or 3?"}, {"do": "done", "wait_for": str(finish)}
    )
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    dispatcher = dispatch_and_wait_for_the_turn(
        sandbox, "answer", "--issue", REF, "--text", "Base 2.", turn=2
    )

    dispatcher.send_signal(signal.SIGINT)
    out, err = dispatcher.communicate(timeout=60)

    assert dispatcher.returncode == 130, out + err
    assert DETACHED in err.splitlines(), err
    assert len(sandbox.sessions()) == 1
    finish.touch()
    resumed = sandbox.middle("resume", "--issue", REF)
    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(sandbox.agent_log("launch")) == 2  # one per turn, none for the adoption


def test_ctrl_c_detaches_resume_too_and_the_next_resume_adopts_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """`resume` drives the run it adopts in the foreground, so it lets go the same way.
    Seen red: its Ctrl-C killed the adopted agent."""
    finish = tmp_path / "finish"
    sandbox.script({"do": "done", "wait_for": str(finish)})
    implementing = dispatch_and_wait_for_the_turn(
        sandbox, "implement", "--issue", REF, "--agent", "command"
    )
    implementing.send_signal(signal.SIGTERM)
    implementing.communicate(timeout=60)
    resuming = sandbox.popen("resume", "--issue", REF)
    wait_until(lambda: sandbox.events("agent.adopted") or resuming.poll() is not None)

    resuming.send_signal(signal.SIGINT)
    out, err = resuming.communicate(timeout=60)

    assert resuming.returncode == 130, out + err
    assert DETACHED in err.splitlines(), err
    assert len(sandbox.sessions()) == 1
    finish.touch()
    resumed = sandbox.middle("resume", "--issue", REF)
    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(sandbox.agent_log("launch")) == 1
    assert len(sandbox.events("agent.adopted")) == 2
