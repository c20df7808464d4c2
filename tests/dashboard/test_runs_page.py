"""The Runs page: filters and pages over many runs, each row showing ref and state."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from middle.store import create_workflow_record, open_db
from middle.store.records import transition_workflow
from tests.dashboard.conftest import Dashboard
from tests.e2e.conftest import Sandbox


def test_filter_by_state_and_adapter_and_page_through(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    db = open_db(sandbox.home / "db.sqlite3")
    for n in range(120):
        create_workflow_record(
            db, id=f"w{n:03d}", kind="implementation", repo=str(sandbox.repo),
            epic_ref=f"epic-{n}", adapter="claude" if n % 2 else "codex",
        )  # fmt: skip
        transition_workflow(db, f"w{n:03d}", "completed" if n % 3 else "failed", leaving="pending")
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.locator("h1")).to_contain_text("120")
    expect(page.locator("tr.run-row")).to_have_count(50)

    page.get_by_label("State").select_option("failed")
    page.get_by_label("Adapter").select_option("codex")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("h1")).to_contain_text("20")  # n % 6 == 0
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("epic-114")
    expect(rows.first).to_contain_text("failed")

    page.get_by_label("State").select_option("")
    page.get_by_label("Adapter").select_option("")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="older →").click()
    page.get_by_role("link", name="older →").click()
    expect(page.get_by_text("page 3 of 3")).to_be_visible()
    expect(page.locator("tr.run-row")).to_have_count(20)
    expect(page.locator("tr.run-row").last).to_contain_text("epic-0")


def test_a_fanned_out_epics_child_reads_as_a_sub_issue_of_its_epic() -> None:
    """Issue 23: the dashboard's lists show a child under its Epic's name."""
    from middle.dashboard.views import subject

    assert subject({"epic_ref": "fan/2", "parent_id": "epic-1"}) == "fan: sub-issue 2"
    assert subject({"epic_ref": "fan", "parent_id": None}) == "fan"
