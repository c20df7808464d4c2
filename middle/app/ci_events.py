"""What a GitHub Actions event asks middle to do, and whether whoever sent it may ask.

The generated workflow's `if:` guards already filter events; this is the second gate, in
code that tests can drive with the event JSON Actions writes to `$GITHUB_EVENT_PATH`:

- `issues` / `labeled` with `approved`: only if the labeller has write access to the
  repository (asked of GitHub: `author_association` is not sent for labels);
- `issue_comment` / `created` on an issue (not a PR) by an OWNER, MEMBER or COLLABORATOR;
- `pull_request_review` / `submitted` by one of those, on a PR from this repository (never
  a fork) whose branch is `middle/issue-<n>`;
- `workflow_dispatch` with an `issue` input (only people with write access can dispatch);
- `schedule`: the sweep.

Anything else is skipped with a reason; a skipped event is a green job that did nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from middle.errors import GitHubError
from middle.github import Gh, is_not_found

TRUSTED_ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR")
WRITE_PERMISSIONS = ("admin", "maintain", "write")
_BRANCH = re.compile(r"middle/issue-(?P<ref>[0-9]+)")


@dataclass(frozen=True)
class Trigger:
    """`kind` is label, comment, review, dispatch or sweep; `skip` says why not to act."""

    kind: str
    issue: str | None
    actor: str
    skip: str | None = None


def read_trigger(event_name: str, event: dict[str, Any], gh: Gh, slug: str) -> Trigger:
    actor = str((event.get("sender") or {}).get("login") or "?")
    action = event.get("action")
    if event_name == "schedule":
        return Trigger("sweep", None, actor)
    if event_name == "workflow_dispatch":
        issue = str((event.get("inputs") or {}).get("issue") or "").strip()
        if not issue.isdigit():
            return Trigger("dispatch", None, actor, f"the issue input {issue!r} is not a number")
        return Trigger("dispatch", issue, actor)
    if event_name == "issues":
        issue = str(event["issue"]["number"])
        if action != "labeled" or (event.get("label") or {}).get("name") != "approved":
            return Trigger("label", issue, actor, "not the `approved` label being added")
        permission = sender_permission(gh, slug, actor)
        if permission not in WRITE_PERMISSIONS:
            return Trigger(
                "label", issue, actor, f"{actor} has {permission} access, not write access"
            )
        return Trigger("label", issue, actor)
    if event_name == "issue_comment":
        issue = str(event["issue"]["number"])
        comment = event.get("comment") or {}
        actor = str((comment.get("user") or {}).get("login") or actor)
        if action != "created":
            return Trigger("comment", issue, actor, f"a comment was {action}, not created")
        if event["issue"].get("pull_request"):
            return Trigger("comment", issue, actor, "a comment on a pull request, not an issue")
        association = comment.get("author_association")
        if association not in TRUSTED_ASSOCIATIONS:
            return Trigger("comment", issue, actor, f"{actor} is {association}, not a member")
        return Trigger("comment", issue, actor)
    if event_name == "pull_request_review":
        review = event.get("review") or {}
        pr = event.get("pull_request") or {}
        actor = str((review.get("user") or {}).get("login") or actor)
        head = pr.get("head") or {}
        match = _BRANCH.fullmatch(str(head.get("ref") or ""))
        review_issue = match["ref"] if match else None
        if action != "submitted":
            return Trigger("review", review_issue, actor, f"a review was {action}, not submitted")
        if (head.get("repo") or {}).get("full_name") != slug:
            return Trigger("review", review_issue, actor, "a pull request from a fork")
        if review_issue is None:
            return Trigger("review", None, actor, f"branch {head.get('ref')!r} is not middle's")
        association = review.get("author_association")
        if association not in TRUSTED_ASSOCIATIONS:
            why = f"{actor} is {association}, not a member"
            return Trigger("review", review_issue, actor, why)
        return Trigger("review", review_issue, actor)
    return Trigger(event_name, None, actor, f"middle does not act on {event_name} events")


def sender_permission(gh: Gh, slug: str, login: str) -> str:
    """The login's permission on the repository, as GitHub reports it."""
    try:
        answer = gh.api(f"repos/{slug}/collaborators/{login}/permission") or {}
    except GitHubError as exc:
        if is_not_found(exc):  # not a collaborator at all
            return "none"
        raise
    return str(answer.get("role_name") or answer.get("permission") or "none")
