"""A pytest plugin for step authors (entry point `pytest11`, so it loads on its own).

Fixtures:

- `middle_db`: a migrated store in a real SQLite file under `tmp_path`;
- `middle_registry`: an empty step registry;
- `middle_runner`: a runner over both that never sleeps between attempts;
- `middle_harness`: runs one step or a small workflow, optionally failing chosen steps'
  first attempts, and reads back events and checkpoints. `use_services(...)` hands the
  steps middle's `Services` (config, issue store, adapter, tmux), for steps that use them.

    def test_my_step_recovers(middle_harness):
        result = middle_harness.run(my_step, fail={"my-step": 1})
        assert result.status == "completed"
        assert middle_harness.events("step.attempt-failed")[0]["attempt"] == 1
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
from middle.tmux import Tmux


class InjectedFailure(Exception):
    """The error `StepHarness.run(fail=...)` raises in a step's failing attempts."""


class StepHarness:
    """Runs steps under the real runner against a real, temporary store."""

    def __init__(
        self, db: Database, registry: Registry, runner: Runner, repo: Path, sleeps: list[float]
    ) -> None:
        self.db = db
        self.registry = registry
        self.runner = runner
        self.repo = repo
        self.sleeps = sleeps  # the waits the runner asked for; none is slept

    def run(
        self,
        *nodes: NodeLike,
        input: Mapping[str, Any] | None = None,
        fail: Mapping[str, int | tuple[int, BaseException]] | None = None,
        workflow_id: str | None = None,
        name: str = "harness",
    ) -> RunResult:
        """Run `nodes` as a workflow named `name`. `fail` maps a step name to how many of
        its first attempts raise (an `InjectedFailure`, or the exception given with it)."""
        failures = dict(fail or {})
        for node in nodes:
            if isinstance(node, Step) and node.name not in self.registry.steps:
                self.registry.add(_failing(node, failures.pop(node.name, 0)), "test")
        if failures:
            raise ValueError(f"fail names steps not in this run: {sorted(failures)}")
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

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Event payloads of every run, oldest first, optionally of one type."""
        where, params = ("type = ?", [type]) if type else (None, [])
        rows = self.db.table("events").rows_where(where, params, order_by="id")
        return [json.loads(row["payload_json"]) for row in rows]

    def checkpoints(self, workflow_id: str) -> list[dict[str, Any]]:
        return self.runner.runs.checkpoints(workflow_id)


def _failing(step: Step, plan: int | tuple[int, BaseException]) -> Step:
    times, error = plan if isinstance(plan, tuple) else (plan, None)
    if not times:
        return step

    def flaky(ctx: StepContext) -> Any:
        if ctx.attempt <= times:
            raise error or InjectedFailure(f"injected failure {ctx.attempt} of {times}")
        return step.fn(ctx)

    return dataclasses.replace(step, fn=flaky)


@pytest.fixture
def middle_db(tmp_path: Path) -> Iterator[Database]:
    db = open_db(tmp_path / "middle-store" / "db.sqlite3")
    yield db
    db.close()


@pytest.fixture
def middle_registry() -> Registry:
    return Registry()


@pytest.fixture
def middle_runner(middle_db: Database, middle_registry: Registry) -> Runner:
    return Runner(middle_db, middle_registry, sleep=lambda seconds: None)


@pytest.fixture
def middle_harness(middle_db: Database, middle_registry: Registry, tmp_path: Path) -> StepHarness:
    sleeps: list[float] = []
    runner = Runner(middle_db, middle_registry, sleep=sleeps.append)
    return StepHarness(middle_db, middle_registry, runner, tmp_path, sleeps)
