"""`Services`: what middle's steps use besides their run's rows, built once per command
by `middle.app.runtime` and handed to the runner, which passes it to every step as
`ctx.services`.

A plugin's step reads them the same way: `services(ctx).issues.load(ref)`.

`Progress` is what the steps and the use cases need of the live view a person watches; the
`middle` command's own (`middle.cli.progress.Progress`) prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from middle.agents.base import BaseAdapter
from middle.engine import Registry, StepContext
from middle.issues.base import IssueStore
from middle.system.tmux import Tmux


class Progress(Protocol):
    """Where a foreground run reports: each step's attempt, each hook event the agent sends,
    and a note for anything else a person watching should read."""

    def step(self, name: str, attempt: int) -> None: ...

    def hook(self, event: str) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass(frozen=True)
class Services:
    """- `home`: the state home (`$MIDDLE_HOME`); `config`: the merged configuration;
    - `issues`: the repo's issue store; `adapter`: the run's agent adapter;
    - `tmux`: the tmux server agents run in; `plugins`: the registry of steps, workflows
      and adapters this command loaded; `progress`: live progress, when a person watches.
    """

    home: Path
    config: dict[str, Any]
    issues: IssueStore
    adapter: BaseAdapter
    tmux: Tmux
    plugins: Registry
    progress: Progress | None = None


def services(ctx: StepContext) -> Services:
    """The run's services, typed. A runner given something else is a setup mistake."""
    if not isinstance(ctx.services, Services):
        raise TypeError(
            f"step {ctx.step!r} needs middle's Services as the runner's services, got "
            f"{type(ctx.services).__name__}; build the runner with middle.app.runtime (in a "
            f"test: middle_harness.use_services(...))"
        )
    return ctx.services
