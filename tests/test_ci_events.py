"""Which Actions events start work, and which are skipped (the code side of the `if:`
guards). Seen red: dropping the fork check lets the fork's review through; with no
permission check on comments and reviews, an org MEMBER with read access (`carol`) was
let through (issue 20 item 10)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from middle.app.ci.events import read_trigger
from middle.errors import EventError, GitHubError

SLUG = "acme/webhooks"


class FakeGh:
    """GitHub's collaborator permission endpoint: `permission` is the legacy base role
    (maintain reads as write, triage as read), 404 for a non-collaborator."""

    def __init__(self, roles: dict[str, str]) -> None:
        self.roles = roles
        self.asked: list[str] = []

    def api(self, path: str) -> Any:
        self.asked.append(path)
        login = path.split("/")[-2]
        if login not in self.roles:
            raise GitHubError("gh api failed: Not Found (HTTP 404)")
        role = self.roles[login]
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        return {"permission": legacy, "role_name": role}


ROLES = {"alice": "admin", "bob": "write", "dana": "maintain", "carol": "read", "tim": "triage"}


def review(
    association: str = "MEMBER", fork: bool = False, ref: str = "middle/issue-7", login: str = "bob"
) -> dict[str, Any]:
    repo = "mallory/webhooks" if fork else SLUG
    return {
        "action": "submitted",
        "review": {"user": {"login": login}, "author_association": association},
        "pull_request": {"head": {"ref": ref, "repo": {"full_name": repo}}},
    }


def comment(association: str, on_pr: bool = False, login: str = "bob") -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 7}
    if on_pr:
        issue["pull_request"] = {"url": "..."}
    return {
        "action": "created",
        "issue": issue,
        "comment": {"user": {"login": login}, "author_association": association},
    }


def label(sender: str, name: str = "approved") -> dict[str, Any]:
    return {"action": "labeled", "issue": {"number": 7}, "label": {"name": name},
            "sender": {"login": sender}}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "event", "acts"),
    [
        ("issues", label("alice"), True),
        ("issues", label("carol"), False),  # read access
        ("issues", label("stranger"), False),  # not a collaborator: 404
        ("issues", label("alice", "bug"), False),
        ("issue_comment", comment("MEMBER"), True),
        ("issue_comment", comment("COLLABORATOR"), True),
        ("issue_comment", comment("MEMBER", login="dana"), True),  # maintain
        ("issue_comment", comment("MEMBER", login="carol"), False),  # a member, read access
        ("issue_comment", comment("MEMBER", login="tim"), False),  # triage
        ("issue_comment", comment("MEMBER", login="zed"), False),  # no collaborator: 404
        ("issue_comment", comment("NONE"), False),
        ("issue_comment", comment("CONTRIBUTOR"), False),
        ("issue_comment", comment("MEMBER", on_pr=True), False),
        ("pull_request_review", review(), True),
        ("pull_request_review", review(login="carol"), False),  # a member, read access
        ("pull_request_review", review(fork=True), False),
        ("pull_request_review", review("FIRST_TIME_CONTRIBUTOR"), False),
        ("pull_request_review", review(ref="feature/x"), False),
        ("pull_request_review", review(ref="middle/epic-7"), True),  # a fanned-out Epic's PR
        ("pull_request_review", review(ref="middle/epic-7-8"), False),  # a child's branch
        ("workflow_dispatch", {"inputs": {"issue": "7"}}, True),
        ("workflow_dispatch", {"inputs": {"issue": "7; rm -rf /"}}, False),
        ("pull_request_target", {}, False),
    ],
)
def test_who_may_start_work(name: str, event: dict[str, Any], acts: bool) -> None:
    gh = FakeGh(ROLES)
    trigger = read_trigger(name, event, gh, SLUG)  # type: ignore[arg-type]
    assert (trigger.skip is None) is acts, trigger.skip
    if acts:
        assert trigger.issue == "7"


def test_the_schedule_is_the_sweep() -> None:
    assert read_trigger("schedule", {}, FakeGh({}), SLUG).kind == "sweep"  # type: ignore[arg-type]


def test_a_stranger_is_skipped_without_asking_github() -> None:
    gh = FakeGh(ROLES)
    trigger = read_trigger("issue_comment", comment("NONE", login="zed"), gh, SLUG)  # type: ignore[arg-type]
    assert trigger.skip == "zed is NONE, not a member" and gh.asked == []


# -- issue 20 item 13: a malformed event is an EventError, never a traceback -------------

KEYS = [
    "action", "issue", "number", "sender", "login", "label", "name", "comment", "user",
    "author_association", "pull_request", "review", "head", "ref", "repo", "full_name",
    "inputs",
]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4)
    | st.sampled_from(["labeled", "approved", "created", "submitted", "MEMBER", SLUG,
                       "middle/issue-7", "bob", "7"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
VALID: dict[str, dict[str, Any]] = {
    "issues": {**label("alice"), "sender": {"login": "alice"}},
    "issue_comment": comment("MEMBER"),
    "pull_request_review": review(),
    "workflow_dispatch": {"inputs": {"issue": "7"}, "sender": {"login": "alice"}},
    "schedule": {"schedule": "23 * * * *", "sender": {"login": "alice"}},
}


def paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path inside a JSON object."""
    if not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        found += [(*prefix, key), *paths(inner, (*prefix, key))]
    return found


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid event of some kind with one field replaced by any JSON, or dropped."""
    name = draw(st.sampled_from(sorted(VALID)))
    event = copy.deepcopy(VALID[name])
    path = draw(st.sampled_from(paths(event)))
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON)
    return name, event


@settings(max_examples=400, deadline=None)
@given(
    case=mangled()
    | st.tuples(st.sampled_from(sorted(VALID)), st.dictionaries(st.sampled_from(KEYS), JSON))
)
def test_any_event_is_a_trigger_or_one_event_error(case: tuple[str, dict[str, Any]]) -> None:
    """Seen red: `{}` for a label raised KeyError; a `sender` or `label` that is a list,
    AttributeError."""
    name, event = case
    try:
        trigger = read_trigger(name, event, FakeGh(ROLES), SLUG)  # type: ignore[arg-type]
    except EventError as exc:
        assert "\n" not in str(exc) and f"the {name} event has no " in str(exc)
    else:
        assert trigger.skip is not None or trigger.kind == "sweep" or trigger.issue
