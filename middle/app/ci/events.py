"""What a GitHub Actions event asks middle to do, and whether whoever sent it may ask.

The generated workflow's `if:` guards already filter events; this is the second gate, in
code that tests can drive with the event JSON Actions writes to `$GITHUB_EVENT_PATH`:

- `issues` / `labeled` with `approved`: only if the labeller has write access to the
  repository (asked of GitHub: `author_association` is not sent for labels);
- `issue_comment` / `created` on an issue (not a PR) by an OWNER, MEMBER or COLLABORATOR
  with write access (an org's MEMBER may have none);
- `pull_request_review` / `submitted` by one of those, on a PR from this repository (never
  a fork) whose branch is `middle/issue-<n>` (or a fanned-out Epic's `middle/epic-<n>`);
- `workflow_dispatch` with an `issue` input (only people with write access can dispatch);
- `schedule`: the sweep.

Anything else is skipped with a reason; a skipped event is a green job that did nothing.
An event file that cannot be read, or that lacks what its event always carries, is an
`EventError`: one line, before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from middle.errors import UNREADABLE_JSON, EventError
from middle.refs import epic_of_branch, issue_of_branch
from middle.system.github import Gh, WriteAccess

TRUSTED_ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR")
# What each event always carries, as GitHub sends it (dotted path, JSON type).
REQUIRED: dict[str, tuple[tuple[str, type], ...]] = {
    "issues": (("action", str), ("issue.number", int), ("sender.login", str)),
    "issue_comment": (
        ("action", str), ("issue.number", int), ("comment.user.login", str),
        ("comment.author_association", str),
    ),
    "pull_request_review": (
        ("action", str), ("review.user.login", str), ("review.author_association", str),
        ("pull_request.head.ref", str),
    ),
    "workflow_dispatch": (("inputs", dict),),
}  # fmt: skip


@dataclass(frozen=True)
class Trigger:
    """`kind` is label, comment, review, dispatch or sweep; `skip` says why not to act."""

    kind: str
    issue: str | None
    actor: str
    skip: str | None = None


def read_event(path: str | None) -> dict[str, Any]:
    """The event Actions wrote to `path`, a JSON object; `EventError` naming the file and
    what is wrong with it otherwise."""
    if not path:
        raise EventError(
            "no event file: pass --event-path, or run on GitHub Actions (it sets GITHUB_EVENT_PATH)"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise EventError(f"cannot read the event file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise EventError(
            f"the event file {path} is not UTF-8 (byte {exc.start}); pass the JSON file "
            f"GitHub Actions wrote"
        ) from exc
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventError(
            f"the event file {path} is not JSON ({exc.msg}, line {exc.lineno} column "
            f"{exc.colno}); pass the JSON file GitHub Actions wrote"
        ) from exc
    except UNREADABLE_JSON as exc:  # JSON Python will not read: a 5,000-digit int, deep nesting
        raise EventError(
            f"the event file {path} cannot be read: {exc}; pass the JSON file GitHub Actions wrote"
        ) from exc
    if not isinstance(event, dict):
        raise EventError(
            f"the event file {path} holds a JSON {type(event).__name__}, not an object"
        )
    return event


def at(event: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of the event, or None where any step is missing or is
    not an object (event text is untrusted: never index it blindly)."""
    value: Any = event
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_event(event_name: str, event: dict[str, Any]) -> None:
    """`EventError` if the event lacks a field its kind always carries."""
    for path, kind in REQUIRED.get(event_name, ()):
        value = at(event, path)
        positive = kind is not int or (isinstance(value, int) and value > 0)
        if not isinstance(value, kind) or isinstance(value, bool) or not positive:
            raise EventError(
                f"the {event_name} event has no {path} ({_NAMES[kind]}, got {value!r:.60}); "
                f"pass the JSON file GitHub Actions wrote for it"
            )


_NAMES = {str: "a string", int: "a positive number", dict: "an object"}


def read_trigger(event_name: str, event: dict[str, Any], gh: Gh, slug: str) -> Trigger:
    check_event(event_name, event)
    may_write = WriteAccess(gh, slug)
    actor = str(at(event, "sender.login") or "?")
    action = event.get("action")
    if event_name == "schedule":
        return Trigger("sweep", None, actor)
    if event_name == "workflow_dispatch":
        issue = str(at(event, "inputs.issue") or "").strip()
        if not (issue.isascii() and issue.isdigit()):
            return Trigger("dispatch", None, actor, f"the issue input {issue!r} is not a number")
        return Trigger("dispatch", issue, actor)
    if event_name == "issues":
        issue = str(at(event, "issue.number"))
        if action != "labeled" or at(event, "label.name") != "approved":
            return Trigger("label", issue, actor, "not the `approved` label being added")
        if not may_write(actor):
            why = f"{actor} has {may_write.permission(actor)} access, not write access"
            return Trigger("label", issue, actor, why)
        return Trigger("label", issue, actor)
    if event_name == "issue_comment":
        issue = str(at(event, "issue.number"))
        actor = str(at(event, "comment.user.login"))
        if action != "created":
            return Trigger("comment", issue, actor, f"a comment was {action}, not created")
        if at(event, "issue.pull_request"):
            return Trigger("comment", issue, actor, "a comment on a pull request, not an issue")
        skip = _not_trusted(actor, at(event, "comment.author_association"), may_write)
        return Trigger("comment", issue, actor, skip)
    if event_name == "pull_request_review":
        actor = str(at(event, "review.user.login"))
        head = str(at(event, "pull_request.head.ref"))
        review_issue = issue_of_branch(head) or epic_of_branch(head)
        if action != "submitted":
            return Trigger("review", review_issue, actor, f"a review was {action}, not submitted")
        if at(event, "pull_request.head.repo.full_name") != slug:
            return Trigger("review", review_issue, actor, "a pull request from a fork")
        if review_issue is None:
            return Trigger("review", None, actor, f"branch {head!r} is not middle's")
        skip = _not_trusted(actor, at(event, "review.author_association"), may_write)
        return Trigger("review", review_issue, actor, skip)
    return Trigger(event_name, None, actor, f"middle does not act on {event_name} events")


def _not_trusted(actor: str, association: str, may_write: WriteAccess) -> str | None:
    """Why a comment's or review's author may not answer or approve, or None. The role
    is read from the event first; GitHub is asked only for those who have one."""
    if association not in TRUSTED_ASSOCIATIONS:
        return f"{actor} is {association}, not a member"
    if not may_write(actor):
        return f"{actor} is {association} with {may_write.permission(actor)} access, not write"
    return None
