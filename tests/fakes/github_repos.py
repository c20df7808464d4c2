"""Repositories for the fake `gh` (tests/fakes/gh_fake.py) that tests and benchmarks
share."""

from __future__ import annotations

from typing import Any


def large_repo(epics: int = 200) -> dict[str, Any]:
    """The `issues` of a repository with 1,000 open issues (for 200 Epics): the Epics
    (#1-#200, labelled `epic` and `agent-queue:eligible`; each 10th blocked by the one
    before it) with 3 sub-issues each (#201-#800, the first of each closed, so not open),
    200 standalone issues (#801-#1000, unlabelled), and one Epic more that is not labelled
    eligible (#1001, with its sub-issue #1002)."""
    issues: dict[str, Any] = {}
    criteria = "- [ ] it works\n"
    for epic in range(1, epics + 1):
        subs = [epics + 3 * (epic - 1) + n for n in (1, 2, 3)]
        issues[str(epic)] = {
            "title": f"Epic {epic}", "body": criteria, "sub_issues": subs,
            "labels": ["epic", "agent-queue:eligible"],
            **({"blocked_by": [epic - 1]} if epic % 10 == 0 else {}),
        }  # fmt: skip
        for n, sub in enumerate(subs):
            issues[str(sub)] = {"title": f"Part {sub}", "body": "", "parent": epic,
                                **({"state": "CLOSED"} if n == 0 else {})}  # fmt: skip
    last = 4 * epics
    for n in range(last + 1, last + epics + 1):
        issues[str(n)] = {"title": f"Chore {n}", "body": criteria}
    extra = last + epics + 1
    issues[str(extra)] = {"title": "Not eligible", "body": criteria, "labels": ["epic"],
                          "sub_issues": [extra + 1]}  # fmt: skip
    issues[str(extra + 1)] = {"title": "Its part", "body": "", "parent": extra}
    return issues
