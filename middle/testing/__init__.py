"""A pytest plugin for step authors (entry point `pytest11`, so it loads on its own), and
for adapter authors the conformance suite in `middle.testing.conformance`.

Fixtures, each new for every test:

- `middle_db`: a migrated store in a real SQLite file under `tmp_path`. After the test it
  asserts that no transaction is left open: every write a step or a store call makes must
  be committed when control comes back, or it would be lost, and would hold the write lock
  against every other process meanwhile. (Seen red when the runner's `begin_attempt` used
  UPDATE ... RETURNING, which sqlite-utils leaves in an open transaction.)
- `middle_registry`: an empty step registry.
- `middle_harness`: a `StepHarness` over both (below).
- `middle_runner`: the harness's runner, `middle_harness.runner`: the real durable runner,
  which never sleeps between attempts; the waits it asked for are in
  `middle_harness.sleeps`.

`StepHarness`:

- `run(*nodes, input=..., fail=..., fail_after=..., workflow_id=..., name=...)` runs steps
  (and step names, waits, branches, loops) as one workflow and returns its `RunResult`.
  The input always has a `repo` (the test's directory unless given). `fail` makes a step's
  first attempts raise before its body runs; `fail_after` makes them raise after the body
  ran, as a crash right after its side effects would, which proves a step is safe to
  re-run.
- `use_services(**parts)` hands the steps middle's `Services` (config, issue store,
  adapter, tmux, home), for steps that call `middle.steps.services.services(ctx)`.
- `another_runner(registry=None, **options)` is a second runner on the same store, as a
  second process would have: with another registry (a changed definition, say) or other
  `Runner` options (`on_step`, `services`, `lock_dir`). It never sleeps either.
- `events(type=None)` and `checkpoints(workflow_id)` read back what the runs recorded.

    def test_my_step_recovers(middle_harness):
        result = middle_harness.run(my_step, fail={"my-step": 1})
        assert result.status == "completed"
        assert middle_harness.events("step.attempt-failed")[0]["attempt"] == 1

    def test_my_step_records_once_even_if_it_runs_again(middle_harness):
        middle_harness.use_services(issues=FakeIssues())
        result = middle_harness.run(my_step, fail_after={"my-step": 1})
        assert result.status == "completed"

    def test_a_parked_run_resumes(middle_harness, middle_runner):
        middle_harness.run(ask, wait_for("answer"), workflow_id="wf-1")
        middle_runner.signal("wf-1", "answer", {"text": "yes"})
        assert middle_runner.resume("wf-1").status == "completed"
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from middle.config import DEFAULTS
from middle.engine import Registry, Runner, RunResult, Step, StepContext, Workflow
from middle.engine.workflow import NodeLike
from middle.steps.services import Services
from middle.store import open_db
from middle.system.tmux import Tmux

# The conformance suite's asserts explain themselves too, in an author's test run.
pytest.register_assert_rewrite("middle.testing.conformance")

Plan = int | tuple[int, BaseException]
"""How many of a step's first attempts fail: a count (raising `InjectedFailure`), or a
count and the exception to raise."""


class InjectedFailure(Exception):
    """The error `StepHarness.run(fail=..., fail_after=...)` raises in a step's failing
    attempts."""


class StepHarness:
    """Runs steps under the real runner against a real, temporary store."""

    def __init__(self, db: Database, registry: Registry, repo: Path) -> None:
        self.db = db
        self.registry = registry
        self.repo = repo
        self.sleeps: list[float] = []  # the waits the runners asked for; none is slept
        self.runner = Runner(db, registry, sleep=self.sleeps.append)

    def run(
        self,
        *nodes: NodeLike,
        input: Mapping[str, Any] | None = None,
        fail: Mapping[str, Plan] | None = None,
        fail_after: Mapping[str, Plan] | None = None,
        workflow_id: str | None = None,
        name: str = "harness",
    ) -> RunResult:
        """Run `nodes` as a workflow named `name`. A step among `nodes` is registered if it
        is not yet; the steps inside a `loop` or a `branch` are names, so register those
        with `registry.add` first. `fail` maps a step name to how many of its first
        attempts raise before the step's body runs; `fail_after` to how many of the
        attempts after those raise once the body has run and returned."""
        before, after = dict(fail or {}), dict(fail_after or {})
        for node in nodes:
            if isinstance(node, Step) and node.name not in self.registry.steps:
                plans = before.pop(node.name, 0), after.pop(node.name, 0)
                self.registry.add(_failing(node, *plans), "test")
        if before or after:
            raise ValueError(
                f"fail and fail_after name steps this run does not register: "
                f"{sorted({*before, *after})}"
            )
        workflow = Workflow(name, nodes)
        run_input = {"repo": str(self.repo), **(input or {})}
        return self.runner.start(workflow, run_input, workflow_id)

    def use_services(self, **parts: Any) -> Services:
        """Give the steps middle's `Services`, made of `parts` (`config`, `issues`,
        `adapter`, `tmux`, `home`, `progress`). A part left out is middle's default where
        there is one (the default config, a home under the test's directory, this
        harness's registry, a tmux handle), and None otherwise, so a step that reaches for
        it fails at once."""
        defaults: dict[str, Any] = {
            "home": self.repo / "middle-home",
            "config": copy.deepcopy(DEFAULTS),
            "issues": None,
            "adapter": None,
            "tmux": Tmux(),
            "plugins": self.registry,
        }
        services = Services(**{**defaults, **parts})
        self.runner.services = services
        return services

    def another_runner(self, registry: Registry | None = None, **options: Any) -> Runner:
        """A new runner on this harness's store, as another process would have one: with
        `registry` (this harness's by default) and `Runner`'s keyword `options`
        (`services` defaults to what `use_services` gave). Its sleeps land in `sleeps`."""
        options = {"services": self.runner.services, "sleep": self.sleeps.append, **options}
        return Runner(self.db, self.registry if registry is None else registry, **options)

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Event payloads of every run, oldest first, optionally of one type."""
        where, params = ("type = ?", [type]) if type else (None, [])
        rows = self.db.table("events").rows_where(where, params, order_by="id")
        return [json.loads(row["payload_json"]) for row in rows]

    def checkpoints(self, workflow_id: str) -> list[dict[str, Any]]:
        """The run's checkpoint rows, in the order its steps ran."""
        return self.runner.runs.checkpoints(workflow_id)


def _plan(plan: Plan) -> tuple[int, BaseException | None]:
    return plan if isinstance(plan, tuple) else (plan, None)


def _failing(step: Step, fail: Plan, fail_after: Plan) -> Step:
    (before, error), (after, error_after) = _plan(fail), _plan(fail_after)
    if not before and not after:
        return step

    def flaky(ctx: StepContext) -> Any:
        if ctx.attempt <= before:
            raise error or InjectedFailure(f"injected failure {ctx.attempt} of {before}")
        output = step.fn(ctx)
        if ctx.attempt <= before + after:
            nth = ctx.attempt - before
            raise error_after or InjectedFailure(
                f"injected failure {nth} of {after}, after {step.name!r} ran"
            )
        return output

    return dataclasses.replace(step, fn=flaky)


@pytest.fixture
def middle_db(tmp_path: Path) -> Iterator[Database]:
    db = open_db(tmp_path / "middle-store" / "db.sqlite3")
    yield db
    left_open = db.conn.in_transaction
    db.close()
    assert not left_open, "a transaction was left open on middle_db: a write never committed"


@pytest.fixture
def middle_registry() -> Registry:
    return Registry()


@pytest.fixture
def middle_harness(middle_db: Database, middle_registry: Registry, tmp_path: Path) -> StepHarness:
    return StepHarness(middle_db, middle_registry, tmp_path)


@pytest.fixture
def middle_runner(middle_harness: StepHarness) -> Runner:
    return middle_harness.runner
