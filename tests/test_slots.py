"""Slots at every launch (issue 11 item 6): the store side a turn calls before launching."""

from __future__ import annotations

import copy

from sqlite_utils import Database

from middle.config import DEFAULTS
from middle.store import create_workflow_record, get_workflow, update_workflow
from middle.store.slots import claim_slot_at_launch

RECORD = {"kind": "implementation", "repo": "/src/app", "adapter": "claude"}


def one_slot() -> dict[str, object]:
    config = copy.deepcopy(DEFAULTS)
    config["global"]["max_concurrent"] = 1
    return config


def test_a_launch_without_a_free_slot_is_queued_and_gets_one_when_it_frees(
    middle_db: Database,
) -> None:
    """Seen red: only dispatch claimed a slot, so with max_concurrent = 1 an answer's
    launch started a second agent. (Red at the launch site, turn.py; this is the claim it
    calls, which had no launch-time form.)"""
    for ref in ("1", "2"):
        create_workflow_record(middle_db, id=f"wf-{ref}", epic_ref=ref, **RECORD)
    assert claim_slot_at_launch(middle_db, "wf-1", "claude", one_slot()) is None
    update_workflow(middle_db, "wf-1", state="running")
    update_workflow(middle_db, "wf-2", state="waiting-human")  # answered, about to relaunch

    busy = claim_slot_at_launch(middle_db, "wf-2", "claude", one_slot())

    assert busy is not None and busy.scope == "global" and busy.holders[0]["id"] == "wf-1"
    assert "queued: no free slot" in get_workflow(middle_db, "wf-2")["meta_json"]

    update_workflow(middle_db, "wf-1", state="waiting-human")  # parks: its slot frees
    assert claim_slot_at_launch(middle_db, "wf-2", "claude", one_slot()) is None
    assert "queued" not in get_workflow(middle_db, "wf-2")["meta_json"]


def test_the_fallback_is_the_next_free_registered_adapter_after_the_limited_one(
    middle_db: Database,
) -> None:
    """`[global] adapter_fallback` (issue 22 item 7) walks the list from after the limited
    adapter, wrapping round, past adapters that are limited or not registered; with none
    free, or no list, the adapter stays (and the dispatch is refused as before)."""
    from middle.steps.dispatch import fallback_adapter
    from middle.store.rate_limits import set_rate_limit

    config = copy.deepcopy(DEFAULTS)
    registered = {"claude", "codex", "gemini"}
    assert fallback_adapter(middle_db, config, "claude", registered) == "claude"  # no limit
    for name in ("claude", "codex"):
        set_rate_limit(middle_db, name, status="limited", reset_at=None, source="test")
    assert fallback_adapter(middle_db, config, "claude", registered) == "claude"  # no list
    config["global"]["adapter_fallback"] = ["copilot", "gemini", "claude", "codex"]
    assert fallback_adapter(middle_db, config, "claude", registered) == "gemini"
    assert fallback_adapter(middle_db, config, "codex", registered) == "gemini"
    set_rate_limit(middle_db, "gemini", status="limited", reset_at=None, source="test")
    assert fallback_adapter(middle_db, config, "codex", registered) == "codex"
