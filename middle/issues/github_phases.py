"""A pull request's phase checkboxes, as the reference writes them: the first level-2
`## Status` heading of the PR body holds one checkbox per sub-issue, each line naming it
as `#n`. Fenced code is never read as the section (a quoted template, say), and nothing
outside the section is ever changed.

    ## Status
    - [x] #12 Retry queue
    - [ ] #13 Backoff

The gate evidence of a phase is one PR comment per phase, found again by its marker
among middle's own comments, and edited in place (`upsert_evidence`).
"""

from __future__ import annotations

import re
from typing import Any

from middle.system.github import Gh, upsert_marked_comment
from middle.verify.phases import PhaseRun

_HEADING = re.compile(r"^#{1,6}\s")
_STATUS = re.compile(r"^##\s+status\s*$", re.I)
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_BOX = re.compile(r"^\s*[-*]\s+\[(?P<mark>[ xX])\]\s+.*?#(?P<number>[0-9]+)")


def evidence_marker(phase: str) -> str:
    """The hidden first line of phase `phase`'s evidence comment."""
    return f"<!-- middle:gate-evidence:phase-{phase} -->"


def _status_lines(lines: list[str]) -> range:
    """The line numbers of the first real `## Status` section (empty if none)."""
    fence: str | None = None
    start: int | None = None
    for index, line in enumerate(lines):
        marker = _FENCE.match(line)
        if marker is not None:
            if fence is None:
                fence = marker[1][0]
            elif marker[1][0] == fence:
                fence = None
            continue
        if fence is not None:
            continue
        if start is None and _STATUS.match(line):
            start = index + 1
        elif start is not None and _HEADING.match(line):
            return range(start, index)
    return range(start, len(lines)) if start is not None else range(0)


def _fenced(lines: list[str]) -> set[int]:
    fence: str | None = None
    inside: set[int] = set()
    for index, line in enumerate(lines):
        marker = _FENCE.match(line)
        if marker is not None:
            inside.add(index)
            if fence is None:
                fence = marker[1][0]
            elif marker[1][0] == fence:
                fence = None
        elif fence is not None:
            inside.add(index)
    return inside


def status_checkboxes(body: str) -> dict[str, bool]:
    """Each sub-issue of the Status section (its number, as text) and whether it is
    checked; the first line naming a sub-issue counts."""
    lines = body.split("\n")
    fenced = _fenced(lines)
    marks: dict[str, bool] = {}
    for index in _status_lines(lines):
        box = _BOX.match(lines[index]) if index not in fenced else None
        if box is not None:
            marks.setdefault(box["number"], box["mark"] != " ")
    return marks


def untick(body: str, phase: str) -> str:
    """`body` with the Status section's checked line(s) of sub-issue `phase` unchecked."""
    lines = body.split("\n")
    fenced = _fenced(lines)
    for index in _status_lines(lines):
        box = _BOX.match(lines[index]) if index not in fenced else None
        if box is not None and box["number"] == phase and box["mark"] != " ":
            lines[index] = re.sub(r"\[[xX]\]", "[ ]", lines[index], count=1)
    return "\n".join(lines)


def revert_on_pr(gh: Gh, slug: str, pr: dict[str, Any], run: PhaseRun) -> None:
    """Untick `run.phase` in the body of `pr` (its `number` and `body`), and say which
    gate failed, with the tail of its output, in a PR comment."""
    number, body = str(pr["number"]), str(pr.get("body") or "")
    unticked = untick(body, run.phase)
    if unticked != body:
        gh.run("pr", "edit", number, "--repo", slug, "--body-file", "-", input=unticked)
    tails = [f"**{r.summary()}**\n\n```\n{r.tail.strip()[-1500:]}\n```" for r in run.failing]
    text = "\n\n".join([f"middle unticked #{run.phase}: {run.report()}", *tails])
    gh.run("pr", "comment", number, "--repo", slug, "--body-file", "-", input=text)


def upsert_evidence(gh: Gh, slug: str, number: int, me: str, run: PhaseRun) -> None:
    """Phase `run.phase`'s one evidence comment on PR `number`, edited in place."""
    marker = evidence_marker(run.phase)
    body = f"{marker}\n{run.evidence_markdown()}\n"
    upsert_marked_comment(gh, slug, "pr", str(number), marker, body, me)
