"""GitHub through the user's own `gh` login: argument lists in, JSON out, nothing else.

Every call is a `gh` subprocess with an argument list; a failure raises `GitHubError`
with gh's own message. No Python HTTP client: the user's `gh auth` is the credential (on
GitHub Actions, the job's token in `GH_TOKEN`).

Who middle is on GitHub is whoever `gh` acts as (`viewer_login`): a user, or the bot an
installation token writes as. Who may answer or approve is whoever has write access to the
repository (`WriteAccess`), asked of GitHub once per login.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from middle.errors import GitHubError, RepoError
from middle.system import git


class Gh:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def run(self, *args: str, input: str | None = None) -> str:
        try:
            done = subprocess.run(
                ["gh", *args], cwd=self.cwd, input=input, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
        except FileNotFoundError:
            raise GitHubError(
                "gh is not installed or not on PATH; see https://cli.github.com"
            ) from None
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
            raise GitHubError(f"gh {' '.join(args[:2])} failed: {message}")
        return done.stdout

    def json(self, *args: str) -> Any:
        out = self.run(*args)
        try:
            return json.loads(out) if out.strip() else None
        except json.JSONDecodeError as exc:
            raise GitHubError(
                f"gh {' '.join(args[:2])} printed something that is not JSON"
            ) from exc

    def api(self, path: str) -> Any:
        """One REST object. Never for a list: GitHub sends only its first page (30 items)."""
        return self.json("api", path)

    def api_list(self, path: str) -> list[Any]:
        """Every item of a REST list, all pages: `gh api --paginate` at 100 per page.

        gh prints each page's JSON array as it arrives (older versions back to back, as
        `[...][...]`; newer ones may merge them), so the output is read as a stream of
        JSON arrays and joined.
        """
        out = self.run("api", "--paginate", f"{path}{'&' if '?' in path else '?'}per_page=100")
        return join_json_arrays(out, f"gh api {path}")


def join_json_arrays(text: str, what: str) -> list[Any]:
    """The items of every JSON array in `text`, which holds zero or more arrays in a row."""
    decoder = json.JSONDecoder()
    items: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return items
        try:
            page, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise GitHubError(f"{what} printed something that is not JSON: {exc}") from exc
        if not isinstance(page, list):
            raise GitHubError(f"{what} printed a JSON {type(page).__name__}, not a list")
        items.extend(page)


def is_not_found(error: GitHubError) -> bool:
    return "404" in str(error) or "Not Found" in str(error)


def on_actions() -> bool:
    """Whether this process runs in a GitHub Actions job (Actions sets `GITHUB_ACTIONS`).
    There middle's `gh` holds the job's token and the agent holds none, so middle pushes
    the agent's branch and opens its pull request itself."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


VIEWER_QUERY = "query { viewer { login } }"


def viewer_login(gh: Gh) -> str:
    """The account `gh` acts as, named as GitHub names the author of what it writes: a
    user's login for a user's token, `github-actions[bot]` for the Actions job token,
    `<app-slug>[bot]` for a GitHub App's. GraphQL's `viewer` answers for all three; REST's
    `GET /user` refuses installation tokens (403, "Resource not accessible by
    integration")."""
    answer = gh.json("api", "graphql", "-f", f"query={VIEWER_QUERY}")
    login = ((answer or {}).get("data") or {}).get("viewer", {}).get("login")
    if not isinstance(login, str) or not login:
        raise GitHubError(f"gh api graphql named no viewer (it printed {answer!r:.200})")
    return login


# The legacy base permission GitHub reports: `maintain` reads as write, `triage` as read,
# and a custom role as the base role it extends.
WRITE_PERMISSIONS = ("admin", "write")
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")


def repo_permission(gh: Gh, slug: str, login: str) -> str:
    """The login's base permission on the repository (`admin`, `write`, `read` or `none`),
    from the collaborator permission endpoint; `none` for someone who is no collaborator
    (GitHub answers 404) and for anything that is not a GitHub login."""
    if not _LOGIN.fullmatch(login):
        return "none"
    try:
        answer = gh.api(f"repos/{slug}/collaborators/{login}/permission") or {}
    except GitHubError as exc:
        if is_not_found(exc):
            return "none"
        raise
    return str(answer.get("permission") or "none")


class WriteAccess:
    """Who may answer or approve for middle: write access to the repository (an org's
    MEMBER may have none). Asked of GitHub once per login for as long as this lives (a
    command's issue store, a CI job's event check)."""

    def __init__(self, gh: Gh, slug: str) -> None:
        self.gh, self.slug = gh, slug
        self._known: dict[str, str] = {}

    def permission(self, login: str) -> str:
        if login not in self._known:
            self._known[login] = repo_permission(self.gh, self.slug, login)
        return self._known[login]

    def __call__(self, login: str) -> bool:
        return self.permission(login) in WRITE_PERMISSIONS


_REMOTE = re.compile(r"github\.com[:/](?P<slug>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")


def github_slug(repo: Path) -> str:
    """`owner/name` from the checkout's `origin` remote."""
    try:
        url = git.git("remote", "get-url", "origin", cwd=repo)
    except Exception as exc:
        raise RepoError(
            f"{repo} has no `origin` remote, so its GitHub repository is unknown"
        ) from exc
    match = _REMOTE.search(url)
    if match is None:
        raise RepoError(f"{repo}'s origin ({url}) is not a GitHub repository")
    return match["slug"]


def post_pull_review(
    gh: Gh, slug: str, number: int, *, head: str | None, event: str, body: str,
    comments: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """Post one review on pull request `number` as whoever `gh` acts as: `event` is
    `REQUEST_CHANGES`, `COMMENT` or `APPROVE`, `comments` its line comments (`path`,
    `line`, `side`, `body`), on commit `head` (the one the lines are numbered on)."""
    payload: dict[str, Any] = {"body": body, "event": event, "comments": comments}
    if head:
        payload["commit_id"] = head
    out = gh.run(
        "api", "--method", "POST", f"repos/{slug}/pulls/{number}/reviews", "--input", "-",
        input=json.dumps(payload),
    )  # fmt: skip
    try:
        answer = json.loads(out)
    except json.JSONDecodeError as exc:
        raise GitHubError("gh api .../reviews printed something that is not JSON") from exc
    return dict(answer)


def pull_review_comments(gh: Gh, slug: str, number: int, review_id: int) -> list[Any]:
    """The line comments of one review of pull request `number`, oldest first."""
    return gh.api_list(f"repos/{slug}/pulls/{number}/reviews/{review_id}/comments")
