"""The built-ins are found, not listed: every `@step` in a module of `middle.steps`, and
every adapter class in a module of `middle.agents`, and every concrete issue store class in
a module of `middle.issues`, is registered. Each built-in step is
used by a built-in workflow: seen red with `check-plan` taken out of the recommender."""

from __future__ import annotations

from middle.app.plugins import load_plugins


def test_every_builtin_step_is_registered_and_used_by_a_builtin_workflow() -> None:
    registry = load_plugins(None).registry
    builtins = {name for name, origin in registry.origins.items() if origin == "built-in"}
    used = {name for workflow in registry.workflows.values() for name in workflow.step_names()}
    assert builtins == used
    assert len(builtins) == 23  # 15, and the 8 of a fanned-out Epic (issue 23)


def test_every_adapter_class_in_middle_agents_is_a_builtin() -> None:
    registry = load_plugins(None).registry
    assert {name: registry.adapter_origins[name] for name in registry.adapters} == {
        "claude": "built-in",
        "codex": "built-in",
        "command": "built-in",
        "copilot": "built-in",
        "gemini": "built-in",
        "acp": "built-in",
        "opencode": "built-in",
    }


def test_every_issue_store_class_in_middle_issues_is_a_builtin() -> None:
    registry = load_plugins(None).registry
    assert {mode: registry.issue_store_origins[mode] for mode in registry.issue_stores} == {
        "file": "built-in",
        "github": "built-in",
    }
