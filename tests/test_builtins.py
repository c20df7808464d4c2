"""The built-in steps are found, not listed: every `@step` in a module of `middle.steps`
is registered, and each one is used by a built-in workflow. Seen red with `check-plan`
taken out of the recommender workflow."""

from __future__ import annotations

from middle.app.plugins import load_plugins


def test_every_builtin_step_is_registered_and_used_by_a_builtin_workflow() -> None:
    registry = load_plugins(None).registry
    builtins = {name for name, origin in registry.origins.items() if origin == "built-in"}
    used = {name for workflow in registry.workflows.values() for name in workflow.step_names()}
    assert builtins == used
    assert len(builtins) == 11
