"""Review in the browser (issue 26): the branch's diff under the Needs-you card and in the
inspector, line comments that reach the agent's next brief, and the next round's diff
marking them resolved. Debian's Chromium through Playwright, against a real `middle
dashboard`, real git, tmux and the stand-in agent driven by the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard
from tests.e2e.conftest import REF, Sandbox, git, wait_until
from tests.e2e.test_github import EPIC, FakeGitHub, github  # noqa: F401  (the fixture)

CRITERION = "Failed deliveries retry with exponential backoff"  # the sample Epic's one
ORIGINAL = "".join(f"line {n}\n" for n in range(1, 31))
RETRY = ORIGINAL.replace("line 4\n", "BASE = 3\n").replace("line 22\n", "CAP = 300\n")
XSS = '<script>alert("diff")</script>\n" onmouseover="alert(1)" x="\n<img src=x onerror=alert(2)>\n'


def card(page: Any) -> Any:
    return page.locator("#needs-you article.review")


def test_a_line_comment_reaches_the_brief_and_is_resolved_next_round(
    sandbox: Sandbox, dashboard: Dashboard, page: Any, screenshots: Path
) -> None:
    """A run parks ready for review; its card shows the diff (the file, an added line); a
    comment on line 4 and Request changes give the agent a brief with `retry.py:4:` and
    the comment and the lines around it; the agent rewrites line 4, and the next round's
    diff shows the comment resolved. Seen red: with `is_resolved` answering False, the
    earlier comment shows "lines unchanged"."""
    (sandbox.repo / "retry.py").write_text(ORIGINAL)
    (sandbox.repo / ".middle" / "verify.toml").write_text(
        '[[gate]]\nname = "ok"\ncommand = "true"\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "retry.py and a gate")
    fixed = RETRY.replace("BASE = 3", "BASE = 2  # as asked")
    evidence = [{"criterion": CRITERION, "evidence": "retry.py:4"}]
    sandbox.script(
        {"do": "done", "commit": ["retry.py"], "write": {"retry.py": RETRY}, "evidence": evidence},
        {"do": "done", "commit": ["retry.py"], "write": {"retry.py": fixed}, "evidence": evidence},
    )
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0

    review = card(page)
    expect(review.get_by_text("ready for review")).to_be_visible(timeout=20_000)
    diff = review.locator(".diff-file[data-path='retry.py']")
    expect(diff.locator(".file-name")).to_contain_text("retry.py")
    added = diff.locator("tr.l-add[data-line='4']")
    expect(added).to_contain_text("BASE = 3")
    expect(diff.locator("tr.l-del")).to_have_count(2)
    folded = diff.locator("tbody.folded").first
    expect(folded).to_be_hidden()  # context beyond 3 lines of a change, folded
    diff.get_by_role("button", name="Show").first.click()
    expect(folded).to_be_visible()
    evidence_block = review.locator(".evidence-block")
    expect(evidence_block.locator(".gate-passed")).to_contain_text("ok")
    expect(evidence_block.locator(".criterion.holds")).to_contain_text("retry.py:4")
    expect(evidence_block).not_to_contain_text("newer")

    added.locator("td.ln-new").click()
    page.get_by_label("Comment on retry.py:4").fill("Use base 2, as the issue says.")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("tr.draft-comment")).to_contain_text("Use base 2, as the issue says.")
    expect(card(page).locator(".draft-count")).to_contain_text("1 comment")
    page.screenshot(path=str(screenshots / "dashboard-review.png"), full_page=True)

    page.get_by_label("Review feedback").fill("Close; one change.")
    page.get_by_role("button", name="Request changes").click()
    wait_until(lambda: len(sandbox.agent_log("turn")) == 2, timeout=60)
    brief = sandbox.agent_log("turn")[1]["brief"]
    assert "Close; one change." in brief
    assert "retry.py:4: Use base 2, as the issue says." in brief
    assert ">  4 | BASE = 3" in brief.replace("> 4 |", ">  4 |")  # the line, with context
    assert "line 3" in brief and "line 5" in brief

    expect(card(page).get_by_text("ready for review")).to_be_visible(timeout=60_000)
    earlier = card(page).locator(".earlier-comment")
    expect(earlier).to_contain_text("retry.py:4")
    expect(earlier).to_contain_text("resolved")
    expect(card(page).locator("tr.l-add[data-line='4']")).to_contain_text("BASE = 2")


def test_a_diff_that_adds_markup_runs_nothing(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """The agent's lines (`<script>`, an attribute break-out, an `onerror` image) and a
    file named like markup are shown as text and run nothing, in the card and in the
    inspector, also when a line is commented on. Seen red: with `| safe` on the code cell,
    the alert fires."""
    name = "x<b>.html"
    sandbox.script({"do": "done", "commit": [name], "write": {name: XSS}})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    review = card(page)
    expect(review.get_by_text("ready for review")).to_be_visible(timeout=20_000)
    diff = review.locator(".diff-file").filter(has_text=name)
    expect(diff.locator("tr.l-add").first).to_contain_text('<script>alert("diff")</script>')
    diff.locator("tr.l-add").nth(1).hover()
    diff.locator("tr.l-add[data-line='2'] td.ln-new").click()
    page.get_by_label(f"Comment on {name}:2").fill('<img src=y onerror=alert("c")>')
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("tr.draft-comment")).to_contain_text('<img src=y onerror=alert("c")>')
    page.locator("#needs-you h2 a").first.click()
    inspected = page.locator("#run-review .diff-file").filter(has_text=name)
    expect(inspected).to_contain_text('" onmouseover="alert(1)" x="')
    inspected.locator("tr.l-add").nth(1).hover()
    assert page.alerts == [] and page.errors == []
    assert page.locator("script:not([src])").count() == 0


def test_keys_move_between_files_focus_the_review_box_and_approve_after_a_confirm(
    sandbox: Sandbox, dashboard: Dashboard, page: Any
) -> None:
    """j/k move between files, r focuses the review box, a asks before it approves (the
    page fixture dismisses the dialog, so nothing is approved)."""
    sandbox.script({"do": "done", "commit": ["a.py", "b.py"]})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    expect(card(page).get_by_text("ready for review")).to_be_visible(timeout=20_000)
    page.locator("#needs-you h2 a").first.click()
    expect(page.locator("#run-review .diff-file")).to_have_count(3)
    page.keyboard.press("j")
    expect(page.locator(".diff-file:focus")).to_have_attribute("data-path", "STANDIN_WORK.md")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(".diff-file:focus")).to_have_attribute("data-path", "b.py")
    page.keyboard.press("k")
    expect(page.locator(".diff-file:focus")).to_have_attribute("data-path", "a.py")
    page.keyboard.press("r")
    expect(page.get_by_label("Review feedback")).to_be_focused()
    page.get_by_label("Review feedback").press("Escape")
    page.locator("h1").click()
    page.keyboard.press("a")
    wait_until(lambda: page.alerts)
    assert "Approve this branch?" in page.alerts[0]
    assert sandbox.workflow()["state"] == "waiting-human"


def comment_and_request_changes(page: Any, path: str, line: int, text: str) -> None:
    review = card(page)
    expect(review.get_by_text("ready for review")).to_be_visible(timeout=20_000)
    review.locator(f".diff-file[data-path='{path}'] tr[data-line='{line}'] td.ln-new").click()
    page.get_by_label(f"Comment on {path}:{line}").fill(text)
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("tr.draft-comment")).to_contain_text(text)
    page.get_by_label("Review feedback").fill("One change, then it is good.")
    page.get_by_role("button", name="Request changes").click()


def test_in_github_mode_the_review_is_posted_with_line_comments_and_polled(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
    dashboard: Dashboard,
    page: Any,
) -> None:
    """The person at the dashboard (gh logged in as carol, a collaborator) reviews the
    pull request middle's account opened: the review goes to GitHub as REQUEST_CHANGES
    with its line comment, and `middle poll` starts the round from it, the comment in the
    brief as `path:line: comment` with its diff hunk. Seen red: without the comments
    reader in the poller, the brief held the summary only."""
    state = github.read()
    state["git_remote"] = str(sandbox.repo / ".git")  # the PR's commits, for its diff
    github.write(state)
    sandbox.script(
        {"do": "done", "pr": "ready", "commit": ["retry.py"], "write": {"retry.py": RETRY}},
        {"do": "done"},
    )
    assert sandbox.middle("implement", "--issue", EPIC, "--agent", "command").returncode == 0
    state = github.read()
    state["login"] = "carol"  # who reviews: not the pull request's author
    github.write(state)

    comment_and_request_changes(page, "retry.py", 4, "Use base 2, as the issue says.")
    expect(page.get_by_role("status").filter(has_text="posted on PR #200")).to_be_visible()
    (review,) = github.pr()["reviews"]
    assert (review["login"], review["state"]) == ("carol", "CHANGES_REQUESTED")
    assert review["body"] == "One change, then it is good."
    ((comment),) = review["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == ("retry.py", 4, "RIGHT")
    assert comment["body"] == "Use base 2, as the issue says."
    assert sandbox.workflow()["state"] == "waiting-human"  # the poller, not the page, resumes

    polled = sandbox.middle("poll")
    assert "issue 108: request-changes" in polled.stdout, polled.stderr
    brief = sandbox.agent_log("turn")[1]["brief"]
    assert "@carol: One change, then it is good." in brief
    assert (
        "retry.py:4: Use base 2, as the issue says.\n    +line 2\n    +line 3\n    +BASE = 3"
        in brief
    )


def test_on_ones_own_pull_request_the_comments_go_as_a_comment_review_and_the_run_resumes(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
    dashboard: Dashboard,
    page: Any,
) -> None:
    """GitHub refuses a change request on one's own pull request (the fake does too): the
    line comments go as a COMMENT review, and the run is resumed through `middle review`
    with them in the brief. Seen red: without the fallback, the refusal was the page's
    error notice and the agent never got a second turn."""
    state = github.read()
    state["git_remote"] = str(sandbox.repo / ".git")
    github.write(state)
    sandbox.script(
        {"do": "done", "pr": "ready", "commit": ["retry.py"], "write": {"retry.py": RETRY}},
        {"do": "done"},
    )
    assert sandbox.middle("implement", "--issue", EPIC, "--agent", "command").returncode == 0

    comment_and_request_changes(page, "retry.py", 4, "Use base 2.")
    wait_until(lambda: len(sandbox.agent_log("turn")) == 2, timeout=60)
    assert "retry.py:4: Use base 2." in sandbox.agent_log("turn")[1]["brief"]
    (review,) = github.pr()["reviews"]
    assert (review["login"], review["state"]) == ("middle-bot", "COMMENTED")
    assert [c["line"] for c in review["comments"]] == [4]
    assert any("own pull request" in r["stderr"] for r in github.read()["refused"])
