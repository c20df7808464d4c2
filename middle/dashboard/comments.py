"""Line comments on a run's diff (issue 26): kept as drafts with the run, then sent as one
review. In file mode they go in the feedback of `middle review --request-changes`, each
as `path:line: comment` with the lines around it; in GitHub mode the review is posted on
the pull request with its line comments, as the user, and middle's poller starts the
next round from it like from any review.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.app.runtime import Runtime
from middle.errors import GitHubError, RunMovedOnError
from middle.store import add_review_comment, discard_draft_comment, review_comments
from middle.system.branch_diff import resolve
from middle.system.github import Gh, github_slug, post_pull_review

from .actions import FormError, expect, form_field
from .review import comment_context
from .views import REVIEWABLE

BODY_MAX = 20_000  # characters in one comment: a comment, not a file


def add_comment(db: Database, form: dict[str, Any]) -> str:
    """Keep a draft comment on `path:line` of the diff at `head`, with its context."""
    row = expect(db, form_field(form, "workflow_id", "run"), ("waiting-human",), REVIEWABLE)
    path = form_field(form, "path", "file")
    body = form_field(form, "body", "comment").strip()
    if len(body) > BODY_MAX:
        raise FormError(f"the comment is {len(body)} characters; keep it under {BODY_MAX}")
    try:
        line = int(form_field(form, "line", "line"))
    except ValueError:
        raise FormError(f"line {form.get('line')!r} is not a line number") from None
    if line < 1:
        raise FormError(f"line {line} is not a line number")
    repo = Path(row["repo"])
    head = resolve(repo, form_field(form, "head", "commit"))
    context = comment_context(repo, head, path, line)
    add_review_comment(
        db, row["id"], path=path, line=line, head_sha=head, body=body, context=context
    )
    return f"comment on {path}:{line} kept; it goes with your review"


def discard_comment(db: Database, form: dict[str, Any]) -> str:
    workflow_id = form_field(form, "workflow_id", "run")
    if not discard_draft_comment(db, workflow_id, form_field(form, "comment_id", "comment")):
        raise RunMovedOnError("that comment was already sent or discarded; nothing changed")
    return "comment discarded"


def feedback(summary: str, drafts: list[dict[str, Any]]) -> str:
    """The review as the agent's brief quotes it: the summary, then each comment as
    `path:line: comment` with the lines around it (indented, as they were)."""
    parts = [summary.strip()] if summary.strip() else []
    if drafts:
        parts.append("Line comments (`path:line: comment`, then the lines around that line):")
        for comment in drafts:
            context = "\n".join(f"    {line}" for line in str(comment["context"]).splitlines())
            parts.append(f"{comment['path']}:{comment['line']}: {comment['body']}\n{context}")
    return "\n\n".join(parts)


def github_pr(row: dict[str, Any]) -> int | None:
    """The run's pull request number when its repo is in GitHub mode (else None)."""
    if not row["pr_number"]:
        return None
    return int(row["pr_number"]) if Runtime(Path(row["repo"])).issues.mode == "github" else None


def post_review(
    row: dict[str, Any], number: int, summary: str, drafts: list[dict[str, Any]]
) -> str:
    """Post the review on pull request `number` as the user: REQUEST_CHANGES with the line
    comments. GitHub refuses a change request on one's own pull request; then it goes as a
    COMMENT review and the caller signals the run itself (returns which event went)."""
    repo = Path(row["repo"])
    gh, slug = Gh(repo), github_slug(repo)
    body = summary.strip() or "Changes requested in the line comments."
    lines = [
        {"path": c["path"], "line": int(c["line"]), "side": "RIGHT", "body": c["body"]}
        for c in drafts
    ]
    head = drafts[0]["head_sha"] if drafts else None
    try:
        post_pull_review(gh, slug, number, head=head, event="REQUEST_CHANGES", body=body,
                         comments=lines)  # fmt: skip
        return "REQUEST_CHANGES"
    except GitHubError as exc:
        if "own pull request" not in str(exc):
            raise
    post_pull_review(gh, slug, number, head=head, event="COMMENT", body=body, comments=lines)
    return "COMMENT"


def drafts_of(db: Database, workflow_id: str) -> list[dict[str, Any]]:
    return review_comments(db, workflow_id, "draft")
