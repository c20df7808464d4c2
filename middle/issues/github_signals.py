"""What a reply or a review on GitHub means for a parked run: the resume signal it is.

Pure functions over what `GitHubIssueStore` read (trusted people's comments and reviews
only); the store calls them from `updates`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from middle.issues.polling import PullRequest

DECISIVE = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    login: str
    created_at: str
    url: str = ""


def reply_signal(reply: Comment | None, acted_on: frozenset[str]) -> dict[str, Any] | None:
    """A trusted reply to the agent's question is the answer, once."""
    if reply is None or f"comment-{reply.id}" in acted_on:
        return None
    return {
        "kind": "answer",
        "text": reply.body,
        "author": f"@{reply.login}",
        "origin": "github",
        "on_issue": True,
        "url": reply.url,
        "acted_on": [f"comment-{reply.id}"],
    }


def review_signal(
    pr: PullRequest,
    reviews: list[dict[str, Any]],
    acted_on: frozenset[str],
    comments_of: Callable[[int], list[dict[str, Any]]] | None = None,
) -> dict[str, Any] | None:
    """An approval approves, unless a change request not acted on yet stands; change
    requests since the last round start another one. `reviews`: trusted, oldest first;
    `comments_of(review_id)` reads a change request's line comments, which its feedback
    lists as `path:line: comment` with the end of their diff hunk."""
    requested = [
        review
        for review in latest_per_reviewer(reviews)
        if review["state"] == "CHANGES_REQUESTED" and f"review-{review['id']}" not in acted_on
    ]
    approver = approved_by(pr.review_decision, reviews)
    if approver is not None and not requested:
        return {"kind": "approve", "author": approver, "pr": pr.number}
    if not requested:
        return None
    feedback = "\n\n".join(
        f"@{review['user']['login']}: {review['body']}".strip()
        + line_comments(comments_of(review["id"]) if comments_of else [])
        for review in requested
    )
    return {
        "kind": "request-changes",
        "text": feedback,
        "author": ", ".join(f"@{review['user']['login']}" for review in requested),
        "acted_on": [f"review-{review['id']}" for review in requested],
    }


HUNK_TAIL = 3  # lines of a line comment's diff hunk quoted with it: the line and two above


def line_comments(comments: list[dict[str, Any]]) -> str:
    """A review's line comments as the brief lists them (empty when there are none)."""
    said = []
    for comment in comments:
        line = comment.get("line") or comment.get("original_line")
        hunk = str(comment.get("diff_hunk") or "").splitlines()[1:][-HUNK_TAIL:]
        context = "".join(f"\n    {text}" for text in hunk)
        said.append(f"{comment['path']}:{line}: {comment['body']}{context}")
    if not said:
        return ""
    return "\n\nLine comments (`path:line: comment`, then the diff above that line):\n\n" + (
        "\n\n".join(said)
    )


def latest_per_reviewer(reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reviewer's latest decisive review (a comment-only review changes nothing)."""
    latest: dict[str, dict[str, Any]] = {}
    for review in reviews:
        if review["state"] in DECISIVE:
            latest[review["user"]["login"]] = review
    return list(latest.values())


def approved_by(decision: str | None, reviews: list[dict[str, Any]]) -> str | None:
    """Who approved, or None. GitHub fills `reviewDecision` only when the base branch
    requires reviews; without it, the newest decisive review among the trusted reviewers'
    latest decides, so a later CHANGES_REQUESTED from anyone trusted still wins."""
    if decision == "APPROVED":
        approvers = [r for r in latest_per_reviewer(reviews) if r["state"] == "APPROVED"]
        return ", ".join(f"@{r['user']['login']}" for r in approvers) or "github"
    if decision:  # CHANGES_REQUESTED or REVIEW_REQUIRED, decided by branch protection
        return None
    standing = [r for r in latest_per_reviewer(reviews) if r["state"] != "DISMISSED"]
    if standing and standing[-1]["state"] == "APPROVED":
        return f"@{standing[-1]['user']['login']}"
    return None
