"""`middle implement` end to end: real git, real tmux, the stand-in agent, the real CLI."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from middle.store import update_workflow
from tests.e2e.conftest import REF, Sandbox, git, wait_until


def test_done_then_review_then_approve_keeps_the_branch_and_removes_the_worktree(
    sandbox: Sandbox,
) -> None:
    sandbox.script({"do": "done"})
    base_before = git(sandbox.repo, "rev-parse", "main")

    dispatched = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert dispatched.returncode == 0, dispatched.stderr
    assert "ready for review" in dispatched.stdout
    assert sandbox.workflow()["state"] == "waiting-human"
    assert sandbox.sessions() == []  # the turn ended, so did its session

    approved = sandbox.middle("review", "--issue", REF, "--approve")

    assert approved.returncode == 0, approved.stderr
    assert "completed" in approved.stdout
    assert sandbox.workflow()["state"] == "completed"
    assert not sandbox.worktree().exists()
    assert "stand-in: turn 1" in git(sandbox.repo, "log", "--format=%s", f"middle/issue-{REF}")
    assert git(sandbox.repo, "rev-parse", "main") == base_before  # nothing merged


def test_a_question_parks_and_the_answer_reaches_the_resumed_agent_verbatim(
    sandbox: Sandbox,
) -> None:
    sandbox.script({"do": "ask", "question": "Exponential base 2 or 3?"}, {"do": "done"})

    asked = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert asked.returncode == 0, asked.stderr
    assert "Exponential base 2 or 3?" in asked.stdout
    assert "middle answer --issue retry-webhooks" in asked.stdout
    assert not (sandbox.worktree() / ".middle" / "blocked.json").exists()  # consumed
    epic = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "Exponential base 2 or 3?" in epic and "status=open" in epic

    answer = "Base 2; cap the delay at 5 minutes. Don't retry 4xx!"
    answered = sandbox.middle("answer", "--issue", REF, "--text", answer)

    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    second_turn = sandbox.agent_log("turn")[1]
    assert answer in second_turn["brief"]
    assert len(sandbox.agent_log("launch")) == 2  # a fresh session for the new turn...
    assert str(sandbox.worktree()) in sandbox.workflow()["worktree_path"]  # ...same worktree
    epic = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "status=resolved" in epic and answer in epic  # v1 vocabulary (issue 13)


def test_a_bare_stop_is_nudged_then_the_agent_finishes(sandbox: Sandbox) -> None:
    sandbox.script({"do": "bare"}, {"do": "done"})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert [turn["prompt"] for turn in sandbox.agent_log("turn")][1] == "continue"
    assert sandbox.events("agent.nudged") == [{"nudge": 1, "why": "stopped without a sentinel"}]


def test_three_bare_stops_park_for_a_human(sandbox: Sandbox) -> None:
    sandbox.script(*[{"do": "bare"}] * 4)
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 0, result.stderr
    assert "stopped 3 times without finishing" in result.stdout
    assert len(sandbox.events("agent.nudged")) == 3


def test_a_bare_stop_middle_may_not_nudge_says_so(sandbox: Sandbox, tmp_path: Path) -> None:
    """A stop without a sentinel in a session a person took over is not nudged, and the
    park says why. Seen red: it said "the agent stopped 3 times without finishing" after
    no nudge at all (also what a Claude session that ended at its stop printed in CI)."""
    gate = tmp_path / "stop-now"
    sandbox.script({"do": "bare", "wait_for": str(gate)})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn"))
    update_workflow(sandbox.db(), sandbox.workflow()["id"], controlled_by="human")
    gate.touch()
    out, err = dispatcher.communicate(timeout=60)

    assert dispatcher.returncode == 0, err
    assert "middle could not nudge it (its session ended, or a person took it over)" in out
    assert sandbox.events("agent.nudged") == []


def test_a_usage_limit_parks_the_run_rate_limited(sandbox: Sandbox) -> None:
    """The stand-in reports the limit as Claude Code does: a StopFailure hook with
    `Claude AI usage limit reached|<epoch>`. The reset shown is that epoch, in local time."""
    sandbox.script({"do": "rate-limit", "reset_in": 7200})
    before = time.time()
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 0, result.stderr
    hours = {f"{datetime.fromtimestamp(t + 7200).astimezone():%H:}" for t in (before, time.time())}
    assert any(f"usage limit (it resets at {hour}" in result.stdout for hour in hours)
    assert sandbox.workflow()["state"] == "rate-limited"


def test_an_agent_that_gives_up_fails_the_run_with_its_reason(sandbox: Sandbox) -> None:
    sandbox.script({"do": "fail", "reason": "the webhook API has no retry hook"})
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"middle: issue {REF} failed: agent gave up: the webhook API has no retry hook"
    )
    assert sandbox.workflow()["state"] == "failed"


def test_a_malformed_question_sentinel_still_parks_with_a_placeholder(sandbox: Sandbox) -> None:
    sandbox.script({"do": "ask", "malformed": True})
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 0, result.stderr
    assert "(question text unavailable)" in result.stdout


def git_shim(sandbox: Sandbox, failures: int) -> dict[str, str]:
    """A `git` ahead of the real one on PATH whose `worktree add` fails `failures` times."""
    shim_dir = sandbox.root / "shim"
    shim_dir.mkdir()
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    counter = sandbox.root / "worktree-add-failures"
    shim = shim_dir / "git"
    shim.write_text(
        f"""#!/bin/sh
if [ "$1" = worktree ] && [ "$2" = add ]; then
  n=$(cat {counter} 2>/dev/null || echo 0)
  if [ "$n" -lt {failures} ]; then
    echo $((n + 1)) > {counter}
    echo "fatal: could not lock config file .git/config: File exists (simulated)" >&2
    exit 128
  fi
fi
exec {real_git} "$@"
"""
    )
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"}


def test_a_worktree_add_that_fails_once_is_retried_with_no_unique_error_anywhere(
    sandbox: Sandbox,
) -> None:
    """The seed system's bug, end to end: a retried step re-runs its inserts.

    Seen red with a plain INSERT in `insert_idempotent`: the second attempt's checkpoint
    insert raised `UNIQUE constraint failed: steps.workflow_id, steps.name`, which reached
    the user instead of the recovery. Green with the PK-scoped insert.
    """
    sandbox.script({"do": "done"})
    result = sandbox.middle(
        "implement", "--issue", REF, "--agent", "command", env=git_shim(sandbox, 1)
    )

    assert result.returncode == 0, result.stderr
    (failure,) = sandbox.events("step.attempt-failed")
    assert failure["step"] == "prepare-worktree" and "(simulated)" in failure["message"]
    everything = result.stdout + result.stderr + str(list(sandbox.db()["events"].rows))
    assert "UNIQUE" not in everything
    assert sandbox.db()["workflows"].count == 1


def test_a_worktree_add_that_always_fails_shows_gits_message_and_ends_failed(
    sandbox: Sandbox,
) -> None:
    sandbox.script({"do": "done"})
    result = sandbox.middle(
        "implement", "--issue", REF, "--agent", "command", env=git_shim(sandbox, 99)
    )

    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert "could not lock config file" in line and "Traceback" not in result.stderr
    assert sandbox.workflow()["state"] == "failed"
    assert len(sandbox.events("step.attempt-failed")) == 3


def test_three_concurrent_dispatches_one_runs_two_are_refused(sandbox: Sandbox) -> None:
    sandbox.script({"do": "ask", "question": "Which queue?"})
    racers = [sandbox.popen("implement", "--issue", REF, "--agent", "command") for _ in range(3)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    results = [
        (racer.returncode, out, err) for racer, (out, err) in zip(racers, outputs, strict=True)
    ]

    assert sorted(code for code, _, _ in results) == [0, 1, 1]
    refusals = [err for code, _, err in results if code == 1]
    for refusal in refusals:
        assert "already has a live workflow" in refusal and "Traceback" not in refusal
    assert sandbox.db()["workflows"].count == 1
    assert len(sandbox.agent_log("launch")) == 1


def test_sigkill_mid_turn_then_resume_adopts_the_session_without_a_second_launch(
    sandbox: Sandbox,
) -> None:
    gate = sandbox.root / "finish"
    sandbox.script({"do": "done", "wait_for": str(gate)})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(sandbox.prompted)  # the agent got its prompt, and middle recorded that
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.communicate()
    gate.touch()  # the turn ends with nobody watching: its Stop waits in the spool
    wait_until(lambda: list((sandbox.worktree() / ".middle" / "spool").glob("*.hook")))

    resumed = sandbox.middle("resume", "--issue", REF)

    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(sandbox.agent_log("launch")) == 1
    assert sandbox.workflow()["state"] == "waiting-human"
    assert sandbox.events("agent.adopted")
    assert len(sandbox.events("hook.Stop")) == 1


def test_cancel_during_a_turn_stops_the_agent_and_cleans_up(sandbox: Sandbox) -> None:
    sandbox.script({"do": "hang"})
    dispatcher = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn"))

    cancelled = sandbox.middle("cancel", "--issue", REF)
    dispatcher.communicate(timeout=60)
    code = dispatcher.returncode

    assert cancelled.returncode == 0, cancelled.stderr
    assert code == 1
    assert sandbox.workflow()["state"] == "cancelled"
    assert sandbox.sessions() == []
    assert not sandbox.worktree().exists()


def test_a_repo_local_plugin_step_runs_inside_implement(sandbox: Sandbox) -> None:
    plugin = sandbox.repo / ".middle" / "plugins" / "stamp.py"
    plugin.parent.mkdir()
    plugin.write_text(
        """
from pathlib import Path
from middle import hookimpl, step

@step
def stamp(ctx):
    worktree = Path(ctx.results["prepare-worktree"]["worktree"])
    (worktree / ".middle").mkdir(exist_ok=True)
    (worktree / ".middle" / "stamped").write_text(ctx.workflow_id)
    return {"stamped": True}

@hookimpl
def middle_register_steps(registry):
    registry.add(stamp)

@hookimpl
def middle_configure_workflow(workflow):
    if workflow.name == "implementation":
        workflow.insert_after("prepare-worktree", "stamp")
"""
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "add a plugin")
    sandbox.script({"do": "done"})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert (sandbox.worktree() / ".middle" / "stamped").read_text() == sandbox.workflow()["id"]
    names = [row["name"] for row in sandbox.db()["steps"].rows_where(order_by="position")]
    assert names[:3] == ["check-slots", "prepare-worktree", "stamp"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--issue", "../etc"], "is not a valid ref"),
        (["--issue", "x;rm -rf ~"], "is not a valid ref"),
        (["--issue", "$(touch pwned)"], "is not a valid ref"),
        (["--issue", "no-such-epic"], "no Epic 'no-such-epic'"),
        (["--issue", REF, "--agent", "gpt-9"], "unknown adapter 'gpt-9'"),
        (["--issue", REF, "--agent", "claude"], "'definitely-not-installed' is not on PATH"),
        (["--issue", REF, "--repo", "/"], "is not a git repository"),
        (["--issue", "broken"], "line 3: expected the title"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_leaves_nothing_behind(
    sandbox: Sandbox, args: list[str], message: str
) -> None:
    (sandbox.home).mkdir(parents=True, exist_ok=True)
    (sandbox.home / "config.toml").write_text(
        '[adapters.claude]\nbinary = "definitely-not-installed"\n'
    )
    (sandbox.repo / "planning" / "epics" / "broken.md").write_text(
        "<!-- middle:epic v1 -->\n\nno title here\n"
    )
    sandbox.script({"do": "done"})

    agent = [] if "--agent" in args else ["--agent", "command"]
    result = sandbox.middle("implement", *agent, *args)

    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("middle: ") and message in line, line
    assert not (sandbox.root / "repo" / "pwned").exists()
    db_file = sandbox.home / "db.sqlite3"
    assert not db_file.exists() or sandbox.db()["workflows"].count == 0
    assert not (sandbox.home / "worktrees").exists()
    assert sandbox.sessions() == []


@pytest.mark.parametrize(
    "command",
    [
        ["answer", "--issue", REF, "--text", "hello"],
        ["review", "--issue", REF, "--approve"],
        ["cancel", "--issue", REF],
    ],
)
def test_answer_review_and_cancel_with_nothing_parked_are_refused(
    sandbox: Sandbox, command: list[str]
) -> None:
    result = sandbox.middle(*command)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "has no live workflow" in line


def test_answering_a_run_that_waits_for_review_points_at_review(sandbox: Sandbox) -> None:
    sandbox.script({"do": "done"})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    result = sandbox.middle("answer", "--issue", REF, "--text", "hi")
    assert result.returncode == 1
    assert "waiting for a review, not an answer" in result.stderr


def test_request_changes_runs_another_round_with_the_feedback_verbatim(
    sandbox: Sandbox,
) -> None:
    sandbox.script({"do": "done"}, {"do": "done"})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")

    feedback = "Please add jitter; and `retry_after` must be honoured."
    result = sandbox.middle("review", "--issue", REF, "--request-changes", feedback)

    assert result.returncode == 0, result.stderr
    last_turn = sandbox.agent_log("turn")[-1]
    assert feedback in last_turn["brief"] and "round 1" in last_turn["brief"]


def test_the_review_round_cap_parks_for_a_human(sandbox: Sandbox) -> None:
    sandbox.script(*[{"do": "done"}] * 7)
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    for round_number in range(1, 6):
        result = sandbox.middle("review", "--issue", REF, "--request-changes", f"r{round_number}")
        assert "ready for review" in result.stdout, result.stderr

    capped = sandbox.middle("review", "--issue", REF, "--request-changes", "one more")

    assert capped.returncode == 0, capped.stderr
    assert "review round cap (5) reached" in capped.stdout
    assert sandbox.events("review.round-cap")[0]["rounds"] == 5
    assert len(sandbox.agent_log("launch")) == 6
    assert sandbox.middle("review", "--issue", REF, "--approve").returncode == 0
    assert sandbox.workflow()["state"] == "completed"


def test_status_shows_the_parked_workflow(sandbox: Sandbox) -> None:
    sandbox.script({"do": "ask", "question": "?"})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    table = sandbox.middle("status").stdout
    assert REF in table and "waiting-human" in table and "?" in table


def test_a_missing_agent_cli_says_why_that_adapter_was_chosen(sandbox: Sandbox) -> None:
    """Issue 11 item 14. Seen red: the refusal named claude's binary but not why claude
    was chosen (the built-in default), so a user who set only the command adapter's argv
    in the wrong file could not tell what to change."""
    (sandbox.home).mkdir(parents=True, exist_ok=True)
    (sandbox.home / "config.toml").write_text(
        '[adapters.claude]\nbinary = "definitely-not-installed"\n'
    )
    result = sandbox.middle("implement", "--issue", REF, env={"MIDDLE_AGENT_COMMAND": ""})
    assert result.returncode == 1
    assert "middle chose the claude adapter from [global] default_adapter" in result.stderr
    assert "pass --agent" in result.stderr


def test_an_unapproved_epic_is_refused_unless_forced(sandbox: Sandbox) -> None:
    """Issue 11 item 16. Seen red: `approved: false` dispatched silently."""
    epic = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    epic.write_text(epic.read_text().replace("approved: true", "approved: false"))
    sandbox.script({"do": "done"})
    refused = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert refused.returncode == 1
    assert f"issue {REF} is not approved; set `approved: true`" in refused.stderr
    assert "--force" in refused.stderr and sandbox.db()["workflows"].count == 0
    forced = sandbox.middle("implement", "--issue", REF, "--agent", "command", "--force")
    assert forced.returncode == 0, forced.stderr


def write_answer_into_the_epic(sandbox: Sandbox, text: str) -> Path:
    from middle.issues.epic_blocks import ANSWER_PLACEHOLDER

    epic = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    epic.write_text(epic.read_text().replace(ANSWER_PLACEHOLDER, f"{ANSWER_PLACEHOLDER}\n{text}"))
    return epic


def test_an_answer_written_into_the_epic_file_is_picked_up_by_poll(sandbox: Sandbox) -> None:
    """Issue 11 item 15. Seen red: poll ignored an answer written where the Epic says to
    write it ("Nothing to resume.")."""
    sandbox.script({"do": "ask", "question": "Base 2 or 3?"}, {"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    epic = write_answer_into_the_epic(sandbox, "Base 2, capped at 5 minutes.")

    polled = sandbox.middle("poll")

    assert f"issue {REF}: answer" in polled.stdout, polled.stdout + polled.stderr
    assert "Base 2, capped at 5 minutes." in sandbox.agent_log("turn")[1]["brief"]
    assert "status=resolved" in epic.read_text()
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."


def test_middle_answer_never_overwrites_an_answer_written_in_the_file(sandbox: Sandbox) -> None:
    """Issue 11 item 15. Seen red: a later `middle answer` replaced the written answer."""
    sandbox.script({"do": "ask", "question": "Base 2 or 3?"}, {"do": "done"})
    sandbox.middle("implement", "--issue", REF, "--agent", "command")
    epic = write_answer_into_the_epic(sandbox, "Base 2.")
    result = sandbox.middle("answer", "--issue", REF, "--text", "Base 3.")
    assert result.returncode == 1 and "already has an answer written in" in result.stderr
    assert "Base 2." in epic.read_text() and "Base 3." not in epic.read_text()


def test_a_turn_timeout_is_reported_as_a_timeout(sandbox: Sandbox) -> None:
    """Issue 11 item 17. Seen red: a turn that hit turn_timeout_seconds was reported as
    "the agent stopped 3 times without finishing"."""
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 0.5\n"
    )
    sandbox.script(*[{"do": "hang"}] * 4)
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 0, result.stderr
    assert "the agent's turn timed out after 0.5s (turn_timeout_seconds" in result.stdout


def test_a_hook_sent_while_middle_is_still_launching_counts(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick CLI can send SessionStart before middle, under load, gets back from
    starting its session. A `tmux` first on PATH holds middle back 1.5 s after each
    `new-session`, as a loaded machine may. Seen red: the launch time was taken after the
    session started, so the agent's SessionStart counted as an earlier session's and the
    launch timed out ("not ready within 5s"; in CI, two fan-out tests, once)."""
    real_tmux = shutil.which("tmux")
    bin_dir = sandbox.root / "bin"
    bin_dir.mkdir()
    (bin_dir / "tmux").write_text(
        f'#!/bin/sh\n{real_tmux} "$@"; code=$?\n'
        'for arg in "$@"; do [ "$arg" = new-session ] && sleep 1.5; done\nexit $code\n'
    )
    (bin_dir / "tmux").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 60\n"
    )  # a dropped SessionStart never arrives: red at any limit, this one spares a slow start
    sandbox.script({"do": "done"})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready for review" in result.stdout


# npm's `copilot` is a node loader that runs the native binary as its child and dies at
# the hang-up at once, while the binary goes on writing its session
LOADER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


@pytest.mark.parametrize("loader", [False, True], ids=["the-cli", "behind-a-loader"])
def test_an_answer_starts_the_agent_after_its_last_process_exited(
    sandbox: Sandbox, loader: bool
) -> None:
    """A CLI killed at a park may still be writing the session it is resumed from (Copilot
    CLI writes its session late). The stand-in here writes its transcript 1.5 s after the
    hang-up. Seen red: the answer's turn started it at once, it found no first turn and
    asked again (as real Copilot did once under load in CI). Behind a loader, seen red
    while only the pane's own process was waited for (real Copilot again, in a rehearsal):
    the loader had exited, its child had not."""
    sandbox.script({"do": "ask", "question": "Which base?"}, {"do": "done"})
    os.environ["MIDDLE_AGENT_COMMAND"] += " --save-at-exit 1.5"
    if loader:
        wrapper = shlex.join([sys.executable, "-c", LOADER])
        os.environ["MIDDLE_AGENT_COMMAND"] = f"{wrapper} {os.environ['MIDDLE_AGENT_COMMAND']}"

    asked = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    answered = sandbox.middle("answer", "--issue", REF, "--text", "Base 2.")

    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "ready for review" in answered.stdout
    assert [turn["turn"] for turn in sandbox.agent_log("turn")] == [1, 2]


def test_a_pid_carried_from_another_machine_is_not_waited_for(sandbox: Sandbox) -> None:
    """A run carried to a CI runner keeps its last CLI's pid, which here may be any
    process's. Seen red: the answer's launch waited 10 s for an unrelated live group."""
    from middle.engine.runs import Runs

    sandbox.script({"do": "ask", "question": "Which base?"}, {"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        runs, workflow_id = Runs(sandbox.db()), sandbox.workflow()["id"]
        runs.save_scratch(workflow_id, "agent_pid", stranger.pid)
        runs.save_scratch(workflow_id, "agent_host", "another-runner")
        answered = sandbox.middle("answer", "--issue", REF, "--text", "Base 2.")
    finally:
        stranger.kill()
        stranger.wait()
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert sandbox.events("agent.previous-still-running") == []


def test_a_missing_required_flag_names_the_task_in_its_hint(sandbox: Sandbox) -> None:
    """Issue 11 item 17. Seen red: the hint printed a literal `<task>` placeholder."""
    result = sandbox.middle("answer", "--issue", REF)
    assert result.stderr.strip() == "middle: --text is required; see: middle answer --help"
