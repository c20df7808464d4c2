"""The review's data and its forms, without a browser (issue 26): the evidence beside the
diff and when the diff is newer, pages of files, folded context, the feedback the agent
reads, and the comment forms' refusals through Starlette's TestClient on the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from middle.dashboard.app import create_app
from middle.dashboard.comments import feedback
from middle.dashboard.review import evidence_of, pages_of, segments
from middle.dashboard.security import csrf_token
from middle.store import (
    add_review_comment,
    create_workflow_record,
    discard_draft_comment,
    mark_comments_sent,
    open_db,
    record_event,
    review_comments,
)
from middle.system.diff import FileDiff, Hunk, Line
from tests.e2e.conftest import git

SECRET = "review-secret"


def test_the_evidence_says_the_head_it_judged_and_when_the_diff_is_newer(home: Path) -> None:
    """Seen red: with `stale` always False, the newer diff was not said."""
    db = open_db(home / "db.sqlite3")
    create_workflow_record(db, id="w1", kind="implementation", repo="/r", epic_ref="x",
                           adapter="command")  # fmt: skip
    assert evidence_of(db, "w1", "a" * 40) is None
    result = {"gate": "ok", "category": "unit", "result": "passed", "duration_seconds": 0.1}
    record_event(db, "w1", "gates.ran", {"head": "a" * 40, "results": [result]})
    record_event(db, "w1", "gates.ran", {"head": "b" * 40, "results": [result]})
    record_event(db, "w1", "evidence.judged", {"head": "a" * 40, "ok": True, "criteria": []})
    shown = evidence_of(db, "w1", "b" * 40)
    assert shown is not None
    assert shown["gates"]["head"] == "b" * 40 and not shown["gates"]["stale"]  # the newest
    assert shown["evidence"]["stale"]


def test_files_are_paged_by_lines_and_never_split() -> None:
    def sized(n: int) -> FileDiff:
        return FileDiff("f", "f", hunks=[Hunk(1, 1, "", [Line("add", None, 1, "x")] * n)])

    files = [sized(1500), sized(400), sized(300), sized(2600), sized(10)]
    assert pages_of(files, 2000) == [[0, 1], [2], [3], [4]]
    assert pages_of([], 2000) == [[]]


def test_context_farther_than_three_lines_from_a_change_is_folded() -> None:
    ctx = [Line("ctx", n, n, f"c{n}") for n in range(1, 11)]
    change = [Line("add", None, 11, "new")]
    hunk = Hunk(1, 1, "", [*ctx, *change, *[Line("ctx", n, n + 1, "") for n in range(11, 13)]])
    shown = [(s.folded, len(s.lines)) for s in segments(hunk)]
    assert shown == [(True, 7), (False, 6)]


def test_the_feedback_lists_each_comment_as_path_line_with_its_context() -> None:
    drafts = [
        {"path": "a.py", "line": 4, "body": "Name it.", "context": "  3 | x\n> 4 | y\n  5 | z"},
        {"path": "b/c.py", "line": 1, "body": "Why?", "context": "> 1 | import os"},
    ]
    text = feedback("Two things.", drafts)
    assert text.startswith("Two things.\n\n")
    assert "a.py:4: Name it.\n      3 | x\n    > 4 | y\n      5 | z" in text
    assert "b/c.py:1: Why?\n    > 1 | import os" in text
    assert feedback("  ", []) == ""


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({}, "the form names no run (workflow_id)"),
        ({"workflow_id": "nope"}, "nope"),
    ],
)
def test_a_comment_form_a_page_would_not_send_is_refused(
    home: Path, form: dict[str, str], said: str
) -> None:
    client = TestClient(create_app(SECRET, home), base_url="http://127.0.0.1:4121")
    assert client.get(f"/?token={SECRET}").status_code == 200
    data = {"csrf": csrf_token(SECRET), "back": "/", **form}
    response = client.post("/actions/comment", data=data, follow_redirects=False)
    assert response.status_code == 400
    assert said in response.text


def test_a_comment_without_the_csrf_token_is_refused(home: Path) -> None:
    client = TestClient(create_app(SECRET, home), base_url="http://127.0.0.1:4122")
    assert client.get(f"/?token={SECRET}").status_code == 200
    response = client.post("/actions/comment", data={"workflow_id": "w", "body": "x"})
    assert response.status_code == 403


def test_a_draft_can_be_discarded_and_a_sent_comment_is_kept(home: Path) -> None:
    """Seen red: with the `state = 'draft'` guard left out of the delete, a sent comment
    was discarded too."""
    db = open_db(home / "db.sqlite3")
    create_workflow_record(db, id="w1", kind="implementation", repo="/r", epic_ref="x",
                           adapter="command")  # fmt: skip
    at = {"path": "a.py", "head_sha": "a" * 40, "body": "b"}
    sent = add_review_comment(db, "w1", line=1, **at)
    draft = add_review_comment(db, "w1", line=2, **at)
    mark_comments_sent(db, "w1", [sent])
    assert not discard_draft_comment(db, "w1", sent)
    assert not discard_draft_comment(db, "other-run", draft)
    assert discard_draft_comment(db, "w1", draft)
    kept = review_comments(db, "w1")
    assert [(c["line"], c["state"]) for c in kept] == [(1, "sent")]
    assert kept[0]["sent_at"]


def test_the_inspector_names_binary_and_huge_files_escapes_lines_and_pages_files(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real repository and branch, the real app: a binary file and a file over the size
    limit are named, not inlined; a line of markup arrives escaped; files past the page's
    line budget are on the next page, linked from the file list."""
    import middle.dashboard.review as review

    monkeypatch.setattr(review, "PAGE_LINES", 50)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    git(repo, "checkout", "-q", "-b", "middle/issue-x")
    (repo / "a.html").write_text('<script>alert("x")</script>\n')
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    (repo / "huge.txt").write_text("".join(f"{n}\n" for n in range(4000)))
    (repo / "z.py").write_text("".join(f"z{n}\n" for n in range(60)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "work")
    db = open_db(home / "db.sqlite3")
    create_workflow_record(db, id="w1", kind="implementation", repo=str(repo), epic_ref="x",
                           adapter="command", meta={"input": {"base": "main"}})  # fmt: skip
    client = TestClient(create_app(SECRET, home), base_url="http://127.0.0.1:4123")
    assert client.get(f"/?token={SECRET}").status_code == 200

    first = client.get("/runs/w1").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in first
    assert '<script>alert("x")' not in first
    assert "Binary file: not shown." in first
    assert "Too large to show here (4000 lines changed)" in first
    assert "z59" not in first and 'href="/runs/w1?page=2#f-w1-3"' in first
    assert "files page 1 of 2" in first
    second = client.get("/runs/w1?page=2").text
    assert "z59" in second and "files page 2 of 2" in second
    assert 'class="comment-form"' not in first  # a run not waiting for a review
