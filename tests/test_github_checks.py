"""Reading `gh pr checks --json` and `gh run view --log-failed` (issue 19 item 7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from middle.config.schema import config_problems
from middle.errors import GitHubError
from middle.issues.github_checks import (
    CiCheck,
    failed_signal,
    log_tail,
    parse_checks,
    pending_too_long,
    required_checks,
)
from middle.issues.polling import PullRequest
from middle.system.github import Gh

# As gh 2.6x prints it: Go's zero time for a check that has not started or finished.
GH_JSON = json.dumps(
    [
        {"name": "tests", "state": "FAILURE", "bucket": "fail", "workflow": "CI",
         "event": "pull_request", "description": "",
         "link": "https://github.com/acme/w/actions/runs/123/job/456",
         "startedAt": "2026-01-02T03:04:05Z", "completedAt": "2026-01-02T03:09:05Z"},
        {"name": "ci/jenkins", "state": "PENDING", "bucket": "pending", "workflow": "",
         "event": "", "description": "Waiting", "link": "https://ci.example/9",
         "startedAt": "0001-01-01T00:00:00Z", "completedAt": "0001-01-01T00:00:00Z"},
    ]
)  # fmt: skip
PR = PullRequest(7, False, None, "OPEN", "c" * 40, "https://github.com/acme/w/pull/7")


def test_parse_checks_reads_gh_json() -> None:
    tests, jenkins = parse_checks(GH_JSON)
    assert (tests.name, tests.bucket, tests.run_id) == ("tests", "fail", "123")
    assert tests.started_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert jenkins.started_at is None and jenkins.run_id is None
    assert parse_checks("") == []


@pytest.mark.parametrize(
    "text", ["not json", '{"name": "x"}', "[1, 2]", '[{"state": "FAILURE", "bucket": "fail"}]']
)
def test_parse_checks_refuses_what_gh_never_prints(text: str) -> None:
    with pytest.raises(GitHubError):
        parse_checks(text)


class ScriptedGh(Gh):
    """A `Gh` that answers from a table (or raises what gh said), recording each call."""

    def __init__(self, answers: dict[str, str | GitHubError]) -> None:
        super().__init__(Path("."))
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str, input: str | None = None) -> str:
        self.calls.append(args)
        answer = self.answers[args[0]]
        if isinstance(answer, GitHubError):
            raise answer
        return answer


@pytest.mark.parametrize("which", ["", "required "])
def test_no_checks_on_the_branch_is_none_required(which: str) -> None:
    """gh fails (exit 1) when the head has no checks, or no required ones."""
    said = GitHubError(f"gh pr checks failed: no {which}checks reported on the 'b' branch")
    gh = ScriptedGh({"pr": said})
    assert required_checks(gh, "acme/w", 7) == []
    assert "--required" in gh.calls[0]
    with pytest.raises(GitHubError, match="HTTP 502"):
        required_checks(ScriptedGh({"pr": GitHubError("gh pr checks failed: HTTP 502")}), "a/w", 7)


def test_log_tail_keeps_the_checks_own_job_and_its_last_lines() -> None:
    lines = [f"tests\tRun it\t2026-01-01T00:00:00.1234567Z line {n}" for n in range(50)]
    lines.append("lint\tRun it\t2026-01-01T00:00:00.0000000Z lint line")
    gh = ScriptedGh({"run": "\n".join(lines) + "\n"})
    (tests, _) = parse_checks(GH_JSON)
    tail = log_tail(gh, "acme/w", tests, lines=3)
    assert tail.splitlines() == ["line 47", "line 48", "line 49", f"Details: {tests.link}"]
    assert gh.calls == [("run", "view", "123", "--repo", "acme/w", "--log-failed")]


def test_log_tail_without_a_log_says_why() -> None:
    gone = GitHubError("gh run view failed: run 123 is still in progress")
    (tests, jenkins) = parse_checks(GH_JSON)
    assert "(no log: gh run view failed: run 123 is still in progress)" in log_tail(
        ScriptedGh({"run": gone}), "acme/w", tests
    )
    assert log_tail(ScriptedGh({}), "a/w", jenkins) == "Waiting\nDetails: https://ci.example/9"


def test_failed_signal_once_per_head_and_check() -> None:
    checks = parse_checks(GH_JSON)
    signal = failed_signal(PR, checks, frozenset(), lambda c: "boom")
    assert signal is not None and signal["kind"] == "check-failed"
    assert signal["acted_on"] == [f"check:{'c' * 40}:tests"]
    assert "### tests (failure)\n\n```\nboom\n```" in signal["text"]
    assert failed_signal(PR, checks, frozenset(signal["acted_on"]), lambda c: "") is None


def test_pending_too_long_counts_from_the_start_or_the_park() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    started, never = parse_checks(GH_JSON)
    started = CiCheck(**{**started.__dict__, "bucket": "pending"})
    assert pending_too_long([started, never], None, 48, now) == [started]  # 2 days 21 hours
    assert pending_too_long([started], None, 72, now) == []
    assert pending_too_long([never], now - timedelta(hours=49), 48, now) == [never]


def test_checks_pending_hours_is_typed() -> None:
    assert config_problems("p.toml", {"github": {"checks_pending_hours": 1.5}}) == []
    (problem,) = config_problems("p.toml", {"github": {"checks_pending_hours": "two"}})
    assert "[github] checks_pending_hours = 'two': expected a positive number of hours" in problem
