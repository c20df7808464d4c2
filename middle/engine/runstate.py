"""The state of one run as the runner sees it, and the small helpers around it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from middle.engine.workflow import Workflow
from middle.errors import StepOutputError
from middle.store import Row

PARKED = "parked"


@dataclass(frozen=True)
class RunResult:
    """How a `start`/`resume`/`cancel` call left the run.

    `status` is "parked" while it waits for a signal (`waiting_for` names it), otherwise
    the workflow's state: "completed", "cancelled", "failed" or "compensated".
    """

    workflow_id: str
    status: str
    results: Mapping[str, Any] = field(default_factory=dict)
    waiting_for: str | None = None


@dataclass
class RunState:
    """One drive of a run: what replay found, and where execution is now."""

    workflow_id: str
    workflow: Workflow
    input: Mapping[str, Any]
    recorded: dict[str, Row]
    recorded_at: dict[int, Row]
    state: str
    results: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    current: str = ""
    round: int = 1
    # A finished step whose checkpoint rides on the run's next write, in the same commit:
    # nothing of the next step happens before that commit, so nothing is lost, and each
    # step boundary costs one commit instead of two.
    unrecorded: tuple[str, str] | None = None
    # (state, reason) a step asked for with `ctx.end`: the run ends so after that step.
    ending: tuple[str, str] | None = None


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def to_json(value: Any, what: str) -> str:
    if value is None:  # what most steps return: no encoder needed
        return "null"
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise StepOutputError(
            f"{what} returned a {type(value).__name__}, which cannot be checkpointed as JSON "
            f"({exc}); return dicts, lists, strings, numbers, booleans or None"
        ) from exc
