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


def test_a_fanned_out_epic_never_holds_more_than_its_cap_of_slots(middle_db: Database) -> None:
    """Issue 23 item 3: `max_children_per_epic` caps one Epic's children, and the global
    cap still holds for them; a child is `launching` (a holder) from its claim on."""
    from middle.store import claim_child_slot

    config = copy.deepcopy(DEFAULTS)
    config["global"]["max_concurrent"] = 3
    config["limits"]["max_concurrent"] = 10
    create_workflow_record(middle_db, id="epic", epic_ref="fan", **RECORD)
    for sub in ("1", "2", "3"):
        create_workflow_record(middle_db, id=f"epic-{sub}", epic_ref=f"fan/{sub}", **RECORD)
        update_workflow(middle_db, f"epic-{sub}", parent_id="epic")
    create_workflow_record(middle_db, id="other", epic_ref="other", **RECORD)

    def claim(child: str) -> object:
        return claim_child_slot(
            middle_db, child, parent_id="epic", adapter="claude", config=config, cap=2
        )

    assert claim("epic-1") is None and claim("epic-2") is None
    busy = claim("epic-3")
    assert busy is not None and busy.scope == "Epic" and busy.limit == 2  # type: ignore[attr-defined]
    assert get_workflow(middle_db, "epic-3")["state"] == "pending"
    assert [get_workflow(middle_db, f"epic-{s}")["state"] for s in "12"] == ["launching"] * 2

    assert claim_slot_at_launch(middle_db, "other", "claude", config) is None  # fair: room
    update_workflow(middle_db, "other", state="running")
    update_workflow(middle_db, "epic-1", state="completed")  # its slot frees
    assert claim("epic-3") is None  # epic-2, other and epic-3: the global 3
    update_workflow(middle_db, "epic-2", state="completed")
    create_workflow_record(middle_db, id="epic-4", epic_ref="fan/4", **RECORD)
    update_workflow(middle_db, "epic-4", parent_id="epic")
    config["global"]["max_concurrent"] = 2  # epic-3 and other hold both global slots
    busy = claim("epic-4")
    assert busy is not None and busy.scope == "global"  # type: ignore[attr-defined]
