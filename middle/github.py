"""GitHub through the user's own `gh` login: argument lists in, JSON out, nothing else.

Every call is a `gh` subprocess with an argument list; a failure raises `GitHubError`
with gh's own message. No Python HTTP client: the user's `gh auth` is the credential.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from middle import git
from middle.errors import GitHubError, RepoError


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
