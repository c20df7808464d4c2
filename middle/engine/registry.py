"""The registry one run's plugins fill: steps, workflows, agent adapters and issue stores
by name, with their origins.

A fresh registry is built for every run (see `load_plugins`); nothing here is global.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from middle.agents.base import BaseAdapter
from middle.engine.step import Step
from middle.engine.workflow import Workflow
from middle.errors import (
    ConfigError,
    DuplicateStepError,
    PluginError,
    UnknownStepError,
    UnknownWorkflowError,
)
from middle.issues.base import IssueStore


@dataclass
class Registry:
    steps: dict[str, Step] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    workflow_origins: dict[str, str] = field(default_factory=dict)
    adapters: dict[str, type[BaseAdapter]] = field(default_factory=dict)
    adapter_origins: dict[str, str] = field(default_factory=dict)
    issue_stores: dict[str, type[IssueStore]] = field(default_factory=dict)
    issue_store_origins: dict[str, str] = field(default_factory=dict)

    def add(self, step: Step, origin: str = "runtime") -> None:
        """Register `step`; a second step of the same name raises, naming both origins."""
        if not isinstance(step, Step):
            raise PluginError(
                f"{origin} registered {step!r}, which is not a step; decorate it with @step"
            )
        if step.name in self.steps:
            raise DuplicateStepError(
                f"step {step.name!r} is registered twice: by {self.origins[step.name]} and by "
                f"{origin}; step names are global, so rename one of them"
            )
        self.steps[step.name] = step
        self.origins[step.name] = origin

    def add_workflow(self, workflow: Workflow, origin: str = "runtime") -> None:
        if workflow.name in self.workflows:
            raise PluginError(
                f"workflow {workflow.name!r} is registered twice: by "
                f"{self.workflow_origins[workflow.name]} and by {origin}; to change a "
                f"workflow, edit it in middle_configure_workflow instead"
            )
        self.workflows[workflow.name] = workflow
        self.workflow_origins[workflow.name] = origin

    def add_adapter(self, adapter: type[BaseAdapter], origin: str = "runtime") -> None:
        """Register an agent adapter class; a second one of the same name raises."""
        if not (isinstance(adapter, type) and issubclass(adapter, BaseAdapter)):
            raise PluginError(
                f"{origin} registered {adapter!r} as an adapter; it must be a subclass of "
                f"middle.agents.BaseAdapter"
            )
        if adapter.name in self.adapters:
            raise PluginError(
                f"adapter {adapter.name!r} is registered twice: by "
                f"{self.adapter_origins[adapter.name]} and by {origin}; rename one of them"
            )
        self.adapters[adapter.name] = adapter
        self.adapter_origins[adapter.name] = origin

    def adapter(self, name: str, config: Mapping[str, Any]) -> BaseAdapter:
        """The adapter called `name`, configured from `[adapters.<name>]` over its defaults."""
        if name not in self.adapters:
            raise ConfigError(
                f"unknown adapter {name!r}; {_known(self.adapters)} (a plugin can add one)"
            )
        settings = config.get("adapters", {}).get(name, {})
        return self.adapters[name](settings)

    def add_issue_store(self, store: type[IssueStore], origin: str = "runtime") -> None:
        """Register an issue store class under its `mode`; a second one of the same mode
        raises, naming both origins. A class that does not subclass `IssueStore`, or lacks
        one of its required members, is refused here, naming them, rather than failing in
        the middle of a run."""
        mode = getattr(store, "mode", None) if isinstance(store, type) else None
        subclass = isinstance(store, type) and IssueStore in store.__mro__[1:]
        if not subclass or not isinstance(mode, str) or not mode:
            raise PluginError(
                f"{origin} registered {store!r} as an issue store; it must be a subclass "
                f"of middle.issues.IssueStore (which gives the optional members their "
                f"defaults) with a `mode` string (what [epic_store] mode calls it)"
            )
        abstract: frozenset[str] = getattr(store, "__abstractmethods__", frozenset())
        missing = sorted(
            name
            for name in IssueStore.__abstractmethods__
            if not hasattr(store, name) or name in abstract
        )
        if missing:
            raise PluginError(
                f"{origin} registered issue store {mode!r} ({store.__name__}), which lacks "
                f"{', '.join(missing)}; implement them (see middle.issues.IssueStore)"
            )
        if mode in self.issue_stores:
            raise PluginError(
                f"issue store {mode!r} is registered twice: by "
                f"{self.issue_store_origins[mode]} and by {origin}; rename one of them"
            )
        self.issue_stores[mode] = store
        self.issue_store_origins[mode] = origin

    def issue_store(self, repo: Path, config: Mapping[str, Any]) -> IssueStore:
        """The store `[epic_store] mode` names, for `repo`, built from the merged config."""
        mode = config.get("epic_store", {}).get("mode", "file")
        if mode not in self.issue_stores:
            raise ConfigError(
                f"{repo}: [epic_store] mode = {mode!r} names no issue store; "
                f"{_known(self.issue_stores)} (a plugin can add one)"
            )
        return self.issue_stores[mode](repo, config)

    def step(self, name: str) -> Step:
        if name not in self.steps:
            raise UnknownStepError(f"no step named {name!r} is registered; {_known(self.steps)}")
        return self.steps[name]

    def workflow(self, name: str) -> Workflow:
        if name not in self.workflows:
            raise UnknownWorkflowError(
                f"no workflow named {name!r} is registered; is the plugin that defines it "
                f"installed? {_known(self.workflows)}"
            )
        return self.workflows[name]

    def check_workflow(self, workflow: Workflow) -> None:
        """Every step a workflow names must be registered."""
        missing = [name for name in workflow.step_names() if name not in self.steps]
        if missing:
            raise UnknownStepError(
                f"workflow {workflow.name!r} uses step(s) no plugin registered: "
                f"{', '.join(missing)}"
            )


@dataclass(frozen=True)
class PluginRegistry:
    """What a plugin's hook receives: `add` records the plugin as the step's origin."""

    registry: Registry
    origin: str

    def add(self, step: Step) -> None:
        self.registry.add(step, self.origin)

    def add_adapter(self, adapter: type[BaseAdapter]) -> None:
        self.registry.add_adapter(adapter, self.origin)

    def add_workflow(self, workflow: Workflow) -> None:
        self.registry.add_workflow(workflow, self.origin)

    def add_issue_store(self, store: type[IssueStore]) -> None:
        self.registry.add_issue_store(store, self.origin)


def _known(names: Mapping[str, object]) -> str:
    return f"known: {', '.join(sorted(names)) or '(none)'}"
