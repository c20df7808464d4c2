"""The dashboard's answers to requests a page would not send, and its login cookie, through
Starlette's TestClient on the real app (issue 20 items 14 and 16)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from middle.dashboard.app import create_app
from middle.dashboard.security import csrf_token
from tests.e2e.conftest import REF, Sandbox

SECRET = "the-secret-of-this-dashboard"


def logged_in(home: Path, port: int = 4120, secret: str = SECRET) -> TestClient:
    """A client of a fresh app, logged in through the printed URL's token."""
    client = TestClient(create_app(secret, home), base_url=f"http://127.0.0.1:{port}")
    assert client.get(f"/?token={secret}").status_code == 200
    return client


def post(client: TestClient, action: str, **form: str) -> object:
    data = {"csrf": csrf_token(SECRET), "back": "/runs", **form}
    return client.post(f"/actions/{action}", data=data, follow_redirects=False)


@pytest.mark.parametrize("action", ["answer", "review", "cancel", "resume", "take-over", "release"])
def test_an_action_without_its_run_is_a_400_with_a_notice(home: Path, action: str) -> None:
    """Seen red: a KeyError in `wid(form)`, so a 500 and a traceback in the server's log."""
    response = post(logged_in(home), action, text="hi")
    assert response.status_code == 400  # type: ignore[attr-defined]
    page = response.text  # type: ignore[attr-defined]
    assert 'class="notice notice-error" role="alert"' in page
    assert "the form names no run (workflow_id); reload the page and try again" in page
    assert 'href="/runs"' in page  # the way back


def test_a_dispatch_to_a_missing_repo_is_a_400_and_spawns_nothing(
    home: Path, tmp_path: Path
) -> None:
    """Seen red: `Popen(cwd=<missing>)` raised FileNotFoundError: a 500."""
    client = logged_in(home)
    missing = tmp_path / "gone"
    response = post(client, "dispatch", repo=str(missing), ref=REF)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert f"--repo {missing}: no such directory" in response.text  # type: ignore[attr-defined]
    assert list(client.app.state.dashboard.jobs.recent) == []  # type: ignore[attr-defined]
    assert not (home / "logs" / "dashboard-actions.log").exists()


def test_a_dispatch_of_a_ref_that_is_not_one_is_a_400(sandbox: Sandbox) -> None:
    """Seen red: the ref went to a spawned `middle implement` as it was (empty, `../x`)."""
    client = logged_in(sandbox.home)
    refs = {"": "the form names no issue (ref)", "../x": "is not a valid ref"}
    for ref, said in refs.items():
        response = post(client, "dispatch", repo=str(sandbox.repo), ref=ref)
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert said in response.text  # type: ignore[attr-defined]
    assert list(client.app.state.dashboard.jobs.recent) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("pause", ["pause", "unpause"])
def test_a_pause_that_names_no_repo_is_refused_and_pauses_nothing(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, pause: str
) -> None:
    """Seen red: an empty `repo` paused the repository the dashboard was started in."""
    monkeypatch.chdir(sandbox.repo)
    response = post(logged_in(sandbox.home), "pause", pause=pause)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "the form names no repository" in response.text  # type: ignore[attr-defined]
    with sqlite3.connect(sandbox.home / "db.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM repo_config").fetchone() == (0,)


def test_an_unknown_run_is_a_400_and_a_refusal_is_still_a_redirect(sandbox: Sandbox) -> None:
    """A form naming no run that exists is a bad request; a well-formed one that is refused
    (the run moved on, the answer is empty) is a 303 back to the page, which shows the
    notice, as before (the browser tests rely on it)."""
    client = logged_in(sandbox.home)
    response = post(client, "answer", workflow_id="wf-none", text="hi")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "no workflow with id &#39;wf-none&#39;" in response.text  # type: ignore[attr-defined]
    response = post(client, "answer", workflow_id="wf-none", text=" ")
    assert response.status_code == 303  # type: ignore[attr-defined]
    landed = client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "the answer is empty" in landed.text


def test_the_epics_page_shows_an_unreadable_epic_beside_the_others(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 16. Seen red: a directory named `x.md`, or an Epic that is not UTF-8,
    made the whole Epics page a 500."""
    epics = sandbox.repo / "planning" / "epics"
    (epics / "x.md").mkdir()
    (epics / "latin.md").write_bytes(b"<!-- middle:epic v1 -->\n# Caf\xe9\n")
    monkeypatch.chdir(sandbox.repo)
    response = logged_in(sandbox.home).get("/epics")
    assert response.status_code == 200
    assert f"{epics / 'x.md'} is a directory, not an Epic file" in response.text
    assert "latin.md is not UTF-8 text: byte 0xe9 at offset 29" in response.text
    assert "Retry failed webhooks" in response.text  # the readable Epic is listed


def test_two_dashboards_on_one_host_keep_their_own_logins(home: Path) -> None:
    """Issue 20 item 16. A browser keeps one cookie per name and host, whatever the port:
    seen red, logging into the second dashboard replaced the first one's cookie (both were
    `middle_dashboard`), and the first answered 401."""
    first = logged_in(home, 4120, "first-secret")
    second = logged_in(home, 4121, "second-secret")
    browser: dict[str, str] = {}  # name -> value, as a browser keeps them for 127.0.0.1
    for client in (first, second):
        browser.update({cookie.name: cookie.value for cookie in client.cookies.jar})
    assert sorted(browser) == ["middle_dashboard_4120", "middle_dashboard_4121"]
    for client in (first, second):
        client.cookies.clear()
        client.cookies.update(browser)
        assert client.get("/runs").status_code == 200


def test_a_run_of_no_issue_is_named_by_its_kind_and_repository(home: Path, tmp_path: Path) -> None:
    """A recommender run has no issue. Seen red: the Runs page and its own page said
    "None" where the issue goes."""
    from middle.store import create_workflow_record, open_db

    repo = tmp_path / "webhooks"
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="rec-1", kind="recommender", repo=str(repo), epic_ref=None, adapter="claude"
    )
    client = logged_in(home)
    for page in ("/runs", "/runs/rec-1"):
        text = client.get(page).text
        assert "recommender (webhooks)" in text, page
        assert ">None<" not in text and "None " not in text, page


def test_the_run_inspector_shows_each_phases_gate_evidence(home: Path, tmp_path: Path) -> None:
    """Issue 19, item 4: the phases' gate evidence is a block of the inspector, the
    gate's output escaped. Seen red before the block: no "Gate evidence" on the page."""
    from middle.store import create_workflow_record, merge_workflow_meta, open_db

    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="wf-1", kind="implementation", repo=str(tmp_path / "webhooks"),
        epic_ref="7", adapter="claude",
    )  # fmt: skip
    failed = {"gate": "queue", "category": "integration", "result": "failed",
              "duration_seconds": 2.5, "head": "c" * 40, "tail": "<b>1 failed</b>\n"}  # fmt: skip
    run = {"phase": "2", "head": "c" * 40, "passed": False, "results": [failed]}
    merge_workflow_meta(db, "wf-1", {"phases": {"2": run}})

    text = logged_in(home).get("/runs/wf-1").text

    assert "Gate evidence" in text and "Phase #2" in text and "c" * 12 in text
    assert "<td>queue</td><td>integration</td><td>failed</td><td>2.5s</td>" in text
    assert "&lt;b&gt;1 failed&lt;/b&gt;" in text and "<b>1 failed</b>" not in text
