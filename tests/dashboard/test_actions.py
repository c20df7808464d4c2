"""Actions from the browser that must not lie: a stale form, and the per-repo pause that
`implement` respects."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard
from tests.e2e.conftest import REF, Sandbox


def test_an_answer_to_a_run_that_moved_on_says_so_and_sends_nothing(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """The page still shows the question, but the run was answered from the CLI meanwhile.
    Seen red: with the state check in `actions.expect` skipped, the page reports
    "answer sent" (a stale success) while the spawned `middle answer` fails."""
    sandbox.script({"do": "ask", "question": "Which base?"}, {"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    expect(page.locator("#needs-you")).to_contain_text("Which base?", timeout=20_000)
    page.get_by_label("Answer").fill("Base 3")  # a filled form is left alone by live updates

    answered = sandbox.middle("answer", "--issue", REF, "--text", "Base 2")
    assert answered.returncode == 0, answered.stderr
    page.get_by_role("button", name="Send answer").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"issue {REF} has moved on: it is waiting-human (done) now")
    expect(alert).to_contain_text("nothing was sent")
    assert len(sandbox.agent_log("turn")) == 2  # the CLI's answer only


def test_a_repo_paused_from_the_browser_refuses_implement_until_resumed(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """Seen red: without `refuse_if_paused` in `implement`, the paused repo dispatches."""
    sandbox.script({"do": "done"})
    assert sandbox.middle("pause", "--repo", str(sandbox.repo)).returncode == 0
    assert sandbox.middle("unpause", "--repo", str(sandbox.repo)).returncode == 0
    page.get_by_role("link", name="Repos").click()
    page.get_by_role("button", name="Pause dispatch").click()
    expect(page.get_by_role("status").filter(has_text="dispatch paused")).to_be_visible()
    expect(page.locator("#repos")).to_contain_text("paused")

    refused = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"middle: dispatch is paused for {sandbox.repo}; resume it with: "
        f"middle unpause --repo {sandbox.repo}"
    )
    assert list(sandbox.db()["workflows"].rows) == []  # nothing left behind

    page.get_by_role("button", name="Resume dispatch").click()
    expect(page.locator("#repos")).to_contain_text("active")
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0


def test_poll_leaves_a_paused_repos_runs_parked(sandbox: Sandbox) -> None:
    """Seen red: without the `is_paused` check in `poll_once`, the first poll resumes it."""
    sandbox.script({"do": "rate-limit"}, {"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    assert sandbox.middle("rate-limit", "clear", "command").returncode == 0
    assert sandbox.middle("pause").returncode == 0

    assert "Nothing to resume." in sandbox.middle("poll").stdout
    assert sandbox.workflow()["state"] == "rate-limited"

    assert sandbox.middle("unpause").returncode == 0
    polled = sandbox.middle("poll")
    assert f"issue {REF}: continue" in polled.stdout, polled.stdout


def test_a_rate_limited_adapter_shows_its_reset_and_can_be_cleared(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    sandbox.script({"do": "rate-limit"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    limited = page.locator("#needs-you article.limited")
    expect(limited).to_contain_text("command", timeout=20_000)
    expect(limited).to_contain_text("Resets")
    page.get_by_role("button", name="Clear rate limit").click()
    expect(page.get_by_role("status").filter(has_text="available for dispatch")).to_be_visible()
    expect(page.locator("#needs-you article.limited")).to_have_count(0)
    assert "rate-limited until" not in sandbox.middle("status").stdout


def test_serve_with_dashboard_runs_it_and_stops_it(sandbox: Sandbox) -> None:
    import signal

    import httpx

    service = sandbox.popen(
        "serve", "--dashboard", "--port", "0", "--poll-seconds", "600", "--watchdog-seconds", "600"
    )
    assert service.stdout is not None
    line = ""
    while "middle dashboard: http://" not in line:
        line = service.stdout.readline()
        assert line, service.stderr.read() if service.stderr else "serve ended"
    base = line.split(": ", 1)[1].strip().partition("/?token=")[0]
    assert httpx.get(base + "/health").text == "ok"
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)
    assert service.returncode == 0
    try:
        httpx.get(base + "/health", timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("the dashboard outlived serve")


def test_dispatch_an_approved_epic_from_the_epics_page(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    sandbox.script({"do": "done"})
    policy = sandbox.repo / ".middle" / "policy.toml"  # the page dispatches with the default
    policy.write_text(policy.read_text() + '\n[repo]\ndefault_adapter = "command"\n')
    page.get_by_role("link", name="Epics").click()
    epic = page.locator(f"tr[data-ref='{REF}']")
    expect(epic).to_contain_text("Retry failed webhooks")
    expect(epic).to_contain_text("yes")  # approved
    epic.get_by_role("button", name="Dispatch").click()
    expect(page.get_by_role("status").filter(has_text=f"dispatching issue {REF}")).to_be_visible()
    expect(page.locator(f"tr[data-ref='{REF}']")).to_contain_text("waiting-human", timeout=60_000)
    assert sandbox.workflow()["state"] == "waiting-human"
