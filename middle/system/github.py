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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from middle.errors import UNREADABLE_JSON, GitHubError, RepoError
from middle.system import git
from middle.system.github_cache import GhCache


@dataclass(frozen=True)
class Page:
    """One REST page: its JSON body, the path of the next page (GitHub's Link header,
    None on the last), and whether GitHub sent it anew (False: a 304, the kept body)."""

    body: Any
    next: str | None
    fresh: bool


class Gh:
    """`gh` for one checkout. With a `GhCache`, every REST page is asked for with the
    ETag of its last read (a 304 costs no quota) and every call is counted by what it
    cost; without one, pages are kept for as long as this lives."""

    def __init__(self, cwd: Path, cache: GhCache | None = None) -> None:
        self.cwd = cwd
        self.cache = cache
        self._pages: dict[str, dict[str, Any]] = {}

    def _call(
        self, args: Sequence[str], input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["gh", *args], cwd=self.cwd, input=input, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
        except FileNotFoundError:
            raise GitHubError(
                "gh is not installed or not on PATH; see https://cli.github.com"
            ) from None
        if self.cache is not None:
            cost = call_cost(args, done.stdout)
            if cost is not None:
                self.cache.count(cost)
        return done

    def run(self, *args: str, input: str | None = None) -> str:
        done = self._call(args, input)
        if done.returncode != 0:
            raise GitHubError(f"gh {' '.join(args[:2])} failed: {failure(done)}")
        return done.stdout

    def json(self, *args: str) -> Any:
        out = self.run(*args)
        try:
            return json.loads(out) if out.strip() else None
        except UNREADABLE_JSON as exc:
            raise GitHubError(
                f"gh {' '.join(args[:2])} printed something that is not JSON"
            ) from exc

    def api(self, path: str) -> Any:
        """One REST object. Never for a list: GitHub sends only its first page (30 items)."""
        return self.json("api", path)

    def page(self, path: str) -> Page:
        """One REST page, asked for with the ETag of its last read: a 304 (free of
        quota) gives back the body kept from then."""
        kept = self.cache.page(path) if self.cache is not None else self._pages.get(path)
        args = ["api", "-i"]
        if kept is not None:
            args += ["-H", f"If-None-Match: {kept['etag']}"]
        done = self._call([*args, path])
        status, headers, body = split_response(done.stdout)
        if status == 304 and kept is not None:
            return Page(kept["body"], kept["next"], fresh=False)
        if done.returncode != 0 or status != 200:
            raise GitHubError(f"gh api {path} failed: {failure(done)}")
        try:
            parsed = json.loads(body) if body.strip() else None
        except UNREADABLE_JSON as exc:
            raise GitHubError(f"gh api {path} printed something that is not JSON") from exc
        following = next_page(headers.get("link", ""))
        if "etag" in headers:
            if self.cache is not None:
                self.cache.save_page(path, headers["etag"], parsed, following)
            else:
                self._pages[path] = {"etag": headers["etag"], "body": parsed, "next": following}
        return Page(parsed, following, fresh=True)

    def api_list(self, path: str) -> list[Any]:
        """Every item of a REST list, all pages at 100 each, each page asked for with
        its ETag (`page`): a list that did not change costs no quota."""
        return self.listing(path)[0]

    def listing(self, path: str) -> tuple[list[Any], bool]:
        """Every item of a REST list (as `api_list`), and whether any page was new."""
        items: list[Any] = []
        fresh = False
        for page in self.pages(path):
            items.extend(page.body)
            fresh = fresh or page.fresh
        return items, fresh

    def pages(self, path: str) -> Iterator[Page]:
        """The pages of a REST list at 100 items each, one `page` call each, as the
        caller reads on (it may stop early)."""
        following: str | None = f"{path}{'&' if '?' in path else '?'}per_page=100"
        while following is not None:
            page = self.page(following)
            if not isinstance(page.body, list):
                raise GitHubError(
                    f"gh api {path} printed a JSON {type(page.body).__name__}, not a list"
                )
            yield page
            following = page.next


def failure(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"


_STATUS = re.compile(r"HTTP/[0-9.]+ (\d{3})")
_BLANK_LINE = re.compile(r"\r?\n\r?\n")


def split_response(out: str) -> tuple[int | None, dict[str, str], str]:
    """`gh api -i`'s output as (status, headers by lower-case name, body); no status when
    gh printed no status line (it failed before GitHub answered)."""
    match = _STATUS.match(out)
    if match is None:
        return None, {}, out
    parts = _BLANK_LINE.split(out, maxsplit=1)
    head, body = parts[0], parts[1] if len(parts) > 1 else ""
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(match[1]), headers, body


_NEXT = re.compile(r'<https://[^/>]+/(?P<path>[^>]+)>;\s*rel="next"')


def next_page(link: str) -> str | None:
    """The path of the next page in GitHub's Link header, or None on the last page."""
    match = _NEXT.search(link)
    return match["path"] if match else None


_REST_COMMANDS = ("label", "run")  # gh's other commands (issue, pr) speak GraphQL


def call_cost(args: Sequence[str], out: str) -> str | None:
    """What a gh call cost, as GitHub counts it: `rest` or `graphql` quota, `free` (a
    304, `GET /rate_limit`), or None for gh's own commands (`--version`, `auth`)."""
    if not args or args[0] in ("--version", "auth"):
        return None
    if args[0] == "api":
        if args[-1] == "graphql" or "graphql" in args[1:2]:
            return "graphql"
        if args[-1].partition("?")[0] == "rate_limit":
            return "free"
        status = _STATUS.match(out) if "-i" in args else None
        if status is not None and status[1] == "304":
            return "free"
        return "rest"
    return "rest" if args[0] in _REST_COMMANDS else "graphql"


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
        except UNREADABLE_JSON as exc:
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


def upsert_marked_comment(
    gh: Gh, slug: str, kind: str, number: str, marker: str, body: str, me: str
) -> None:
    """The one comment on issue or pull request `number` (`kind`: "issue" or "pr") that
    starts with `marker` and that `me`, middle's own login, wrote is edited to `body`;
    without one, `body` is posted. A marked comment by anyone else is never touched:
    anyone can start a comment with a marker (and GitHub would refuse the edit)."""
    mine = [
        comment
        for comment in gh.api_list(f"repos/{slug}/issues/{number}/comments")
        if str(comment.get("body", "")).startswith(marker)
        and (comment.get("user") or {}).get("login") == me
    ]
    if mine:
        gh.run(
            "api", "--method", "PATCH", f"repos/{slug}/issues/comments/{mine[0]['id']}",
            "--input", "-", input=json.dumps({"body": body}),
        )  # fmt: skip
    else:
        gh.run(kind, "comment", number, "--repo", slug, "--body-file", "-", input=body)


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
    except UNREADABLE_JSON as exc:
        raise GitHubError("gh api .../reviews printed something that is not JSON") from exc
    return dict(answer)


def pull_review_comments(gh: Gh, slug: str, number: int, review_id: int) -> list[Any]:
    """The line comments of one review of pull request `number`, oldest first."""
    return gh.api_list(f"repos/{slug}/pulls/{number}/reviews/{review_id}/comments")
