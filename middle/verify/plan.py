"""The plan-comment guard (issue 19, item 6), opt-in with `[verify] require_plan = true`:
before the first done counts, the agent's plan is on the issue.

The agent writes `.middle/plan.json`, `{"plan": "..."}`, in its worktree (in every mode,
so an agent with no GitHub token, as on Actions, does the same as one with). At a done,
middle copies it where people read the issue, once: a `plan` dispatch-event in the Epic
file, or a comment carrying `PLAN_MARKER` by middle's own account (an agent that posts
that comment itself with `gh` has posted it too). A done with no plan anywhere is refused,
and the agent is told how to give one; a pull request marked ready stays ready while the
agent is nudged (only the plan is missing), and goes back to draft if the nudges run out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from middle.errors import UNREADABLE_JSON
from middle.system.worktree import plan_file

PLAN_MARKER = "<!-- middle:plan -->"


def plan_required(config: Mapping[str, Any]) -> bool:
    """`[verify] require_plan` (default false)."""
    return bool((config.get("verify") or {}).get("require_plan", False))


def read_plan(worktree: Path) -> str | None:
    """The plan the agent wrote into `.middle/plan.json`; None if there is none (no file,
    not a JSON object, or an empty `plan`)."""
    try:
        value = json.loads(plan_file(worktree).read_text(encoding="utf-8", errors="replace"))
    except (FileNotFoundError, *UNREADABLE_JSON):
        return None
    plan = value.get("plan") if isinstance(value, dict) else None
    return plan.strip() if isinstance(plan, str) and plan.strip() else None


def plan_comment(plan: str) -> str:
    """The plan as middle posts it on the issue."""
    return f"{PLAN_MARKER}\n**The agent's plan:**\n\n{plan}"


PLAN_RULE = (
    "## Plan\n\n"
    "Before you finish, write your plan to .middle/plan.json: "
    '{"plan": "<what you will change, and how you will show each criterion is met>"}. '
    "middle posts it on the issue; a done without a plan is refused."
)


def missing_plan_report() -> str:
    """What the agent is told when its done is refused for want of a plan."""
    return (
        "Not done yet: your plan is not on the issue. Write it to .middle/plan.json as "
        '{"plan": "<what you will change, and how you will show each criterion is met>"}, '
        "then finish again."
    )
