"""The dashboard in a real browser (Debian's Chromium through Playwright), against a real
`middle dashboard` process, real git, tmux and the stand-in agent driven by the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard
from tests.e2e.conftest import REF, Sandbox, wait_until

QUESTION = "Exponential base 2 or 3?"


def row_of(page: Any, ref: str) -> Any:
    return page.locator(f"#recent-runs tr[data-ref='{ref}']")


def test_question_answer_review_approve_in_the_browser(
    sandbox: Sandbox, dashboard: Dashboard, page: Any, screenshots: Path
) -> None:
    """The whole supervision loop from the browser alone. The question appears without a
    reload (the page is loaded before the run exists, and never navigated by the test).
    Seen red: with the SSE listener removed from app.js the question never shows."""
    sandbox.script({"do": "ask", "question": QUESTION}, {"do": "done"})
    dispatched = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert dispatched.returncode == 0, dispatched.stderr

    needs = page.locator("#needs-you")
    expect(needs.get_by_text(QUESTION)).to_be_visible(timeout=20_000)
    expect(row_of(page, REF)).to_contain_text("waiting-human")

    page.get_by_label("Answer").fill("Base 2, capped at 5 minutes.")
    page.get_by_role("button", name="Send answer").click()
    expect(page.get_by_role("status").filter(has_text="answer sent")).to_be_visible()

    # The continuation runs in a spawned `middle answer`; the page follows it live.
    expect(needs.get_by_text("ready for review")).to_be_visible(timeout=60_000)
    assert "Base 2, capped at 5 minutes." in sandbox.agent_log("turn")[1]["brief"]
    page.screenshot(path=str(screenshots / "dashboard-home.png"), full_page=True)

    page.get_by_role("button", name="Approve").click()
    expect(row_of(page, REF)).to_contain_text("completed", timeout=60_000)
    assert sandbox.workflow()["state"] == "completed"
    expect(page.locator("#jobs")).to_contain_text("approve")


def test_the_inspector_shows_the_step_timeline_and_the_transcript(
    sandbox: Sandbox, dashboard: Dashboard, page: Any, screenshots: Path
) -> None:
    sandbox.script({"do": "ask", "question": QUESTION})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    row_of(page, REF).get_by_role("link", name=REF).click()

    steps = page.locator("#steps")
    for name in ("check-slots", "prepare-worktree", "launch-and-drive", "park-for-resume"):
        expect(steps.get_by_text(name, exact=True)).to_be_visible()
    expect(steps).to_contain_text("1 attempt")
    expect(page.locator("#transcript .msg-user")).to_contain_text("Read .middle/prompt.md")
    expect(page.locator("#transcript .msg-assistant")).to_contain_text("I have a question.")
    expect(page.locator("#run-events")).to_contain_text("workflow.waiting")
    expect(page.get_by_label("Answer")).to_be_visible()
    page.screenshot(path=str(screenshots / "dashboard-inspector.png"), full_page=True)


def test_take_over_keeps_the_watchdog_away_then_release_hands_back(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """Seen red: with the watchdog's controlled_by check removed, the taken-over idle
    session is killed (idle-timeout)."""
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 120\n"
        "idle_warning_seconds = 0.5\nidle_kill_seconds = 1\n"
    )
    sandbox.script({"do": "hang"})
    run = sandbox.popen("implement", "--issue", REF, "--agent", "command")
    try:
        wait_until(lambda: sandbox.sessions() and sandbox.workflow()["state"] == "running")
        page.reload()
        row_of(page, REF).get_by_role("link", name=REF).click()
        expect(page.locator("#pane")).to_contain_text("stand-in agent ready")  # the live pane
        page.get_by_role("button", name="Take over").click()
        expect(page.locator(".controlled-by")).to_have_text("human")
        attach = page.locator("code.attach")
        expect(attach).to_contain_text(f"tmux -S {sandbox.socket} attach -t")

        watch = sandbox.middle("watchdog")
        assert watch.returncode == 0, watch.stderr
        assert "healthy" in watch.stdout  # idle for > idle_kill_seconds, but a human has it
        assert sandbox.workflow()["state"] == "running"

        page.get_by_role("button", name="Release").click()
        expect(page.locator(".controlled-by")).to_have_text("middle")
        # Released, the idle session is the watchdog's again: it may warn first (idle past
        # the warning, not yet past the kill), then it acts. A pass between the warning and
        # the kill has nothing new to say, so it reads "healthy"; the warning comes once.
        passes: list[str] = []
        wait_until(
            lambda: (
                passes.append(sandbox.middle("watchdog").stdout)
                or "told-dispatcher" in passes[-1]  # its dispatcher lives: it is told
            )
        )
        assert sum("warned" in out for out in passes) <= 1, passes
    finally:
        run.kill()
        run.communicate()  # reaps it and closes its pipes


def test_request_changes_starts_another_round_then_cancel_ends_it(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    sandbox.script({"do": "done"}, {"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    needs = page.locator("#needs-you")
    expect(needs.get_by_text("ready for review")).to_be_visible(timeout=20_000)

    page.get_by_label("Review feedback").fill("Cap the backoff at 5 minutes.")
    page.get_by_role("button", name="Request changes").click()
    wait_until(lambda: len(sandbox.agent_log("turn")) == 2, timeout=60)
    assert "Cap the backoff at 5 minutes." in sandbox.agent_log("turn")[1]["brief"]
    expect(page.locator("#jobs")).to_contain_text("request-changes", timeout=60_000)
    expect(page.locator("#jobs li").first).to_contain_text("ok", timeout=60_000)

    row_of(page, REF).get_by_role("link", name=REF).click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#run-head")).to_contain_text("cancelled", timeout=60_000)
    assert sandbox.workflow()["state"] == "cancelled"
