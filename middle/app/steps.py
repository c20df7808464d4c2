"""`steps`: what plugins registered, and the order each workflow runs in after their edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from middle.app.plugins import load_plugins
from middle.app.repo import resolve_repo


def describe_steps(repo: str | Path) -> dict[str, Any]:
    """Every registered step (name, policy, compensation, origin), workflow outline, and
    agent adapter (origin, the CLI versions the test suite ran)."""
    registry = load_plugins(resolve_repo(repo)).registry
    steps = [
        {
            "name": name,
            "policy": step.policy,
            "compensation": step.compensate.__qualname__ if step.compensate else None,
            "origin": registry.origins[name],
        }
        for name, step in sorted(registry.steps.items())
    ]
    workflows = {
        name: {"origin": registry.workflow_origins[name], "order": workflow.outline()}
        for name, workflow in sorted(registry.workflows.items())
    }
    adapters = [
        {
            "name": name,
            "origin": registry.adapter_origins[name],
            "tested_versions": list(adapter.tested_versions or ()),
        }
        for name, adapter in sorted(registry.adapters.items())
    ]
    return {"steps": steps, "workflows": workflows, "adapters": adapters}
