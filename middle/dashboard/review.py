"""A run's review, as plain data for the templates (issue 26): its branch's diff against the
merge base with the base branch, file by file and a page at a time; the gate results and
criterion evidence beside it, with the head they judged; and the reviewer's line comments
(drafts under their lines, earlier rounds' beside the new diff, resolved when their lines
changed).

The diff is the agent's text: it reaches the page only through the templates' escaping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.engine.runs import Runs
from middle.errors import MiddleError
from middle.refs import branch_name
from middle.store import newest_events, review_comments
from middle.system.branch_diff import BranchDiff, diff_between, diff_from, file_lines, tips
from middle.system.diff import FileDiff, Hunk, Line, changed_old_lines, parse_diff
from middle.system.git import branch_exists

PAGE_LINES = 2000  # diff lines per page: a page renders well under 300 ms (bench/dashboard.py)
SHOWN_CONTEXT = 3  # context lines shown around a change; the rest of git's are folded
CONTEXT_AROUND = 2  # lines each side of a commented line that the agent's brief quotes


@dataclass(frozen=True)
class Segment:
    """A run of a hunk's lines: shown, or folded (context a click expands)."""

    folded: bool
    lines: list[Line]


def segments(hunk: Hunk) -> list[Segment]:
    """The hunk's lines with every context line farther than SHOWN_CONTEXT from a change
    folded away (git gives more context than is shown, so there is some to expand)."""
    changes = [i for i, line in enumerate(hunk.lines) if line.kind != "ctx"]
    near = {i for c in changes for i in range(c - SHOWN_CONTEXT, c + SHOWN_CONTEXT + 1)}
    out: list[Segment] = []
    for i, line in enumerate(hunk.lines):
        folded = i not in near
        if out and out[-1].folded == folded:
            out[-1].lines.append(line)
        else:
            out.append(Segment(folded, [line]))
    return out


def pages_of(files: list[FileDiff], budget: int = PAGE_LINES) -> list[list[int]]:
    """File indexes, grouped into pages of at most `budget` lines (a file is never split;
    one larger than the budget has a page of its own)."""
    pages: list[list[int]] = [[]]
    used = 0
    for index, diff in enumerate(files):
        if pages[-1] and used + diff.size > budget:
            pages.append([])
            used = 0
        pages[-1].append(index)
        used += diff.size
    return pages


def branch_of(row: dict[str, Any]) -> str:
    return str(row["pr_branch"] or branch_name(str(row["epic_ref"])))


def base_of(row: dict[str, Any]) -> str:
    return str(Runs.meta(row).get("input", {}).get("base") or "HEAD")


@lru_cache(maxsize=16)
def _parsed(repo: str, base_tip: str, head: str) -> tuple[BranchDiff, list[FileDiff]]:
    """A diff read and parsed once per pair of commits: the page is re-rendered on every
    live event, and commits do not change (callers only read the files)."""
    diff = diff_from(Path(repo), base_tip, head)
    return diff, parse_diff(diff.text)


def run_diff(row: dict[str, Any]) -> tuple[BranchDiff, list[FileDiff]]:
    """The run's branch diff against its merge base with the base branch, parsed."""
    repo = Path(row["repo"])
    return _parsed(str(repo), *tips(repo, base_of(row), branch_of(row)))


def comment_context(repo: Path, sha: str, path: str, line: int) -> str:
    """The lines around `path:line` in commit `sha`, numbered, the commented one marked;
    `MiddleError` (git's) if the file or the line is not there."""
    lines = file_lines(repo, sha, path)
    if lines and lines[-1] == "":
        lines.pop()
    if not 1 <= line <= len(lines):
        raise MiddleError(f"{path} has no line {line} at {sha[:12]}")
    first, last = max(1, line - CONTEXT_AROUND), min(len(lines), line + CONTEXT_AROUND)
    width = len(str(last))
    return "\n".join(
        f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}" for n in range(first, last + 1)
    )


def is_resolved(repo: Path, comment: dict[str, Any], head: str) -> bool:
    """Whether the lines a comment was on changed between its head and `head`."""
    if comment["head_sha"] == head:
        return False
    changed = _changed(str(repo), comment["head_sha"], head, comment["path"])
    return changed is None or int(comment["line"]) in changed


@lru_cache(maxsize=256)
def _changed(repo: str, old: str, new: str, path: str) -> frozenset[int] | None:
    """`changed_old_lines` of `path` from commit `old` to `new`, once per pair (the page
    re-renders on every live event); nothing when `old` is gone (a rewritten branch)."""
    try:
        changed = changed_old_lines(parse_diff(diff_between(Path(repo), old, new, path)), path)
    except MiddleError:
        return frozenset()
    return None if changed is None else frozenset(changed)


def evidence_of(db: Database, workflow_id: str, head: str | None) -> dict[str, Any] | None:
    """The run's newest gate results and criterion evidence, each with the head it judged
    and whether the diff is newer; None when neither was ever recorded."""
    found = newest_events(db, workflow_id, ("gates.ran", "evidence.judged"))
    if not found:
        return None
    out: dict[str, Any] = {}
    for kind, event_type in (("gates", "gates.ran"), ("evidence", "evidence.judged")):
        event = found.get(event_type)
        if event is None:
            continue
        payload = json.loads(event["payload_json"] or "{}")
        judged = str(payload.get("head") or "")  # none in a record cut to the events' cap
        stale = bool(head and judged and judged != head)
        out[kind] = {"results": [], **payload, "head": judged, "stale": stale}
    return out


def review_view(
    db: Database, row: dict[str, Any], page: int = 1, budget: int | None = None
) -> dict[str, Any]:
    """Everything the review block shows for `row`, the files of page `page` (pages of
    `budget` lines, PAGE_LINES by default)."""
    if not branch_exists(Path(row["repo"]), branch_of(row)):
        said = f"no branch {branch_of(row)} yet: the agent has not started, or it was removed"
        return {"error": said, "files": [], "evidence": evidence_of(db, row["id"], None)}
    try:
        diff, files = run_diff(row)
    except MiddleError as exc:
        return {"error": str(exc), "files": [], "evidence": evidence_of(db, row["id"], None)}
    repo = Path(row["repo"])
    pages = pages_of(files, budget or PAGE_LINES)
    page = min(max(1, page), len(pages))
    comments = review_comments(db, row["id"])
    drafts: dict[tuple[str, int], list[dict[str, Any]]] = {}
    earlier = []
    for comment in comments:
        if comment["state"] == "draft":
            drafts.setdefault((comment["path"], int(comment["line"])), []).append(comment)
        else:
            earlier.append({**comment, "resolved": is_resolved(repo, comment, diff.head)})
    return {
        "error": None,
        "base": diff.base,
        "head": diff.head,
        "branch": branch_of(row),
        "files": files,
        "shown": [(index, files[index]) for index in pages[page - 1]],
        "on_page": set(pages[page - 1]),
        "page_of": {index: number for number, p in enumerate(pages, 1) for index in p},
        "page": page,
        "pages": len(pages),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "drafts": drafts,
        "draft_count": sum(len(d) for d in drafts.values()),
        "earlier": earlier,
        "evidence": evidence_of(db, row["id"], diff.head),
    }
