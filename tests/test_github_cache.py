"""What middle keeps of GitHub between `gh` calls (`middle/system/github_cache.py`), and
how `gh api -i` is read (`middle/system/github.py`)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from middle.system.github import call_cost, next_page, split_response
from middle.system.github_cache import GhCache, calls_line

NOW = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)


def test_calls_are_counted_by_cost_over_the_last_hour_only(tmp_path: Path) -> None:
    cache = GhCache(tmp_path)
    cache.count("rest", NOW - timedelta(minutes=61))  # out of the hour
    cache.count("rest", NOW - timedelta(minutes=59))
    for _ in range(3):
        cache.count("free", NOW)
    cache.count("graphql", NOW)
    calls = cache.calls_last_hour(NOW)
    assert calls == {"rest": 1, "graphql": 1, "free": 3}
    assert calls_line(calls) == (
        "middle's gh calls in the last hour: 2 cost quota (1 REST, 1 GraphQL), "
        "3 free (304 Not Modified)"
    )
    cache.count("rest", NOW + timedelta(hours=3))  # the old minutes are dropped
    assert len(json.loads((cache.folder / "calls.json").read_text())) == 1


def test_a_page_is_kept_private_and_pruned_when_not_read_for_days(tmp_path: Path) -> None:
    cache = GhCache(tmp_path)
    cache.save_page("repos/a/b/issues?per_page=100", 'W/"1"', [{"number": 1}], None)
    kept = cache.page("repos/a/b/issues?per_page=100")
    assert kept == {"url": "repos/a/b/issues?per_page=100", "etag": 'W/"1"',
                    "body": [{"number": 1}], "next": None}  # fmt: skip
    (path,) = (cache.folder / "pages").glob("*.json")
    assert path.stat().st_mode & 0o777 == 0o600  # a private repository's issues are in it
    old = (NOW - timedelta(days=8)).timestamp()
    os.utime(path, (old, old))
    assert cache.prune(days=7, now=NOW) == 1 and cache.page("repos/a/b/issues") is None


@pytest.mark.parametrize("newline", ["\r\n", "\n"])  # gh prints CRLF; text mode reads LF
def test_gh_api_i_output_is_read_as_status_headers_and_body(newline: str) -> None:
    out = (
        "HTTP/2.0 200 OK\n"
        f'Content-Type: application/json{newline}Etag: W/"abc"{newline}'
        f'Link: <https://api.github.com/repos/a/b/issues?per_page=100&page=2>; rel="next", '
        f'<https://api.github.com/repos/a/b/issues?per_page=100&page=3>; rel="last"{newline}'
        f'{newline}[{{"number": 1}}]'
    )
    status, headers, body = split_response(out)
    assert (status, headers["etag"], body) == (200, 'W/"abc"', '[{"number": 1}]')
    assert next_page(headers["link"]) == "repos/a/b/issues?per_page=100&page=2"
    assert split_response("gh: Not Found (HTTP 404)") == (None, {}, "gh: Not Found (HTTP 404)")


@pytest.mark.parametrize(
    ("args", "out", "cost"),
    [
        (["api", "-i", "-H", "If-None-Match: x", "repos/a/b/pulls"], "HTTP/2.0 304 Not\n", "free"),
        (["api", "-i", "repos/a/b/pulls"], "HTTP/2.0 200 OK\n", "rest"),
        (["api", "rate_limit"], "{}", "free"),
        (["api", "graphql", "-f", "query=query { viewer { login } }"], "{}", "graphql"),
        (["issue", "view", "1", "--json", "title"], "{}", "graphql"),
        (["run", "view", "7", "--log-failed"], "", "rest"),
        (["auth", "status"], "", None),
    ],
)  # fmt: skip
def test_each_call_is_charged_as_github_charges_it(
    args: list[str], out: str, cost: str | None
) -> None:
    assert call_cost(args, out) == cost
