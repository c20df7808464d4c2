"""Issue 24 items 1 and 5: GitHub asked only what changed (conditional requests, one
repo-wide listing per pass), and the recommender's read of a large repository.

Against the fake `gh` of tests/fakes/gh_fake.py, which answers as GitHub does: an ETag on
every response, a 304 (gh exits 1, `gh: HTTP 304`) to a matching `If-None-Match`, and a
count of the calls that cost quota (`state["quota"]`; a 304 is free).
"""

from __future__ import annotations

import json
import re
import subprocess

from tests.e2e.conftest import Sandbox
from tests.e2e.test_github import EPIC, FakeGitHub, github

__all__ = ["github"]  # the fixture, used by name


def gh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gh", *args], capture_output=True, text=True)


def head_and_body(out: str) -> tuple[dict[str, str], str, str]:
    head, _, body = re.split(r"(\r?\n\r?\n)", out, maxsplit=1)
    status, *lines = head.split("\n")
    headers = dict(line.rstrip("\r").split(": ", 1) for line in lines if line.strip())
    return headers, status, body


def test_the_fake_answers_a_matching_etag_with_a_free_304(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    github.comment(EPIC, "erin", "first")
    path = f"repos/acme/webhooks/issues/{EPIC}/comments"
    first = gh("api", "-i", path)
    assert first.returncode == 0, first.stderr
    headers, status, body = head_and_body(first.stdout)
    assert first.returncode == 0 and status == "HTTP/2.0 200 OK"
    assert headers["Etag"].startswith('W/"') and json.loads(body)[0]["body"] == "first"

    again = gh("api", "-i", "-H", f"If-None-Match: {headers['Etag']}", path)
    assert again.returncode == 1 and again.stderr.strip() == "gh: HTTP 304"  # as gh does
    assert head_and_body(again.stdout)[1] == "HTTP/2.0 304 Not Modified"

    github.comment(EPIC, "erin", "second")
    changed = gh("api", "-i", "-H", f"If-None-Match: {headers['Etag']}", path)
    assert changed.returncode == 0 and len(json.loads(head_and_body(changed.stdout)[2])) == 2
    assert github.read()["quota"] == {"rest": 2, "graphql": 0, "free": 1}


def test_the_fake_filters_repo_comments_by_since_and_keeps_pages(
    sandbox: Sandbox, github: FakeGitHub
) -> None:
    state = github.read()
    state["comments"] = {
        EPIC: [
            {"id": 1 + n, "login": "erin", "body": f"c{n}", "created_at": stamp(n)}
            for n in range(40)
        ]
    }
    github.write(state)
    path = "repos/acme/webhooks/issues/comments"
    since = json.loads(gh("api", f"{path}?since=2026-01-01T00:30:00Z").stdout)
    assert [c["body"] for c in since] == [f"c{n}" for n in range(30, 40)]  # inclusive
    assert since[0]["issue_url"].endswith(f"/issues/{EPIC}")
    first = gh("api", "-i", f"{path}?since=2026-01-01T00:05:00Z&per_page=20")
    headers, _, body = head_and_body(first.stdout)
    assert len(json.loads(body)) == 20
    assert 'since=2026-01-01T00:05:00Z&per_page=20&page=2>; rel="next"' in headers["Link"]


def stamp(minute: int) -> str:
    return f"2026-01-01T00:{minute:02}:00Z"
