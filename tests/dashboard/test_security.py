"""The dashboard's defences, with the page open in a real browser: escaping, the token,
CSRF, loopback by default."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from middle.dashboard.server import check_host
from middle.errors import RemoteBindError
from middle.store import update_workflow
from tests.dashboard.conftest import Dashboard
from tests.e2e.conftest import REF, Sandbox, git

XSS_TITLE = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"


def test_an_epic_title_and_a_transcript_carrying_markup_run_nothing(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """Seen red: with `autoescape=False` in app.py the markup is parsed as markup (the
    question's <script> vanishes from the page and the test fails)."""
    epic = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    epic.write_text(epic.read_text().replace("# Retry failed webhooks", f"# {XSS_TITLE}"))
    git(sandbox.repo, "commit", "-qam", "a hostile title")
    sandbox.script({"do": "ask", "question": f"{SCRIPT} or not?"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    transcript = sandbox.root / "hostile.jsonl"
    lines = [
        {"type": "assistant", "message": {"content": [{"type": "text", "text": SCRIPT}]}},
        {"type": "user", "text": f"<b onmouseover=alert(3)>{SCRIPT}</b>"},
        "not even json <script>alert(4)</script>",
    ]
    transcript.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines))
    update_workflow(sandbox.db(), sandbox.workflow()["id"], transcript_path=str(transcript))

    expect(page.locator("#needs-you")).to_contain_text(f"{SCRIPT} or not?", timeout=20_000)
    page.get_by_role("link", name="Epics").click()
    expect(page.locator(".epic-title")).to_have_text(XSS_TITLE)
    page.get_by_role("link", name="Home").click()
    page.locator("#recent-runs").get_by_role("link", name=REF).click()
    expect(page.locator("#transcript .msg-assistant")).to_contain_text(SCRIPT)
    expect(page.locator(".epic-title")).to_have_text(XSS_TITLE)
    page.locator("#transcript .msg-user").hover()

    assert page.alerts == [] and page.errors == []
    assert page.locator("img[src=x], #transcript script, #transcript b").count() == 0


def test_without_the_token_every_page_is_401(browser: Any, dashboard: Dashboard) -> None:
    """Seen red: with the cookie check in TokenAuth bypassed, these return 200."""
    context = browser.new_context()
    try:
        tab = context.new_page()
        for path in ("/", "/runs", "/events", "/metrics", "/static/app.js"):
            assert tab.goto(dashboard.base + path).status == 401, path
        assert tab.goto(dashboard.base + "/?token=wrong").status == 401
        assert tab.goto(dashboard.base + "/health").status == 200  # the one open path
        landed = tab.goto(dashboard.url)  # the printed URL sets the cookie and drops the token
        assert landed.status == 200 and "token" not in tab.url
        port = dashboard.base.rsplit(":", 1)[1]
        cookie = next(c for c in context.cookies() if c["name"] == f"middle_dashboard_{port}")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    finally:
        context.close()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """Seen red: with the check in `checked_form` skipped, the forged answer is accepted."""
    sandbox.script({"do": "ask", "question": "Which base?"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    workflow_id = sandbox.workflow()["id"]
    forged = page.evaluate(
        """async (id) => {
            const body = new URLSearchParams({workflow_id: id, text: "forged", back: "/"});
            const r = await fetch("/actions/answer", {method: "POST", body, redirect: "manual"});
            return r.status;
        }""",
        workflow_id,
    )
    assert forged == 403
    # A form on another site (localhost is another site than 127.0.0.1 for cookies) posting
    # to the dashboard: SameSite=Strict keeps the cookie home, so the post is not even seen.
    page.goto(dashboard.base.replace("127.0.0.1", "localhost") + "/health")
    page.set_content(
        f'<form method="post" action="{dashboard.base}/actions/answer">'
        f'<input name="workflow_id" value="{workflow_id}"><input name="text" value="forged">'
        "<button>go</button></form>"
    )
    with page.expect_navigation():
        page.get_by_role("button", name="go").click()
    assert "401" in page.content()
    assert sandbox.workflow()["state"] == "waiting-human"
    assert len(sandbox.agent_log("turn")) == 1  # no answer reached the agent


def test_binding_beyond_loopback_needs_allow_remote(sandbox: Sandbox) -> None:
    refused = sandbox.middle("dashboard", "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("middle: --host 0.0.0.0 would expose")
    assert check_host("127.0.0.1", False) is None and check_host("::1", False) is None
    assert "warning" in (check_host("0.0.0.0", True) or "")
    try:
        check_host("192.168.1.5", False)
    except RemoteBindError:
        pass
    else:
        raise AssertionError("a LAN address was accepted without --allow-remote")
