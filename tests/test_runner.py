"""The durable runner: retries, checkpoints, compensation, parking, cancel, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database
from tenacity import retry_if_exception, stop_after_attempt, wait_fixed

from middle import StepContext, Workflow, branch, loop, step, wait_for
from middle.engine import Registry, Runner
from middle.engine.locks import RunLocks
from middle.errors import (
    RunDetached,
    SignalTimeoutError,
    StepOutputError,
    WorkflowBusyError,
    WorkflowCancelled,
    WorkflowChangedError,
    WorkflowError,
)
from middle.store import create_workflow_record, database_file, get_workflow, load_checkpoints
from middle.store.base import PatientConnection
from middle.store.records import request_cancel
from middle.testing import StepHarness
from tests.write_lock import write_lock_held

INPUT = {"repo": "/src/app", "ref": "108", "adapter": "claude"}


class Calls:
    """Counts step runs. (The runner's requested sleeps are `middle_harness.sleeps`.)"""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def count(self, name: str) -> int:
        return self.runs.count(name)


@pytest.fixture
def calls() -> Calls:
    return Calls()


def noop(name: str, calls: Calls, **options: Any) -> Any:
    def body(ctx: StepContext) -> dict[str, Any]:
        calls.runs.append(name)
        return {"step": name}

    return step(name, **options)(body)


def test_seed_scenario_a_retried_record_insert_does_not_mask_the_recovery(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    """The bug this project was founded on, at the engine level.

    The step inserts its record, then fails transiently on its first attempt. Seen red with
    a plain INSERT in `insert_idempotent` (every attempt died on `UNIQUE constraint failed`,
    which reached the caller instead of the recovery) and green with the PK-scoped insert.
    """

    @step("prepare-worktree", wait=wait_fixed(2))
    def prepare(ctx: StepContext) -> dict[str, str]:
        calls.runs.append("prepare-worktree")
        create_workflow_record(
            ctx.db, id=ctx.workflow_id, kind="implementation", repo="/src/app",
            epic_ref="108", adapter="claude",
        )  # fmt: skip
        if ctx.attempt == 1:
            raise OSError("git worktree add: index.lock exists")
        return {"worktree": "/tmp/wt"}

    result = middle_harness.run(prepare, input=INPUT, workflow_id="wf-seed", name="implementation")

    assert result.status == "completed"
    assert calls.count("prepare-worktree") == 2
    assert middle_db["workflows"].count == 1
    assert middle_harness.events("step.attempt-failed") == [
        {
            "step": "prepare-worktree",
            "attempt": 1,
            "type": "OSError",
            "message": "git worktree add: index.lock exists",
        }
    ]
    assert middle_harness.sleeps == [2.0]  # the policy's wait was asked for, and not slept


def test_exhausted_retries_surface_the_real_exception_and_record_every_attempt(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    @step
    def flaky_disk(ctx: StepContext) -> None:
        calls.runs.append("flaky-disk")
        raise ValueError(f"disk full on attempt {ctx.attempt}")

    with pytest.raises(ValueError, match="disk full on attempt 3"):
        middle_harness.run(flaky_disk, input=INPUT, workflow_id="wf-1", name="wf")

    assert calls.count("flaky-disk") == 3
    assert [e["attempt"] for e in middle_harness.events("step.attempt-failed")] == [1, 2, 3]
    row = get_workflow(middle_db, "wf-1")
    assert row["state"] == "failed"  # nothing had completed: failed, never left pending
    assert row["end_reason"] == "flaky-disk: ValueError: disk full on attempt 3"
    (checkpoint,) = middle_harness.checkpoints("wf-1")
    assert (checkpoint["status"], checkpoint["attempts"]) == ("failed", 3)


def test_one_attempt_means_no_retry(middle_harness: StepHarness, calls: Calls) -> None:
    @step(stop=stop_after_attempt(1))
    def once(ctx: StepContext) -> None:
        calls.runs.append("once")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        middle_harness.run(once, input=INPUT, name="wf")
    assert calls.count("once") == 1 and middle_harness.sleeps == []


def test_compensations_run_in_reverse_order_and_the_state_is_compensated(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    def undo(name: str) -> Any:
        def compensate(ctx: StepContext) -> None:
            calls.runs.append(f"undo-{name}:{ctx.results[name]['step']}")

        return compensate

    first = noop("first", calls, compensate=undo("first"))
    second = noop("second", calls, compensate=undo("second"))
    plain = noop("plain", calls)

    @step(stop=stop_after_attempt(2))
    def boom(ctx: StepContext) -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        middle_harness.run(first, second, plain, boom, input=INPUT, workflow_id="wf-1", name="wf")

    assert calls.runs == ["first", "second", "plain", "undo-second:second", "undo-first:first"]
    row = get_workflow(middle_db, "wf-1")
    assert row["state"] == "compensated"
    assert row["end_reason"] == "boom: KeyError: 'missing'"
    statuses = {cp["name"]: cp["status"] for cp in middle_harness.checkpoints("wf-1")}
    assert statuses == {
        "first": "compensated",
        "second": "compensated",
        "plain": "completed",
        "boom": "failed",
    }


def test_a_failing_compensation_is_recorded_and_the_rest_still_run(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    def bad_undo(ctx: StepContext) -> None:
        raise RuntimeError("tmux is gone")

    first = noop("first", calls, compensate=lambda ctx: calls.runs.append("undo-first"))
    second = noop("second", calls, compensate=bad_undo)

    @step(stop=stop_after_attempt(1))
    def boom(ctx: StepContext) -> None:
        raise ValueError("real cause")

    with pytest.raises(ValueError, match="real cause"):
        middle_harness.run(first, second, boom, input=INPUT, workflow_id="wf-1", name="wf")

    assert calls.runs[-1] == "undo-first"
    assert middle_harness.events("step.compensation-failed") == [
        {"step": "second", "type": "RuntimeError", "message": "tmux is gone"}
    ]
    assert get_workflow(middle_db, "wf-1")["state"] == "compensated"


def test_park_then_signal_then_resume_continues_after_the_wait(
    middle_db: Database, middle_harness: StepHarness, middle_runner: Runner, calls: Calls
) -> None:
    @step
    def use_answer(ctx: StepContext) -> str:
        calls.runs.append("use-answer")
        return str(ctx.results["wait-for-answer"]["text"])

    nodes = noop("ask", calls), wait_for("answer"), use_answer

    parked = middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1", name="wf")
    assert (parked.status, parked.waiting_for) == ("parked", "answer")
    assert get_workflow(middle_db, "wf-1")["state"] == "waiting-human"
    assert middle_runner.resume("wf-1").status == "parked"  # no signal yet: parked, no rerun

    assert middle_runner.signal("wf-1", "answer", {"text": "use SQLite"}) is True
    assert middle_runner.signal("wf-1", "answer", {"text": "a second click"}) is False
    done = middle_runner.resume("wf-1")

    assert done.status == "completed"
    assert done.results["use-answer"] == "use SQLite"
    assert calls.runs == ["ask", "use-answer"]


def test_a_signal_that_arrives_before_the_wait_falls_straight_through(
    middle_harness: StepHarness, middle_runner: Runner, calls: Calls
) -> None:
    @step
    def hook_arrives(ctx: StepContext) -> None:
        middle_runner.signal(ctx.workflow_id, "stop", {"event": "Stop"})

    nodes = hook_arrives, wait_for("stop"), noop("after", calls)

    result = middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1", name="wf")
    assert result.status == "completed"
    assert result.results["wait-for-stop"] == {"event": "Stop"}
    assert middle_harness.events("workflow.parked") == []


def test_a_wait_past_its_deadline_fails_the_run(
    middle_db: Database, middle_harness: StepHarness, middle_runner: Runner, calls: Calls
) -> None:
    nodes = noop("a", calls), wait_for("answer", timeout=0)
    assert middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1").status == "parked"

    with pytest.raises(SignalTimeoutError, match="waited for signal 'answer'"):
        middle_runner.resume("wf-1")
    assert get_workflow(middle_db, "wf-1")["state"] == "failed"  # `a` had nothing to undo


def test_a_branch_picks_a_path_and_replays_its_choice(
    middle_registry: Registry, middle_runner: Runner, calls: Calls
) -> None:
    for name in ("launch", "park-for-resume", "record-terminal", "resume-or-finalize"):
        middle_registry.add(noop(name, calls))
    workflow = Workflow(
        "implementation",
        [
            "launch",
            branch(
                "route",
                lambda ctx: "park" if ctx.results["launch"]["step"] == "launch" else "end",
                {
                    "park": ["park-for-resume", wait_for("resume"), "resume-or-finalize"],
                    "end": ["record-terminal"],
                },
            ),
        ],
    )
    assert middle_runner.start(workflow, INPUT, "wf-1").status == "parked"
    middle_runner.signal("wf-1", "resume", {"verdict": "approve"})
    result = middle_runner.resume("wf-1")

    assert result.status == "completed"
    assert result.results["route"] == "park"
    assert calls.runs == ["launch", "park-for-resume", "resume-or-finalize"]


def test_cancel_compensates_a_parked_run_and_ends_it_cancelled(
    middle_db: Database, middle_harness: StepHarness, middle_runner: Runner, calls: Calls
) -> None:
    first = noop("first", calls, compensate=lambda ctx: calls.runs.append("undo-first"))
    middle_harness.run(first, wait_for("answer"), input=INPUT, workflow_id="wf-1", name="wf")

    assert middle_runner.cancel("wf-1").status == "cancelled"
    assert calls.runs == ["first", "undo-first"]
    assert get_workflow(middle_db, "wf-1")["state"] == "cancelled"
    assert middle_runner.cancel("wf-1").status == "cancelled"  # idempotent


def test_a_step_that_checks_for_cancellation_stops_the_run(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    """`WorkflowCancelled` is a BaseException: the step's `except Exception` cannot eat it."""
    first = noop("first", calls, compensate=lambda ctx: calls.runs.append("undo-first"))

    @step
    def long_turn(ctx: StepContext) -> None:
        request_cancel(ctx.db, ctx.workflow_id)  # `middle cancel` from another terminal
        try:
            ctx.check_cancelled()
        except Exception:
            calls.runs.append("swallowed")
        calls.runs.append("finished-anyway")

    result = middle_harness.run(first, long_turn, input=INPUT, workflow_id="wf-1", name="wf")

    assert result.status == "cancelled"
    assert calls.runs == ["first", "undo-first"]
    assert get_workflow(middle_db, "wf-1")["state"] == "cancelled"


def test_a_detach_leaves_the_run_live_with_no_driver_and_resume_finishes_it(
    middle_db: Database, middle_harness: StepHarness, middle_runner: Runner, calls: Calls
) -> None:
    """What a foreground command's Ctrl-C does to the engine (`RunDetached` raised in the
    middle of a step): nothing is failed, compensated or checkpointed, the lock is free,
    and a resume runs the interrupted step again."""
    first = noop("first", calls, compensate=lambda ctx: calls.runs.append("undo-first"))

    @step("turn", retry=retry_if_exception(lambda exc: True))  # even a policy that retries all
    def turn(ctx: StepContext) -> dict[str, int]:
        calls.runs.append("turn")
        if calls.count("turn") == 1:
            raise RunDetached("SIGINT")
        return {"attempt": ctx.attempt}

    with pytest.raises(RunDetached) as raised:
        middle_harness.run(first, turn, input=INPUT, workflow_id="wf-1", name="wf")

    assert raised.value.workflow_id == "wf-1"
    assert calls.runs == ["first", "turn"]
    assert get_workflow(middle_db, "wf-1")["state"] == "running"
    detached = middle_db["events"].rows_where("type = 'workflow.detached'")
    assert [row["payload_json"] for row in detached] == ['{"signal": "SIGINT"}']
    assert not RunLocks.beside(database_file(middle_db)).is_held("wf-1")

    result = middle_runner.resume("wf-1")

    assert result.status == "completed"
    assert result.results["turn"] == {"attempt": 2}
    assert calls.runs == ["first", "turn", "turn"]


def test_a_retry_policy_never_retries_a_cancel(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    """Seen red: a step whose policy retries every exception ran three times after the
    cancel, since tenacity hands `BaseException`s to the policy too."""

    @step("turn", retry=retry_if_exception(lambda exc: True))
    def turn(ctx: StepContext) -> None:
        calls.runs.append("turn")
        raise WorkflowCancelled(ctx.workflow_id)

    result = middle_harness.run(turn, input=INPUT, workflow_id="wf-1", name="wf")

    assert result.status == "cancelled"
    assert calls.runs == ["turn"]


def test_a_driven_run_waits_out_a_locked_database_past_any_patience(
    middle_db: Database,
    middle_harness: StepHarness,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 20 item 17: a driver never gives up on a busy database, however long other
    commands would wait (here: not at all). Seen red: the step's write raised `database is
    locked` (and, with the connection's retry but no driver's patience, `DatabaseBusyError`),
    and the run failed."""
    monkeypatch.setattr(PatientConnection, "patience", stop_after_attempt(1))
    middle_db.execute("PRAGMA busy_timeout = 20")

    @step("turn", stop=stop_after_attempt(1))
    def turn(ctx: StepContext) -> None:
        with write_lock_held(database_file(ctx.db), 0.5) as held:
            ctx.record_event("agent.said", {"text": "still working"})
            calls.runs.append(f"waited {held.held_for() >= 0.5}")

    result = middle_harness.run(turn, input=INPUT, workflow_id="wf-1", name="wf")

    assert result.status == "completed"
    assert calls.runs == ["waited True"]
    assert middle_db.conn.patience == PatientConnection.patience  # only while driving


def test_starting_an_existing_id_resumes_it_instead_of_rerunning(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    nodes = noop("a", calls), noop("b", calls)
    middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1", name="wf")
    again = middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1", name="wf")
    assert again.status == "completed"
    assert calls.runs == ["a", "b"]
    assert middle_db["workflows"].count == 1


def test_starting_an_existing_id_with_different_input_is_refused_naming_both(
    middle_harness: StepHarness, calls: Calls
) -> None:
    """Issue 11 item 11. Seen red: the old run was silently resumed and returned."""
    nodes = noop("a", calls), noop("b", calls)
    middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1", name="wf")
    other = {**INPUT, "ref": "109"}
    with pytest.raises(WorkflowError, match=r"wf-1.*'ref': '108'.*'ref': '109'"):
        middle_harness.run(*nodes, input=other, workflow_id="wf-1", name="wf")
    assert calls.runs == ["a", "b"]


def test_a_changed_definition_is_refused_naming_both_steps(
    middle_registry: Registry, middle_harness: StepHarness, calls: Calls
) -> None:
    middle_registry.add(noop("a", calls))
    middle_registry.add(noop("b", calls))
    middle_harness.run("a", wait_for("go"), input=INPUT, workflow_id="wf-1", name="wf")

    changed = Registry(steps=middle_registry.steps)
    changed.add_workflow(Workflow("wf", ["b", wait_for("go")]))
    with pytest.raises(WorkflowChangedError, match=r"recorded step 'a' at position 1.*now has 'b'"):
        middle_harness.another_runner(changed).resume("wf-1")


def test_a_run_held_by_another_process_is_refused(
    middle_harness: StepHarness, middle_runner: Runner, calls: Calls
) -> None:
    middle_harness.run(noop("a", calls), wait_for("go"), input=INPUT, workflow_id="wf-1")
    other_process = RunLocks(middle_runner.locks.lock_dir)
    with other_process.hold("wf-1"), pytest.raises(WorkflowBusyError, match="wf-1"):
        middle_runner.resume("wf-1")


def test_a_step_output_that_is_not_json_is_a_clear_error(
    middle_db: Database, middle_harness: StepHarness
) -> None:
    @step
    def returns_a_set(ctx: StepContext) -> set[int]:
        return {1, 2}

    with pytest.raises(StepOutputError, match="'returns-a-set' returned a set"):
        middle_harness.run(returns_a_set, input=INPUT, workflow_id="wf-1", name="wf")
    assert get_workflow(middle_db, "wf-1")["state"] == "failed"


CRASHY_PLUGIN = """
import os, time
from pathlib import Path
from middle import Workflow, hookimpl, step

COUNTS = Path(os.environ["CRASH_COUNTS"])


def ran(name):
    with open(COUNTS / name, "a") as f:
        f.write("x")
    return len((COUNTS / name).read_text())


@step
def first(ctx):
    ran("first")
    return "one"


@step
def second(ctx):
    if ran("second") == 1:
        (COUNTS / "inside-second").touch()
        time.sleep(60)  # the parent SIGKILLs us here
    return "two"


@step
def third(ctx):
    ran("third")
    return ctx.results["first"] + ctx.results["second"]


@hookimpl
def middle_register_steps(registry):
    for s in (first, second, third):
        registry.add(s)


@hookimpl
def middle_register_workflows(registry):
    registry.add_workflow(Workflow("crashy", ["first", "second", "third"]))
"""

DRIVER = """
import sys
from pathlib import Path
from middle.app.plugins import load_plugins
from middle.engine import Runner
from middle.store import open_db

repo, db_path, verb = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
runner = Runner(open_db(db_path), load_plugins(repo).registry)
if verb == "start":
    result = runner.start("crashy", {"repo": str(repo)}, "wf-crash")
else:
    result = runner.resume("wf-crash")
print(result.status, result.results.get("third"))
"""


def test_sigkill_inside_step_two_then_resume_runs_nothing_twice(
    tmp_path: Path, middle_db: Database
) -> None:
    """Counts live in files, because the process that counted in memory is dead. The two
    processes drive the run in `middle_db`'s file; this test only reads it."""
    repo, counts = tmp_path / "repo", tmp_path / "counts"
    (repo / ".middle" / "plugins").mkdir(parents=True)
    (repo / ".middle" / "plugins" / "crashy.py").write_text(CRASHY_PLUGIN)
    counts.mkdir()
    db_path = database_file(middle_db)
    env = {**os.environ, "CRASH_COUNTS": str(counts), "MIDDLE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    argv = [sys.executable, "-c", textwrap.dedent(DRIVER), str(repo), str(db_path)]

    child = subprocess.Popen([*argv, "start"], env=env)
    deadline = time.monotonic() + 60
    while not (counts / "inside-second").exists():
        assert child.poll() is None and time.monotonic() < deadline, "never reached step 2"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    assert get_workflow(middle_db, "wf-crash")["state"] == "running"
    resumed = subprocess.run([*argv, "resume"], env=env, capture_output=True, text=True)

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.split() == ["completed", "onetwo"]
    ran = {name: len((counts / name).read_text()) for name in ("first", "second", "third")}
    assert ran == {"first": 1, "second": 2, "third": 1}
    attempts = {cp["name"]: cp["attempts"] for cp in load_checkpoints(middle_db, "wf-crash")}
    assert attempts == {"first": 1, "second": 2, "third": 1}


def test_a_loop_runs_its_body_again_with_fresh_checkpoints_and_signals(
    middle_db: Database,
    middle_registry: Registry,
    middle_harness: StepHarness,
    middle_runner: Runner,
    calls: Calls,
) -> None:
    """The review loop's shape: each iteration parks on the same signal name, and each
    answer is consumed by exactly one iteration."""

    @step
    def turn(ctx: StepContext) -> int:
        calls.runs.append(f"turn-{ctx.round}")
        return ctx.round

    middle_registry.add(turn)  # a loop's body names its steps
    turns = loop(
        "turns",
        ["turn", wait_for("resume", state=lambda ctx: "waiting-human")],
        again=lambda ctx: ctx.results["wait-for-resume"]["again"],
    )
    assert middle_harness.run(turns, input=INPUT, workflow_id="wf-1").status == "parked"
    middle_runner.signal("wf-1", "resume", {"again": True})
    assert middle_runner.resume("wf-1").status == "parked"
    assert middle_runner.resume("wf-1").status == "parked"  # nothing new: no rerun
    middle_runner.signal("wf-1", "resume", {"again": False})
    result = middle_runner.resume("wf-1")

    assert result.status == "completed"
    assert calls.runs == ["turn-1", "turn-2"]
    names = [cp["name"] for cp in middle_harness.checkpoints("wf-1")]
    assert names == [
        "turn", "wait-for-resume", "turn#2", "wait-for-resume#2",
    ]  # fmt: skip
    assert middle_db["waitfor_signals"].count == 0


def test_a_wait_can_park_in_another_state(
    middle_db: Database, middle_harness: StepHarness, calls: Calls
) -> None:
    nodes = noop("a", calls), wait_for("reset", state="rate-limited")
    assert middle_harness.run(*nodes, input=INPUT, workflow_id="wf-1").status == "parked"
    assert get_workflow(middle_db, "wf-1")["state"] == "rate-limited"


def test_a_first_attempt_that_succeeds_never_asks_tenacity(
    middle_harness: StepHarness, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24 item 3: tenacity's controller costs about a tenth of a no-op workflow, and
    nearly every attempt succeeds the first time. Seen red before `under_policy`: every
    step went through `Retrying.iter`."""
    from tenacity import BaseRetrying

    def asked(self: BaseRetrying, retry_state: Any) -> Any:
        raise AssertionError("tenacity was asked about a first attempt that succeeded")

    monkeypatch.setattr(BaseRetrying, "iter", asked)
    result = middle_harness.run(noop("first", calls), input=INPUT, name="wf")
    assert (result.status, calls.runs) == ("completed", ["first"])


def test_the_retry_delay_counts_from_the_first_attempt(
    middle_harness: StepHarness, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first attempt runs before tenacity is asked (`under_policy`); a `stop_after_delay`
    still counts from when it began, as tenacity's own loop does. Seen red with tenacity's
    clock started after the first failure: a first attempt of 120 s under a 60 s policy was
    retried. The clock is the one tenacity and the engine read, moved by the step."""
    from tenacity import stop_after_delay

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    @step("slow", stop=stop_after_delay(60))
    def slow(ctx: StepContext) -> None:
        calls.runs.append("slow")
        clock[0] += 120
        raise OSError(f"timed out on attempt {ctx.attempt}")

    with pytest.raises(OSError, match="timed out on attempt 1"):
        middle_harness.run(slow, input=INPUT, name="wf")
    assert calls.runs == ["slow"] and middle_harness.sleeps == []
