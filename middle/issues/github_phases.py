"""A pull request's phase checkboxes, as the reference writes them: the first level-2
`## Status` heading of the PR body holds one checkbox per sub-issue, each line naming it
as `#n`. Fenced code is never read as the section (a quoted template, say), and nothing
outside the section is ever changed.

    ## Status
    - [x] #12 Retry queue
    - [ ] #13 Backoff

The gate evidence of a phase is one PR comment per phase, found again by its marker.
"""

from __future__ import annotations

import re

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
