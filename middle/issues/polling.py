"""What a `poll` pass and a review read about a parked run: its pull request, the run as
the store sees it, the pass itself, a branch's conflict with its moved base, and the API
quota the reads spend.

These live apart from `base` (the `Issue` and the `IssueStore` protocol) because only
the commands that poll or review need them: `status` in a file-mode repository imports
the protocol and not these five (each frozen dataclass costs half a millisecond to make).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PullRequest:
    number: int
    draft: bool
    review_decision: str | None  # APPROVED, CHANGES_REQUESTED, REVIEW_REQUIRED or None
    state: str  # OPEN, CLOSED or MERGED
    head_sha: str
    url: str


@dataclass(frozen=True)
class ParkedRun:
    """What `poll` knows of a parked run when it asks the run's store for `updates`."""

    ref: str
    reason: str  # why it parked: asked-question, bare-stop, gates-failed, done, held
    pr_branch: str | None
    # ids that earlier resume signals carried (`comment-12`, `review-7`): never act twice
    acted_on: frozenset[str] = frozenset()
    # the branch's pull request as `poll` just found (and recorded) it; None without one
    pull_request: PullRequest | None = None
    # when the run parked this time (None if unknown): how long its PR's checks have waited
    parked_at: datetime | None = None


class PollPass:
    """One `poll` pass over a store's parked runs, from `IssueStore.poll_pass`. This one
    knows nothing of what changed, so `poll` asks the store about every run; a store
    that pays for each question (GitHub) reads once, per pass, what changed since the
    last one, and says which runs nothing touched."""

    def quiet(self, parked: ParkedRun) -> bool:
        """True when nothing where the issue lives can have changed since the run was
        last asked about: `poll` skips it without asking the store anything.
        `parked.pull_request` is not read yet (None)."""
        return False

    def failed(self, ref: str) -> None:
        """The run of `ref` could not be polled: what changed for it counts again at the
        next pass."""


@dataclass(frozen=True)
class Conflict:
    """A branch ready for review that no longer merges cleanly onto its moved base."""

    onto: str  # what the agent rebases onto, as git names it there: `main`, `origin/main`
    base_sha: str  # the base's commit the test merge used
    head_sha: str  # the branch's head the test merge used
    files: tuple[str, ...]  # the files that conflict
    # commits on the branch where people review it that middle never saw (someone else
    # pushed them): middle must not rebase over them
    unseen: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quota:
    """An API allowance a store spends, as its host reports it (the state issue's Rate
    limits section names it after the store's mode)."""

    host: str  # who grants it, as a person names it: "GitHub"
    used: int
    limit: int
    remaining: int
    resets_at: datetime
