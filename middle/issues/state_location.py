"""Where the state issue lives: `.middle/state.md` (file mode, and any store that does not
say otherwise), or the open issue labelled `agent-queue:state` (GitHub mode); a store's
`state_location()` says which. Reads and writes the body as text; the v1 format is
`middle.state_issue`'s business.

A body that exists but is not v1 is never overwritten: `write_state` parses what is there
first and lets `StateIssueError` (naming the line) reach the user.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

from middle.errors import StateIssueError
from middle.issues.clock import utc_timestamp
from middle.state_issue import StateIssue, parse, render
from middle.system.files import not_utf8, replace_file
from middle.system.github import Gh, github_slug

STATE_LABEL = "agent-queue:state"
STATE_TITLE = "middle: agent queue state"


class StateLocation(Protocol):
    where: str

    def read(self) -> str | None: ...

    def write(self, body: str) -> None: ...


class StateFile:
    def __init__(self, repo: Path) -> None:
        self.path = repo / ".middle" / "state.md"
        self.where = str(self.path)

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise StateIssueError(not_utf8(self.path, exc)) from exc

    def write(self, body: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(self.path, body)  # atomic: a reader never sees half a plan


class StateIssueOnGitHub:
    def __init__(self, repo: Path, gh: Gh | None = None) -> None:
        self.gh = gh or Gh(repo)
        self.slug = github_slug(repo)
        self.where = f"the {STATE_LABEL} issue in {self.slug}"
        self._found: dict[str, Any] | None = None

    def find(self) -> dict[str, Any] | None:
        """The oldest open issue labelled `agent-queue:state`, from a REST listing asked
        for with its ETag: `serve` reads it at every pass (to keep the dispatcher's
        sections current), and a 304 costs no quota."""
        found = [
            issue
            for issue in self.gh.api_list(
                f"repos/{self.slug}/issues?labels={STATE_LABEL}&state=open"
            )
            if "pull_request" not in issue
        ]
        return min(found, key=lambda issue: issue["number"]) if found else None

    def ensure(self, body: str) -> tuple[int, bool]:
        """The state issue's number, creating it (with `body`) if there is none; and
        whether it was created. Run by `init --github`, so it is made once."""
        existing = self.find()
        if existing is not None:
            return int(existing["number"]), False
        url = self.gh.run(
            "issue", "create", "--repo", self.slug, "--title", STATE_TITLE,
            "--label", STATE_LABEL, "--body-file", "-", input=body,
        ).strip()  # fmt: skip
        return int(url.rstrip("/").rsplit("/", 1)[-1]), True

    def _issue(self) -> dict[str, Any]:
        if self._found is None:
            self._found = self.find()
        if self._found is None:
            raise StateIssueError(
                f"{self.slug} has no open issue labelled {STATE_LABEL}; create it with: "
                f"middle init --github"
            )
        return self._found

    def read(self) -> str | None:
        return str(self._issue().get("body") or "")

    def write(self, body: str) -> None:
        number = str(self._issue()["number"])
        self.gh.run("issue", "edit", number, "--repo", self.slug, "--body-file", "-", input=body)
        self._found = {**self._issue(), "body": body}


def empty_state() -> StateIssue:
    """The state issue before the first recommender run: every section empty."""
    return StateIssue(
        generated=utc_timestamp(), run_id="00000000", interval="0m"
    )  # v1 minutes; 0m: off


def current_state(location: StateLocation) -> StateIssue | None:
    """The parsed state issue, or None when there is none yet (or its body is empty)."""
    body = location.read()
    if body is None or not body.strip():
        return None
    try:
        return parse(body)
    except StateIssueError as exc:
        raise StateIssueError(
            f"{location.where} is not a v1 state issue, so middle will not overwrite it: {exc}"
        ) from exc


def write_state(location: StateLocation, state: StateIssue) -> str:
    """Write `state`, keeping what lies outside the markers of the body there now."""
    previous = current_state(location)
    if previous is not None:
        state = dataclasses.replace(
            state, before=previous.before, after=previous.after, newline=previous.newline
        )
    body = render(state)
    location.write(body)
    return body
