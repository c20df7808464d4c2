"""A ready pull request's CI checks (GitHub mode): what a parked run's checks mean.

`gh pr checks N --required --json ...` is GitHub's own answer to "which checks does this
head need": its status check rollup on the PR's head commit (check runs and commit
statuses), the latest run of each check, filtered to the ones branch protection requires
(`isRequired`, which gh reads but does not export as a field). Its `bucket` sorts each
state into pass, fail, pending, skipping or cancel. With `--json`, gh exits 0 whatever the
checks say (the exit codes 1 for failed and 8 for pending are its table's); with no checks
at all it fails, naming the branch, and that means "nothing required here".

- A required check in the `fail` bucket on the current head resumes the agent, once per
  (head, check): the check's name and the tail of its log (for a GitHub Actions check,
  `gh run view RUN --log-failed`; for another, its description and link).
- Required checks still pending `checks_pending_hours` after they started (or, for one
  that never started, after the run parked) are a human's: middle comments once per head.
- A cancelled check is neither: a person cancelled it, and a person re-runs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from middle.errors import UNREADABLE_JSON, GitHubError
from middle.issues.polling import PullRequest
from middle.system.github import Gh

CHECK_FIELDS = "name,state,bucket,link,workflow,description,event,startedAt,completedAt"
LOG_LINES = 40
PENDING_MARKER = "<!-- middle:checks-pending"
# gh's error when the head has no (required) checks: not a failure, just nothing to read
_NO_CHECKS = re.compile(r"no (required )?checks reported on the '.*' branch")
_ACTIONS_RUN = re.compile(r"/actions/runs/(?P<run>\d+)(?:/job/(?P<job>\d+))?")
_LOG_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")


@dataclass(frozen=True)
class CiCheck:
    """One check as `gh pr checks --json` gives it."""

    name: str
    state: str  # GitHub's: SUCCESS, FAILURE, IN_PROGRESS, EXPECTED, ...
    bucket: str  # gh's: pass, fail, pending, skipping, cancel
    link: str
    workflow: str
    description: str
    started_at: datetime | None  # None for a check that has not started (Go's zero time)

    @property
    def run_id(self) -> str | None:
        """The GitHub Actions run behind the check, from its link; None for another CI."""
        match = _ACTIONS_RUN.search(self.link)
        return match["run"] if match else None


def parse_checks(text: str) -> list[CiCheck]:
    """`gh pr checks --json CHECK_FIELDS` output as checks. Raises GitHubError on anything
    that is not gh's list of check objects."""
    try:
        items = json.loads(text) if text.strip() else []
    except UNREADABLE_JSON as exc:
        raise GitHubError(f"gh pr checks printed something that is not JSON: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise GitHubError(f"gh pr checks printed {text[:200]!r}, not a list of checks")
    try:
        return [
            CiCheck(
                name=str(item["name"]),
                state=str(item["state"]),
                bucket=str(item["bucket"]),
                link=str(item.get("link") or ""),
                workflow=str(item.get("workflow") or ""),
                description=str(item.get("description") or ""),
                started_at=_moment(item.get("startedAt")),
            )
            for item in items
        ]
    except KeyError as exc:
        raise GitHubError(f"gh pr checks gave a check without {exc}") from exc


def _moment(stamp: Any) -> datetime | None:
    """A Go time as JSON: RFC 3339, and `0001-01-01T00:00:00Z` for none."""
    if not isinstance(stamp, str) or not stamp or stamp.startswith("0001-01-01"):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def required_checks(gh: Gh, slug: str, number: int) -> list[CiCheck]:
    """The required checks on the PR's current head; none when it has none."""
    try:
        out = gh.run(
            "pr", "checks", str(number), "--repo", slug, "--required", "--json", CHECK_FIELDS
        )
    except GitHubError as exc:
        if _NO_CHECKS.search(str(exc)):
            return []
        raise
    return parse_checks(out)


def log_tail(gh: Gh, slug: str, check: CiCheck, lines: int = LOG_LINES) -> str:
    """The end of a failed check's log: its failed steps' lines on GitHub Actions (the
    lines of its own job when the run has several), else its description and link."""
    where = f"Details: {check.link}" if check.link else ""
    if check.run_id is None:
        return "\n".join(part for part in (check.description, where) if part)
    try:
        out = gh.run("run", "view", check.run_id, "--repo", slug, "--log-failed")
    except GitHubError as exc:
        return "\n".join(part for part in (check.description, where, f"(no log: {exc})") if part)
    rows = [line.split("\t", 2) for line in out.splitlines()]
    own = [row for row in rows if len(row) == 3 and row[0] == check.name] or rows
    text = [_LOG_STAMP.sub("", row[-1]) for row in own]
    return "\n".join([*text[-lines:], where]).strip()


def failed_signal(
    pr: PullRequest,
    checks: list[CiCheck],
    acted_on: frozenset[str],
    tail: Callable[[CiCheck], str],
) -> dict[str, Any] | None:
    """The resume signal for required checks that failed on the PR's head and have not
    resumed the agent yet (ids `check:<head sha>:<name>`), or None."""
    failed = [
        check for check in checks if check.bucket == "fail" and _acted_id(pr, check) not in acted_on
    ]
    if not failed:
        return None
    sections = [
        f"### {check.name} ({check.state.lower()})\n\n```\n{tail(check)}\n```" for check in failed
    ]
    return {
        "kind": "check-failed",
        "text": "\n\n".join(sections),
        "author": "CI: " + ", ".join(check.name for check in failed),
        "pr": pr.number,
        "head": pr.head_sha,
        "acted_on": [_acted_id(pr, check) for check in failed],
    }


def _acted_id(pr: PullRequest, check: CiCheck) -> str:
    return f"check:{pr.head_sha}:{check.name}"


def pending_too_long(
    checks: list[CiCheck], parked_at: datetime | None, hours: float, now: datetime
) -> list[CiCheck]:
    """The required checks pending for longer than `hours`: since they started, or for
    one that never started, since the run parked (unknown: never too long)."""
    limit = hours * 3600
    return [
        check
        for check in checks
        if check.bucket == "pending"
        and (since := check.started_at or parked_at) is not None
        and (now - since).total_seconds() > limit
    ]


def pending_note(pr: PullRequest, late: list[CiCheck], hours: float) -> str:
    """The one comment that hands stuck checks to a human (its marker names the head)."""
    names = "\n".join(f"- {check.name} ({check.state.lower()}) {check.link}" for check in late)
    return (
        f"{pending_marker(pr)}\n**middle: required checks on pull request #{pr.number} have "
        f"been pending for over {hours:g} hours** (head {pr.head_sha[:12]}):\n\n{names}\n\n"
        "The agent waits for them; a human needs to look (re-run them, or fix the CI)."
    )


def pending_marker(pr: PullRequest) -> str:
    return f"{PENDING_MARKER} head={pr.head_sha} -->"
