"""What changed on a GitHub repository since the last `poll` pass, read once per pass for
every parked run of the repository (`GitHubPollPass`).

Two repo-wide listings, each page asked for with the ETag of its last read, so a pass in
which nothing happened costs two `304`s and no quota:

- the issue comments updated since a cursor (`issues/comments?since=`): a reply, or an
  edit of one, names its issue;
- the pull requests, most recently updated first (`pulls?sort=updated`): a review, a
  merge, a close, a push or a change of draft moves a pull request there (and changes
  what it says), which names its head branch.

And the base branch of each open pull request (`branches/<base>`, as conditional): a base
that moved, which moves no listing, names every open pull request onto it, so a branch
that no longer merges is found at the next pass (`IssueStore.base_conflict`).

A parked run is asked about (`IssueStore.updates`, with its calls) only when one of them
names its issue or its branch, when it parked since the last pass began, or, for a run
whose ready pull request waits on its checks (which move neither listing), once every
`CHECKS_SECONDS`, as often as every run was asked before. What the pass saw is kept
(`GhCache.document`) once the pass is through; a pass in which a run could not be polled
keeps nothing, so the next pass sees the same news again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from middle.errors import GitHubError
from middle.issues.polling import ParkedRun, PollPass
from middle.system.github import Gh
from middle.system.github_cache import GhCache

CHECKS_SECONDS = 60  # a ready PR's checks: asked about at the pace every run was before
FIRST_WINDOW = timedelta(hours=1)  # the first cursor: comments of the last hour
WINDOW_ITEMS = 100  # past one page of comments, the cursor moves up to the newest seen
# how far GitHub's clock may be from ours, and its times are whole seconds
SAME_MOMENT = timedelta(seconds=5)
_FORGET = timedelta(days=1)  # a run not looked at for this long is forgotten


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _digest(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    picked = {key: item.get(key) for key in keys}
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:24]


_COMMENT_KEYS = ("id", "updated_at", "body")
_PULL_KEYS = ("number", "state", "draft", "merged_at", "updated_at", "head")


class GitHubPollPass(PollPass):
    def __init__(self, gh: Gh, slug: str, cache: GhCache | None, config: Mapping[str, Any]) -> None:
        self.gh, self.slug, self.cache = gh, slug, cache
        self.name = f"poll-pass {slug}"
        self.kept = cache.document(self.name) if cache is not None else {}
        self.started = datetime.now(UTC)
        self.broken = False
        # what `updates` reads besides GitHub is `[github]` (`checks_pending_hours`):
        # when it changes, every run is asked about again
        self.config = _digest({"github": config.get("github")}, ("github",))
        previous = self.kept.get("passed_at")
        same = self.kept.get("config") == self.config
        self.previous = _moment(previous) if isinstance(previous, str) and same else None
        self.looked: dict[str, str] = dict(self.kept.get("looked") or {})
        self.issues: set[str] = set()  # numbers of issues with a new or edited comment
        self.branches: set[str] = set()  # head branches of pull requests that changed
        self.seen: dict[str, Any] = {}

    def read(self) -> None:
        """The two listings, and what is new in them since the last pass."""
        since = self.kept.get("since") or _iso(self.started - FIRST_WINDOW)
        comments = self.gh.api_list(f"repos/{self.slug}/issues/comments?since={since}")
        known = set(self.kept.get("comments") or [])
        digests = []
        for comment in comments:
            digest = _digest(comment, _COMMENT_KEYS)
            digests.append(digest)
            if digest not in known:
                self.issues.add(str(comment.get("issue_url", "")).rsplit("/", 1)[-1])
        if len(comments) >= WINDOW_ITEMS:  # keep the window to about a page
            since = max(str(c.get("updated_at") or c["created_at"]) for c in comments)
        pulls = self.gh.page(
            f"repos/{self.slug}/pulls?state=all&sort=updated&direction=desc&per_page=100"
        ).body
        known = set(self.kept.get("pulls") or [])
        pull_digests = []
        # GitHub's times are in whole seconds: a second review within the second of one
        # the last pass saw leaves the list as it was, so what moved since then counts too
        recent = self.previous - SAME_MOMENT if self.previous is not None else None
        for pull in pulls or []:
            digest = _digest(pull, _PULL_KEYS)
            pull_digests.append(digest)
            moved = pull.get("updated_at")
            if digest not in known or (recent and moved and _moment(moved) >= recent):
                self.branches.add(str((pull.get("head") or {}).get("ref", "")))
        bases = self._moved_bases(pulls or [])
        self.seen = {"since": since, "comments": digests, "pulls": pull_digests, "bases": bases}

    def _moved_bases(self, pulls: list[Any]) -> dict[str, str]:
        """The head of each open pull request's base branch now; the head branches of the
        pull requests whose base moved since the last pass join `branches`."""
        open_pulls = [p for p in pulls if p.get("state") == "open"]
        kept = self.kept.get("bases") or {}
        heads: dict[str, str] = {}
        for base in sorted({str((p.get("base") or {}).get("ref", "")) for p in open_pulls}):
            if not base:
                continue
            try:
                branch = self.gh.page(f"repos/{self.slug}/branches/{base}").body
            except GitHubError:
                continue  # a deleted base: nothing to rebase onto
            heads[base] = str(((branch or {}).get("commit") or {}).get("sha", ""))
        for pull in open_pulls:
            base = str((pull.get("base") or {}).get("ref", ""))
            if base in heads and kept.get(base, heads[base]) != heads[base]:
                self.branches.add(str((pull.get("head") or {}).get("ref", "")))
        return heads

    def quiet(self, parked: ParkedRun) -> bool:
        if self.previous is None or parked.parked_at is None:
            quiet = False  # the first pass, or a run whose park time is unknown: ask
        elif parked.parked_at >= self.previous:
            quiet = False  # parked since the last pass began: never asked about yet
        elif parked.ref in self.issues or (parked.pr_branch or "") in self.branches:
            quiet = False
        elif parked.reason == "done" and parked.pr_branch:
            last = self.looked.get(parked.ref)
            quiet = last is not None and self.started - _moment(last) < timedelta(
                seconds=CHECKS_SECONDS
            )
        else:
            quiet = True
        if not quiet:
            self.looked[parked.ref] = _iso(self.started)
        return quiet

    def failed(self, ref: str) -> None:
        self.broken = True

    def finish(self) -> None:
        """Keep what this pass saw, unless a run could not be polled."""
        if self.cache is None or self.broken or not self.seen:
            return
        horizon = self.started - _FORGET
        looked = {ref: at for ref, at in self.looked.items() if _moment(at) >= horizon}
        self.cache.save_document(
            self.name,
            {
                **self.seen,
                "passed_at": self.started.isoformat(),
                "looked": looked,
                "config": self.config,
            },
        )
