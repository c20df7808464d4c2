"""What every issue store gives its callers: the `Issue` a dispatch sees, and the
`IssueStore` protocol the file and GitHub stores implement (and a plugin's store, which
registers through `middle_register_issue_stores`).

Callers hold an `IssueStore` and ask it; none of them checks which store it is. Whatever
differs between stores (where an issue lives, how a parked run learns of an answer or a
review, what `doctor` checks, what `init` sets up) is a member of the protocol.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from middle.errors import EpicError
from middle.issues.epic_file import Criterion, Question, SubIssue
from middle.system import git

if TYPE_CHECKING:
    from middle.checks import Check
    from middle.issues.polling import Conflict, ParkedRun, PollPass, PullRequest, Quota
    from middle.issues.state_location import StateLocation
    from middle.state_issue.draft import EpicFacts
    from middle.verify.phases import PhaseRun

BlockerState = Literal["open", "closed", "missing"]


@dataclass(frozen=True)
class Issue:
    """An issue or Epic as a dispatch sees it, whatever store it came from."""

    ref: str
    title: str
    context: str
    criteria: list[Criterion]
    sub_issues: list[SubIssue]
    approved: bool
    closed: bool
    adapter: str | None
    complexity_ceiling: int | None
    source: str  # where it lives, for messages: a file path or a URL
    labels: tuple[str, ...] = ()  # `epic`, and the hold labels of `issues/labels.py`
    parallel: int | None = None  # fan its sub-issues out to this many agents (issue 23)
    sequential: bool = False  # each sub-issue waits on the one before it
    # other repos its sub-issues are in (issue 23): name -> a local path (file mode's
    # `repos:` meta, relative to the Epic's repo root, or absolute)
    repos: tuple[tuple[str, str], ...] = ()


class IssueStore(Protocol):
    """Where a repo's issues live. `registry.issue_store(repo, config)` builds the one
    `[epic_store] mode` names as `cls(repo, config)`, with the merged config: a store's
    own settings can live in a table of its own (unknown tables pass the schema).

    Implement every abstract member. Subclass this protocol to inherit the defaults of
    the others, which fit a store with no pull requests, no API quota and nothing to set
    up; the state issue then lives in `.middle/state.md`.
    """

    mode: ClassVar[str]  # the `[epic_store] mode` that chooses this store: "file", "github"
    # True when reads go over the network: the dashboard caches them, and skips the ones
    # it can live without
    remote: ClassVar[bool] = False
    repo: Path

    def __init__(self, repo: Path, config: Mapping[str, Any]) -> None: ...

    # -- issues -------------------------------------------------------------------------

    @abstractmethod
    def load(self, ref: str) -> Issue: ...

    @abstractmethod
    def all_refs(self) -> list[str]:
        """Every issue the store can list cheaply ([] where listing costs API calls)."""

    @abstractmethod
    def link(self, ref: str) -> str:
        """Where the issue lives, for a person to follow from a message or the state
        issue: a URL, or the Epic file's path relative to the repo. Reads nothing."""

    @abstractmethod
    def open_issues(self, default_adapter: str) -> list[EpicFacts]:
        """The open dispatch units (Epics and standalone issues, never a sub-issue), with
        their progress and open blockers, for the recommender; `default_adapter` for
        those that name no agent. An issue that cannot be read is left out."""

    # -- the conversation ---------------------------------------------------------------

    @abstractmethod
    def open_question(self, ref: str) -> Question | None: ...

    @abstractmethod
    def record_question(self, ref: str, text: str, *, kind: str) -> str: ...

    @abstractmethod
    def record_answer(self, ref: str, text: str, *, author: str) -> None: ...

    @abstractmethod
    def post_note(self, ref: str, text: str) -> None:
        """Tell the humans following the issue something (a comment, or a conversation
        event in the Epic file)."""

    def how_to_approve(self, ref: str, issue: Issue) -> str:
        """What a person does to approve `issue` for dispatch, for the refusal's message."""
        return f"mark it approved where it lives ({issue.source})"

    def how_to_unlabel(self, ref: str, label: str) -> str:
        """What a person does to take a hold label (`needs-design`, ...) off `ref`."""
        return f"remove the {label} label where the issue lives"

    def how_to_answer(self, ref: str) -> str:
        """What a person does to answer the agent's question, for the parked run's message."""
        return f"answer with: middle answer --issue {ref} --text '...'"

    def how_to_review(self, ref: str) -> str:
        """What a person does to review the finished branch, for the parked run's message."""
        return f"review with: middle review --issue {ref} --approve (or --request-changes '...')"

    def written_answer(self, ref: str) -> Question | None:
        """The open question, if a person has answered it where the store keeps it and
        no resume signal has carried that answer yet (`middle answer` then refuses to
        write over it)."""
        return None

    # -- the audit (issue 19) ------------------------------------------------------------

    def acceptance_criteria(self, issue: Issue) -> list[str]:
        """The issue's acceptance criteria as text, for `middle audit-issues`."""
        return [criterion.text for criterion in issue.criteria]

    def add_label(self, ref: str, label: str) -> None:
        """Put `label` (`needs-design`) on the issue. By default the store cannot: the
        error says what a person does instead."""
        raise EpicError(
            f"cannot add the {label} label to {ref!r} in {self.mode} mode; add it where "
            f"the issue lives (an Epic file: `labels: [{label}]` in its meta block)"
        )

    # -- blockers -----------------------------------------------------------------------

    @abstractmethod
    def open_blockers(self, ref: str) -> list[str]:
        """The refs this issue waits on that are not closed yet, as a person writes them
        (`queue`, `#12`, `acme/widgets#7`)."""

    @abstractmethod
    def blocker_status(self, ref: str) -> tuple[BlockerState, str]:
        """(`open` | `closed` | `missing`, title) of a blocker ref as the state issue
        writes it, without its `#` (`12`, `acme/widgets#7`, `slug`)."""

    # -- pull requests and the end of a turn ----------------------------------------------

    def pull_request(self, branch: str) -> PullRequest | None:
        """The pull request whose head is `branch` (None where the store has none)."""
        return None

    def confirms_done(self, branch: str) -> str | None:
        """None if an agent's `done` stands; otherwise what the agent must still do."""
        return None

    def base_conflict(self, parked: ParkedRun, base: str) -> Conflict | None:
        """Whether a branch ready for review still merges onto `base`, which may have
        moved: None when it does (or the store cannot tell yet). By default a test merge
        of the local branch onto the local base, which is where the branch is reviewed."""
        branch = parked.pr_branch
        if branch is None or not git.branch_exists(self.repo, branch):
            return None
        base_sha = git.git("rev-parse", "--verify", f"refs/heads/{base}", cwd=self.repo)
        head_sha = git.git("rev-parse", "--verify", f"refs/heads/{branch}", cwd=self.repo)
        files = git.merge_conflicts(self.repo, base_sha, head_sha)
        from middle.issues.polling import Conflict  # only a poll pass needs it

        return Conflict(base, base_sha, head_sha, tuple(files)) if files else None

    def offer_branch(self, branch: str, title: str, body: str) -> str:
        """Offer a branch middle made (the documentation workflow's) for review; say where
        it is. By default it stays in the repository, ready: nothing is pushed."""
        return f"branch {branch} is ready for review in {self.repo} (not pushed)"

    # -- evidence at done (issue 19) -----------------------------------------------------

    def criteria_evidence(
        self, ref: str, branch: str, done: Mapping[str, Any]
    ) -> tuple[list[str], dict[str, list[str]]]:
        """The acceptance criteria a done is judged by, and the evidence given for each:
        by default the issue's criteria, with `done.json`'s `evidence` list."""
        from middle.verify.evidence import done_evidence

        criteria = [criterion.text for criterion in self.load(ref).criteria]
        return criteria, done_evidence(done, criteria)

    def deferral(self, ref: str, text: str) -> str | None:
        """None if `text` names a trusted human's deferral on this issue; else why not."""
        return f"{text!r} is not a deferral this issue store can check"

    def record_evidence(self, ref: str, accepted: list[dict[str, str]]) -> None:
        """Keep the evidence a done was accepted with where people read the issue."""

    def refuse_done(self, branch: str, reason: str) -> None:
        """Undo what made the agent's done (a PR marked ready goes back to draft)."""

    # -- phases (issue 19): a sub-issue's checkbox runs its gates ------------------------

    def phase_marks(self, ref: str, branch: str) -> dict[str, bool]:
        """Each phase's checkbox as it stands now, by sub-issue (number or slug): where
        the agent ticks a phase done. {} where the store keeps none."""
        return {}

    def revert_phase(self, ref: str, branch: str, run: PhaseRun) -> None:
        """Untick `run.phase`, whose gates failed, and say where people read the issue
        which gate failed, with the tail of its output."""

    def publish_phase_evidence(self, ref: str, branch: str, run: PhaseRun) -> None:
        """Keep `run` as the phase's one evidence record where people read the issue,
        replacing the phase's earlier record: never a second one."""

    def sub_issue_blockers(self, issue: Issue) -> dict[str, list[str]]:
        """Each sub-issue's blockers among its siblings, by id (a fanned-out Epic starts a
        sub-issue once these merged): as the sub-issues say (`blocked_by`) by default."""
        return {sub.id: list(sub.blocked_by) for sub in issue.sub_issues}

    def open_epic_pull_request(
        self, ref: str, branch: str, body: str, title: str | None = None
    ) -> PullRequest | None:
        """Publish a fanned-out Epic's integration `branch` as its one pull request with
        `body` (or update the body of the one that stands), titled `title` or as issue
        `ref` is; None where a store has no pull requests, and the branch itself is what
        gets reviewed."""
        return None

    def tick_sub_issue(self, ref: str, sub: str) -> None:
        """Mark sub-issue `sub` of Epic `ref` done where people read it, once (a fanned
        out Epic's child merged); a store with nowhere to tick it does nothing."""

    # -- the plan (issue 19, `[verify] require_plan`) ------------------------------------

    def plan_recorded(self, ref: str) -> bool:
        """Whether the issue holds the agent's plan (see `middle.verify.plan`)."""
        return False

    def record_plan(self, ref: str, plan: str) -> None:
        """Keep the agent's plan where people read the issue, once: a second call with
        the plan recorded already changes nothing."""

    def updates(self, parked: ParkedRun) -> dict[str, Any] | None:
        """The resume signal a parked run should get now, from what people did where the
        issue lives (a reply, a review, a merged PR), or None. Its keys are the signal's:
        `kind` (answer, approve, request-changes, check-failed, pr-merged, pr-closed), and
        as the kind needs `text`, `author`, `origin`, `url`, `pr`, and `acted_on` (ids `poll` will
        hand back in `parked.acted_on`, so the same reply never resumes a run twice).
        `on_issue: true` says the answer is on the issue already, so middle only notes
        that it took it rather than recording it again.
        `poll` handles rate-limited runs and queued ones itself."""
        return None

    @contextmanager
    def poll_pass(self) -> Iterator[PollPass]:
        """One `poll` pass over this repo's parked runs: what the store learnt of what
        changed, for the length of the pass; a store may remember, once the pass is
        through, what it has seen."""
        from middle.issues.polling import PollPass

        yield PollPass()

    # -- operations -----------------------------------------------------------------------

    def quota(self) -> Quota | None:
        """The API allowance the store spends, or None. Raises `MiddleError` when the
        host cannot say."""
        return None

    def state_location(self) -> StateLocation:
        """Where this repo's state issue (the recommender's plan) lives."""
        from middle.issues.state_location import StateFile

        return StateFile(self.repo)

    def doctor_checks(self) -> list[Check]:
        """What `middle doctor` reports about the store: its tools, its files."""
        return []

    def set_up(self) -> list[str]:
        """Create what the store needs (labels, the state issue, a README); idempotent.
        One line per change, for `middle init`."""
        return []
