"""`.middle/plan.json`, as the plan guard reads it (issue 19, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.system.worktree import plan_file
from middle.verify.plan import plan_required, read_plan


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        ('{"plan": "  Retry, then back off. "}', "Retry, then back off."),
        ('{"plan": "   "}', None),
        ('{"plan": 3}', None),
        ('["plan"]', None),
        ("{not json", None),
    ],
)
def test_read_plan(tmp_path: Path, text: str, plan: str | None) -> None:
    """Seen red with the emptiness check taken out: a blank plan counted as one."""
    plan_file(tmp_path).parent.mkdir()
    plan_file(tmp_path).write_text(text)
    assert read_plan(tmp_path) == plan


def test_no_plan_file_is_no_plan_and_the_guard_is_opt_in(tmp_path: Path) -> None:
    assert read_plan(tmp_path) is None
    assert plan_required({}) is False
    assert plan_required({"verify": {"require_plan": True}}) is True
