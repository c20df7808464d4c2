"""Which Actions events start work, and which are skipped (the code side of the `if:`
guards). Seen red: dropping the fork check lets the fork's review through."""

from __future__ import annotations

from typing import Any

import pytest

from middle.app.ci_events import read_trigger
from middle.errors import GitHubError

SLUG = "acme/webhooks"


class FakeGh:
    def __init__(self, permissions: dict[str, str]) -> None:
        self.permissions = permissions

    def api(self, path: str) -> Any:
        login = path.split("/")[-2]
        if login not in self.permissions:
            raise GitHubError("gh api failed: Not Found (HTTP 404)")
        return {"permission": self.permissions[login], "role_name": self.permissions[login]}


def review(association: str = "MEMBER", fork: bool = False, ref: str = "middle/issue-7"):
    repo = "mallory/webhooks" if fork else SLUG
    return {
        "action": "submitted",
        "review": {"user": {"login": "bob"}, "author_association": association},
        "pull_request": {"head": {"ref": ref, "repo": {"full_name": repo}}},
    }


def comment(association: str, on_pr: bool = False) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 7}
    if on_pr:
        issue["pull_request"] = {"url": "..."}
    return {
        "action": "created",
        "issue": issue,
        "comment": {"user": {"login": "x"}, "author_association": association},
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
        ("issue_comment", comment("NONE"), False),
        ("issue_comment", comment("CONTRIBUTOR"), False),
        ("issue_comment", comment("MEMBER", on_pr=True), False),
        ("pull_request_review", review(), True),
        ("pull_request_review", review(fork=True), False),
        ("pull_request_review", review("FIRST_TIME_CONTRIBUTOR"), False),
        ("pull_request_review", review(ref="feature/x"), False),
        ("workflow_dispatch", {"inputs": {"issue": "7"}}, True),
        ("workflow_dispatch", {"inputs": {"issue": "7; rm -rf /"}}, False),
        ("pull_request_target", {}, False),
    ],
)
def test_who_may_start_work(name: str, event: dict[str, Any], acts: bool) -> None:
    gh = FakeGh({"alice": "admin", "carol": "read"})
    trigger = read_trigger(name, event, gh, SLUG)  # type: ignore[arg-type]
    assert (trigger.skip is None) is acts, trigger.skip
    if acts:
        assert trigger.issue == "7"


def test_the_schedule_is_the_sweep() -> None:
    assert read_trigger("schedule", {}, FakeGh({}), SLUG).kind == "sweep"  # type: ignore[arg-type]


def test_git_gets_the_job_token_through_its_environment_only_on_actions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64
    import os

    from middle.app.ci_main import git_auth_from_env

    monkeypatch.setenv("GH_TOKEN", "t0ken")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    git_auth_from_env()
    assert "GIT_CONFIG_COUNT" not in os.environ  # not on Actions: the user's own git setup
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # someone else's entry is kept
    for name in ("GIT_CONFIG_KEY_1", "GIT_CONFIG_VALUE_1"):
        monkeypatch.delenv(name, raising=False)
    git_auth_from_env()
    assert os.environ["GIT_CONFIG_COUNT"] == "2"
    assert os.environ["GIT_CONFIG_KEY_1"] == "http.https://github.com/.extraheader"
    basic = base64.b64encode(b"x-access-token:t0ken").decode()
    assert os.environ["GIT_CONFIG_VALUE_1"] == f"AUTHORIZATION: basic {basic}"
