"""Issues, questions and pull requests on GitHub (GitHub mode), all through `gh`.

An issue with sub-issues is an Epic; one with neither parent nor children is standalone;
a sub-issue is refused as a dispatch unit, naming its Epic. The agent's question is an
issue comment carrying a marker, so it can be found again.

Trust: a comment is a question only if middle's own account wrote it (whoever `gh` acts
as: a user, or on Actions the bot the job token writes as); a reply or a review counts
only from a person, never a bot, with a role on the repository (`author_association`
OWNER, MEMBER or COLLABORATOR) and write access to it (an org's MEMBER may have none:
GitHub is asked, once per login); a pull request counts only if its head branch lives in
this repository's owner's account, so a fork's PR with the same branch name cannot end
the run. Every list is read to its last page.

On GitHub Actions the agent holds no token: when it is done, middle pushes its branch and
opens the pull request itself (`confirms_done`), and people answer by replying in a
comment.

A parked run learns of replies, reviews and a merged or closed PR through `updates`, which
`poll` calls for the runs its pass says something touched (`poll_pass`,
`middle.issues.github_feed`); what each one means is `middle.issues.github_signals`. Every
REST list is read a page at a time with the page's last ETag (`Gh.page`): what did not
change costs no quota.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from middle.checks import Check
from middle.config import DEFAULTS, middle_home
from middle.errors import (
    BranchMovedError,
    EpicError,
    GitHubError,
    InvalidRefError,
    UnknownEpicError,
)
from middle.issues.base import BlockerState, Issue, IssueStore
from middle.issues.epic_file import Criterion, Question, SubIssue
from middle.issues.github_checks import (
    failed_signal,
    log_tail,
    pending_marker,
    pending_note,
    pending_too_long,
    required_checks,
)
from middle.issues.github_feed import GitHubPollPass
from middle.issues.github_phases import revert_on_pr, status_checkboxes, upsert_evidence
from middle.issues.github_setup import LABELS, check_gh, set_up_github
from middle.issues.github_signals import Comment, reply_signal, review_signal
from middle.issues.labels import ELIGIBLE_ABOVE, ELIGIBLE_LABEL, EPIC_LABEL
from middle.issues.polling import Conflict, ParkedRun, PollPass, PullRequest, Quota
from middle.issues.state_location import STATE_LABEL, StateIssueOnGitHub, StateLocation
from middle.refs import branch_name, issue_of_branch
from middle.state_issue.draft import EpicFacts
from middle.system import git
from middle.system.github import (
    Gh,
    WriteAccess,
    github_slug,
    is_not_found,
    on_actions,
    pull_review_comments,
    viewer_login,
)
from middle.system.github_cache import GhCache
from middle.verify.evidence import body_evidence, criteria_in_body
from middle.verify.phases import PhaseRun
from middle.verify.plan import PLAN_MARKER, plan_comment

QUESTION_MARKER = "<!-- middle:question"
ANSWER_MARKER = "<!-- middle:answer -->"
TRUSTED = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_CHECKBOX = re.compile(r"^\s*- \[(?P<mark>[ xX])\] (?P<text>.+)$", re.M)
_ANY_CHECKBOX = re.compile(r"^\s*- \[[ xX]\] ", re.M)


class GitHubIssueStore(IssueStore):
    mode = "github"
    remote = True

    def __init__(
        self, repo: Path, config: Mapping[str, Any] | None = None, gh: Gh | None = None
    ) -> None:
        self.repo = repo
        self.config = config or {}
        self.gh = gh or Gh(repo, GhCache(middle_home()))
        self.slug = github_slug(repo)
        self._login: str | None = None
        self.may_write = WriteAccess(self.gh, self.slug)

    # -- issues -------------------------------------------------------------------------

    def load(self, ref: str) -> Issue:
        if not ref.isdigit():
            raise InvalidRefError(f"--issue {ref!r}: in GitHub mode a ref is an issue number")
        try:
            issue = self.gh.json(
                "issue", "view", ref, "--repo", self.slug,
                "--json", "number,title,body,labels,state,url",
            )  # fmt: skip
        except GitHubError as exc:
            if "Could not resolve" in str(exc) or is_not_found(exc):
                raise UnknownEpicError(f"no issue #{ref} in {self.slug}") from exc
            raise
        parent = self._parent(ref)
        if parent is not None:
            raise EpicError(
                f"issue #{ref} is a sub-issue of #{parent['number']} ({parent['title']}); "
                f"dispatch its Epic instead: middle implement --issue {parent['number']}"
            )
        subs = self.gh.api_list(f"repos/{self.slug}/issues/{ref}/sub_issues")
        labels = [label["name"] for label in issue.get("labels", [])]
        agent = next((name.split(":", 1)[1] for name in labels if name.startswith("agent:")), None)
        body = issue.get("body") or ""
        return Issue(
            ref=ref,
            title=issue["title"],
            context=body,
            criteria=[
                Criterion(m["mark"] != " ", m["text"].strip()) for m in _CHECKBOX.finditer(body)
            ],
            sub_issues=[self._sub_issue(s) for s in subs],
            approved="approved" in labels,
            closed=issue["state"] == "CLOSED",
            adapter=agent,
            complexity_ceiling=None,
            source=issue["url"],
            labels=tuple(labels),
        )

    def _sub_issue(self, sub: dict[str, Any]) -> SubIssue:
        """A sub-issue of the REST listing; one in another repository (GitHub's sub-issues
        cross repositories) is `owner/name#n`, in repo `owner/name`."""
        elsewhere = self._owner_repo(sub)
        number = str(sub["number"])
        return SubIssue(
            f"{elsewhere}#{number}" if elsewhere else number,
            sub["state"] == "closed",
            sub["title"],
            sub.get("body") or "",
            repo=elsewhere,
        )

    def _owner_repo(self, issue: dict[str, Any]) -> str | None:
        """The `owner/name` of a REST issue in another repository than this store's."""
        owner_repo = str(issue.get("repository_url", "")).split("/repos/")[-1]
        return None if owner_repo in ("", self.slug) else owner_repo

    def acceptance_criteria(self, issue: Issue) -> list[str]:
        """The body's criteria by the reference's rules, as a PR body's are read."""
        return criteria_in_body(issue.context)

    def add_label(self, ref: str, label: str) -> None:
        """Add `label` to the issue; a repo that lacks it (GitHub refuses an unknown label)
        gets it first, as `init --github` makes it. A label the repo has keeps its colour
        and description: a person may have chosen them."""
        edit = ("issue", "edit", ref, "--repo", self.slug, "--add-label", label)
        try:
            self.gh.run(*edit)
            return
        except GitHubError as exc:
            if f"'{label}' not found" not in str(exc):
                raise
        color, description = next(
            ((c, d) for name, c, d in LABELS if name == label), ("ededed", "middle")
        )
        self.gh.run("label", "create", label, "--color", color, "--description", description,
                    "--repo", self.slug)  # fmt: skip
        self.gh.run(*edit)

    def _parent(self, ref: str) -> dict[str, Any] | None:
        try:
            parent: dict[str, Any] = self.gh.api(f"repos/{self.slug}/issues/{ref}/parent")
        except GitHubError as exc:
            if is_not_found(exc):
                return None
            raise
        return parent

    def all_refs(self) -> list[str]:
        return []

    def how_to_approve(self, ref: str, issue: Issue) -> str:
        return f"add the approved label (gh issue edit {ref} --add-label approved)"

    def how_to_unlabel(self, ref: str, label: str) -> str:
        return f"remove it with: gh issue edit {ref} --remove-label {label}"

    def how_to_answer(self, ref: str) -> str:
        if on_actions():  # no `middle` at hand: the next job reads the reply
            return f"answer in a comment on issue #{ref}; the next job picks it up"
        return super().how_to_answer(ref)

    def how_to_review(self, ref: str) -> str:
        if on_actions():
            return (
                f"review the pull request of branch middle/issue-{ref} on GitHub: an "
                "approval completes the run, a change request goes to the agent"
            )
        return super().how_to_review(ref)

    def link(self, ref: str) -> str:
        return f"https://github.com/{self.slug}/issues/{ref}"

    def open_issues(self, default_adapter: str) -> list[EpicFacts]:
        """The open Epics and standalone issues, from one REST listing of the open issues
        (each page asked for with its ETag): each issue says there how many sub-issues it
        has and how many are closed, whether it has a parent, and how many open issues
        block it, so only a blocked issue costs a call of its own. Above `ELIGIBLE_ABOVE`
        open issues, as the reference does, only those labelled `agent-queue:eligible`."""
        listing = f"repos/{self.slug}/issues?state=open"
        issues: list[dict[str, Any]] = []
        for page in self.gh.pages(listing):
            issues += [issue for issue in page.body if "pull_request" not in issue]
            if len(issues) > ELIGIBLE_ABOVE:
                issues = self.gh.api_list(f"{listing}&labels={ELIGIBLE_LABEL}")
                break
        found = []
        for issue in issues:
            if "pull_request" in issue:
                continue
            facts = self._epic_facts(issue, default_adapter)
            if facts is not None:
                found.append(facts)
        return found

    def _epic_facts(self, issue: dict[str, Any], default_adapter: str) -> EpicFacts | None:
        """An issue of the REST listing as the recommender sees it; None for the state
        issue, a sub-issue, or an issue that is neither an Epic nor labelled one."""
        labels = [label["name"] for label in issue.get("labels", [])]
        ref = str(issue["number"])
        if STATE_LABEL in labels or issue.get("parent_issue_url"):
            return None  # the state issue itself, or a sub-issue (never a dispatch unit)
        subs = issue.get("sub_issues_summary") or {}
        total = int(subs.get("total") or 0)
        if not total and EPIC_LABEL not in labels:
            return None  # the recommender ranks Epics: labelled `epic`, or with sub-issues
        agent = next((n.split(":", 1)[1] for n in labels if n.startswith("agent:")), None)
        blocked = (issue.get("issue_dependencies_summary") or {}).get("blocked_by")
        return EpicFacts(
            ref=ref,
            title=issue["title"],
            adapter=agent or default_adapter,
            open_subs=total - int(subs.get("completed") or 0) if total else 1,
            has_subs=bool(total),
            has_criteria=bool(_ANY_CHECKBOX.search(issue.get("body") or "")),
            # no count given (an older GitHub Enterprise): ask
            blockers=tuple(self.open_blockers(ref)) if blocked != 0 else (),
            link=issue["html_url"],
            labels=tuple(labels),
        )

    # -- blockers -----------------------------------------------------------------------

    def open_blockers(self, ref: str) -> list[str]:
        """GitHub's issue dependencies: the open issues `ref` is blocked by."""
        found = self.gh.api_list(f"repos/{self.slug}/issues/{ref}/dependencies/blocked_by")
        return [self._blocker_name(issue) for issue in found if issue.get("state") == "open"]

    def _blocker_name(self, issue: dict[str, Any]) -> str:
        owner_repo = str(issue.get("repository_url", "")).split("/repos/")[-1]
        number = issue["number"]
        return f"#{number}" if owner_repo in ("", self.slug) else f"{owner_repo}#{number}"

    def blocker_status(self, ref: str) -> tuple[BlockerState, str]:
        slug, _, number = ref.rpartition("#")
        if not number.isdigit():
            return "missing", ""
        try:
            issue = self.gh.json(
                "issue", "view", number, "--repo", slug or self.slug, "--json", "state,title"
            )
        except GitHubError as exc:
            if "Could not resolve" in str(exc) or is_not_found(exc):
                return "missing", ""
            raise
        return ("open" if issue["state"] == "OPEN" else "closed"), issue["title"]

    # -- the conversation ---------------------------------------------------------------

    def login(self) -> str:
        """middle's own account: whoever `gh` acts as (a user, or an installation token's
        bot, which `GET /user` refuses)."""
        if self._login is None:
            self._login = viewer_login(self.gh)
        return self._login

    def trusted(self, item: dict[str, Any]) -> bool:
        """Whether a comment's or review's author may answer or approve: a person (no
        bot) with a role on the repository and write access to it."""
        user = item.get("user") or {}
        if user.get("type") == "Bot" or item.get("author_association") not in TRUSTED:
            return False
        return self.may_write(str(user.get("login") or ""))

    def comments(self, ref: str) -> list[dict[str, Any]]:
        return self.gh.api_list(f"repos/{self.slug}/issues/{ref}/comments")

    def _asked(self, comments: list[dict[str, Any]]) -> list[int]:
        """Positions of the questions middle's own account asked (a stranger can post the
        marker too)."""
        return [
            i
            for i, c in enumerate(comments)
            if c["body"].startswith(QUESTION_MARKER)
            and (c.get("user") or {}).get("login") == self.login()
        ]

    def record_question(self, ref: str, text: str, *, kind: str) -> str:
        heading = "needs a decision (complexity)" if kind == "complexity" else "has a question"
        body = (
            f"{QUESTION_MARKER} kind={kind} -->\n**The agent working on this issue {heading}:**"
            f"\n\n{text}\n\nReply in a comment; middle picks your answer up."
        )
        self.gh.run("issue", "comment", ref, "--repo", self.slug, "--body-file", "-", input=body)
        return ref

    def open_question(self, ref: str) -> Question | None:
        comments = self.comments(ref)
        asked = self._asked(comments)
        if not asked or self._reply_after(comments, asked[-1]) is not None:
            return None
        question = comments[asked[-1]]
        text = question["body"].split("\n\n", 1)[-1].rsplit("\n\nReply in a comment", 1)[0]
        kind = (
            "complexity" if "kind=complexity" in question["body"].split("\n", 1)[0] else "question"
        )
        return Question("github", "open", kind, question["created_at"], text, None)

    def human_reply(self, ref: str) -> Comment | None:
        """The first comment after middle's latest question by a trusted person other than
        middle."""
        comments = self.comments(ref)
        asked = self._asked(comments)
        return self._reply_after(comments, asked[-1]) if asked else None

    def _reply_after(self, comments: list[dict[str, Any]], index: int) -> Comment | None:
        for comment in comments[index + 1 :]:
            user = comment.get("user") or {}
            if user.get("login") == self.login() or not self.trusted(comment):
                continue
            return Comment(
                comment["id"], comment["body"], user.get("login", "?"), comment["created_at"],
                comment.get("html_url", ""),
            )  # fmt: skip
        return None

    def record_answer(self, ref: str, text: str, *, author: str) -> None:
        body = f"{ANSWER_MARKER}\n**{author} answered through middle:**\n\n{text}"
        self.gh.run("issue", "comment", ref, "--repo", self.slug, "--body-file", "-", input=body)

    def post_note(self, ref: str, text: str) -> None:
        self.gh.run("issue", "comment", ref, "--repo", self.slug, "--body-file", "-", input=text)

    # -- pull requests ------------------------------------------------------------------

    def pull_request(self, branch: str) -> PullRequest | None:
        owner = self.slug.split("/")[0].lower()
        found = self.gh.json(
            "pr", "list", "--repo", self.slug, "--head", branch, "--state", "all",
            "--limit", "100",
            "--json", "number,isDraft,reviewDecision,state,headRefOid,url,headRepositoryOwner",
        )  # fmt: skip
        ours = [
            pr
            for pr in found or []
            if str((pr.get("headRepositoryOwner") or {}).get("login", "")).lower() == owner
        ]
        if not ours:
            return None
        pr = ours[0]
        return PullRequest(
            pr["number"], pr["isDraft"], pr.get("reviewDecision") or None, pr["state"],
            pr["headRefOid"], pr["url"],
        )  # fmt: skip

    def reviews(self, number: int) -> list[dict[str, Any]]:
        """Every review of the PR, oldest first, from trusted reviewers only."""
        everyone = self.gh.api_list(f"repos/{self.slug}/pulls/{number}/reviews")
        return [review for review in everyone if self.trusted(review)]

    def updates(self, parked: ParkedRun) -> dict[str, Any] | None:
        """A merged or closed PR ends the run; a trusted reply answers the agent's
        question; a trusted approval approves, and change requests since the last round
        start another (`middle.issues.github_signals`)."""
        pr = parked.pull_request
        if pr is not None and pr.state in ("MERGED", "CLOSED"):
            return {"kind": f"pr-{pr.state.lower()}", "pr": pr.number}
        if parked.reason in ("asked-question", "bare-stop", "gates-failed"):
            answer = reply_signal(self.human_reply(parked.ref), parked.acted_on)
            if answer is not None:
                return answer
        if parked.reason in ("done", "held", "gates-failed") and pr is not None:
            review = review_signal(
                pr,
                self.reviews(pr.number),
                parked.acted_on,
                lambda review_id: pull_review_comments(self.gh, self.slug, pr.number, review_id),
            )
            if review is not None or parked.reason != "done":
                return review
            return self.checks_signal(parked, pr)
        return None

    @contextmanager
    def poll_pass(self) -> Iterator[PollPass]:
        """What changed on the repository since the last pass, read once for all its
        parked runs (`middle.issues.github_feed`). If GitHub cannot say, every run is
        asked about, as each run's own calls will tell what is wrong."""
        watch = GitHubPollPass(self.gh, self.slug, self.gh.cache, self.config)
        try:
            watch.read()
        except GitHubError:
            yield PollPass()
            return
        yield watch
        watch.finish()

    def checks_signal(self, parked: ParkedRun, pr: PullRequest) -> dict[str, Any] | None:
        """A ready PR's required checks (`middle.issues.github_checks`): a failure on its
        head resumes the agent, once per check and head; checks pending too long get one
        comment for a human."""
        if pr.state != "OPEN" or pr.draft:
            return None
        checks = required_checks(self.gh, self.slug, pr.number)
        failed = failed_signal(
            pr, checks, parked.acted_on, lambda check: log_tail(self.gh, self.slug, check)
        )
        if failed is not None:
            return failed
        hours = float(self.config.get("github", DEFAULTS["github"])["checks_pending_hours"])
        late = pending_too_long(checks, parked.parked_at, hours, datetime.now(UTC))
        if late and not self._posted(parked.ref, pending_marker(pr)):
            self.post_note(parked.ref, pending_note(pr, late, hours))
        return None

    def _posted(self, ref: str, marker: str) -> bool:
        """Whether middle's own account already posted a comment holding `marker`."""
        return any(
            marker in comment["body"] and (comment.get("user") or {}).get("login") == self.login()
            for comment in self.comments(ref)
        )

    def confirms_done(self, branch: str) -> str | None:
        """None if the branch has a ready PR; otherwise what the agent still has to do.
        On Actions middle makes the PR itself (`publish`)."""
        pr = self.pull_request(branch)
        if on_actions():
            return self.publish(branch, pr)
        if pr is None or pr.state != "OPEN":
            return f"Open a pull request for branch {branch} (not a draft), then finish again."
        if pr.draft:
            return f"Pull request #{pr.number} is a draft: mark it ready, then finish again."
        return None

    def criteria_evidence(
        self, ref: str, branch: str, done: Mapping[str, Any]
    ) -> tuple[list[str], dict[str, list[str]]]:
        """The issue's criteria, each with the evidence on its line of the open PR's body
        (`body_evidence`; no PR, no evidence). On Actions the agent cannot edit the PR:
        its evidence is in `done.json`, as in file mode."""
        if on_actions():
            return super().criteria_evidence(ref, branch, done)
        pr = self._open_pr(branch)
        criteria = [criterion.text for criterion in self.load(ref).criteria]
        return criteria, body_evidence(str(pr.get("body") or "") if pr else "", criteria)

    # -- phases -------------------------------------------------------------------------

    def _open_pr(self, branch: str) -> dict[str, Any] | None:
        """The branch's open PR (number, body), from this repository's owner only."""
        owner = self.slug.split("/")[0].lower()
        found = self.gh.json(
            "pr", "list", "--repo", self.slug, "--head", branch, "--state", "open",
            "--limit", "100", "--json", "number,body,headRepositoryOwner",
        )  # fmt: skip
        ours = [
            pr
            for pr in found or []
            if str((pr.get("headRepositoryOwner") or {}).get("login", "")).lower() == owner
        ]
        return ours[0] if ours else None

    def phase_marks(self, ref: str, branch: str) -> dict[str, bool]:
        """The checkboxes of the open PR's `## Status` section ({} without a PR)."""
        pr = self._open_pr(branch)
        return status_checkboxes(str(pr.get("body") or "")) if pr else {}

    def revert_phase(self, ref: str, branch: str, run: PhaseRun) -> None:
        """Untick the phase in the PR body and say why in a PR comment."""
        pr = self._open_pr(branch)
        if pr is not None:
            revert_on_pr(self.gh, self.slug, pr, run)

    def publish_phase_evidence(self, ref: str, branch: str, run: PhaseRun) -> None:
        """The phase's one evidence comment on the PR (`upsert_evidence`)."""
        pr = self._open_pr(branch)
        if pr is not None:
            upsert_evidence(self.gh, self.slug, int(pr["number"]), self.login(), run)

    def record_evidence(self, ref: str, accepted: list[dict[str, str]]) -> None:
        """On Actions middle wrote the PR body (`publish`): the accepted evidence goes on
        its criteria's lines, for the people who review it. Elsewhere the agent's PR body
        holds it already."""
        pr = self.pull_request(branch_name(ref)) if on_actions() else None
        if pr is not None and pr.state == "OPEN":
            given = {entry["criterion"]: entry["evidence"] for entry in accepted}
            self.gh.run("pr", "edit", str(pr.number), "--repo", self.slug,
                        "--body-file", "-", input=self._pr_body(ref, given))  # fmt: skip

    def _pr_body(self, ref: str, evidence: Mapping[str, str]) -> str:
        """The body of the PR middle opens on Actions: what it is, and the issue's
        acceptance criteria, each with its accepted evidence once a done has it."""
        lines = [
            f"- [x] {criterion.text}: {evidence[criterion.text]}"
            if evidence.get(criterion.text)
            else f"- [ ] {criterion.text}"
            for criterion in self.load(ref).criteria
        ]
        return (
            f"The agent's work on #{ref}. middle pushed the branch and opened this pull "
            "request for it: approve it to complete the run, or request changes to send "
            "your review to the agent.\n\n## Acceptance criteria\n\n"
            + ("\n".join(lines) or "(none given)")
            + "\n"
        )

    def deferral(self, ref: str, text: str) -> str | None:
        """A deferral names a comment on this repository by a trusted person (no bot, a
        role on the repository, write access), by its URL."""
        match = re.fullmatch(
            rf"https://github\.com/{re.escape(self.slug)}/(?:issues|pull)/[0-9]+"
            r"#issuecomment-(?P<id>[0-9]+)",
            text,
            re.I,
        )
        if match is None:
            return f"{text} is not the URL of a comment on {self.slug}"
        try:
            comment = self.gh.api(f"repos/{self.slug}/issues/comments/{match['id']}")
        except GitHubError as exc:
            return f"{text} cannot be read ({exc})"
        if not isinstance(comment, dict) or not self.trusted(comment):
            return f"{text} is not by a trusted person (a human with write access)"
        return None

    def plan_recorded(self, ref: str) -> bool:
        """A comment carrying the plan marker by middle's own account (which the agent
        acts as too, when it holds a token)."""
        return self._posted(ref, PLAN_MARKER)

    def record_plan(self, ref: str, plan: str) -> None:
        if not self.plan_recorded(ref):
            self.post_note(ref, plan_comment(plan))

    def refuse_done(self, branch: str, reason: str) -> None:
        """A PR marked ready without passing goes back to draft."""
        pr = self.pull_request(branch)
        if pr is not None and pr.state == "OPEN" and not pr.draft:
            self.gh.run("pr", "ready", str(pr.number), "--repo", self.slug, "--undo")

    def sub_issue_blockers(self, issue: Issue) -> dict[str, list[str]]:
        """GitHub's issue dependencies of each open sub-issue, kept to its siblings (a
        blocker elsewhere is the Epic's own business: `open_blockers`)."""
        ids = [sub.id for sub in issue.sub_issues]
        found: dict[str, list[str]] = {}
        for sub in issue.sub_issues:
            if sub.done:
                found[sub.id] = []
                continue
            number = sub.id.rpartition("#")[2]
            path = f"repos/{sub.repo or self.slug}/issues/{number}/dependencies/blocked_by"
            names = {self._sub_issue(blocker).id for blocker in self.gh.api(path) or []}
            found[sub.id] = [other for other in ids if other in names]
        return found

    def open_epic_pull_request(
        self, ref: str, branch: str, body: str, title: str | None = None
    ) -> PullRequest | None:
        """Push the integration branch (middle's own) and open its one pull request, or
        give the open one this body: a retry never opens a second. `title`: the Epic's,
        when it is in another repository (an Epic across repos)."""
        git.push_branch(self.repo, branch)
        pr = self.pull_request(branch)
        if pr is not None and pr.state == "OPEN":
            self.gh.run("pr", "edit", str(pr.number), "--repo", self.slug, "--body-file", "-",
                        input=body)  # fmt: skip
            return pr
        if title is None:
            title = self.gh.json("issue", "view", ref, "--repo", self.slug, "--json", "title")[
                "title"
            ]
        self.gh.run(
            "pr", "create", "--repo", self.slug, "--head", branch,
            f"--title={title}", "--body-file", "-", input=body,  # one word: no option
        )  # fmt: skip
        return self.pull_request(branch)

    def publish(self, branch: str, pr: PullRequest | None) -> str | None:
        """Push the agent's branch and open its pull request, ready for review, with
        middle's own token (the agent holds none). A retry is safe: the push is the same
        commits again, and an open PR found for the branch is not opened twice. None once
        the PR stands; what the agent must do if its branch holds no commit."""
        ref = issue_of_branch(branch)
        ahead = "0"
        if ref is not None and git.branch_exists(self.repo, branch):
            ahead = git.git("rev-list", "--count", f"HEAD..refs/heads/{branch}", cwd=self.repo)
        if ref is None or int(ahead) == 0:
            return (
                f"Commit your work on branch {branch} (middle pushes it and opens the "
                "pull request), then finish again."
            )
        try:
            git.push_branch(self.repo, branch)
        except BranchMovedError:  # someone pushed to it: never overwritten, merged first
            fetched = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
            git.git("fetch", "--quiet", "origin", fetched, cwd=self.repo)
            return (
                f"Someone pushed commits to branch {branch} on GitHub that your branch lacks "
                f"(middle fetched them as origin/{branch}): merge them with "
                f"`git merge origin/{branch}`, resolve any conflict keeping what both sides "
                "meant, commit, then finish again."
            )
        if pr is not None and pr.state == "OPEN":
            if pr.draft:
                self.gh.run("pr", "ready", str(pr.number), "--repo", self.slug)
            return None
        title = self.gh.json("issue", "view", ref, "--repo", self.slug, "--json", "title")
        body = self._pr_body(ref, {})  # the evidence goes in once a done is accepted
        self.gh.run(
            "pr", "create", "--repo", self.slug, "--head", branch,
            f"--title={title['title']}", "--body-file", "-", input=body,  # one word: no option
        )  # fmt: skip
        return None

    def base_conflict(self, parked: ParkedRun, base: str) -> Conflict | None:
        """GitHub's own answer first: an open, ready PR whose `mergeable` is false and
        `mergeable_state` "dirty" conflicts with its base (null: GitHub is still computing;
        the next poll asks again). Then the files, from a test merge of the fetched base
        and PR head, and the commits on that head which the local branch lacks: pushed by
        someone else, so middle must not rebase over them."""
        pr = parked.pull_request
        if pr is None or pr.state != "OPEN" or pr.draft or parked.pr_branch is None:
            return None
        found = self.gh.api(f"repos/{self.slug}/pulls/{pr.number}")
        if found.get("mergeable") is not False or found.get("mergeable_state") != "dirty":
            return None
        base_ref, branch = str(found["base"]["ref"]), parked.pr_branch
        onto = f"origin/{base_ref}"
        git.git("fetch", "--quiet", "origin", f"+refs/heads/{base_ref}:refs/remotes/{onto}",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}", cwd=self.repo)  # fmt: skip
        base_sha = git.git("rev-parse", "--verify", f"refs/remotes/{onto}", cwd=self.repo)
        head_sha = git.git("rev-parse", "--verify", f"refs/remotes/origin/{branch}", cwd=self.repo)
        unseen = git.unseen_commits(self.repo, f"refs/heads/{branch}", head_sha)
        files = git.merge_conflicts(self.repo, base_sha, head_sha)
        return Conflict(onto, base_sha, head_sha, tuple(files), tuple(unseen))

    def offer_branch(self, branch: str, title: str, body: str) -> str:
        """Push the branch and open a draft pull request for it (a PR that is open for it
        already is kept: a retry never opens a second)."""
        git.push_branch(self.repo, branch)
        pr = self.pull_request(branch)
        if pr is not None and pr.state == "OPEN":
            return f"draft pull request #{pr.number}: {pr.url}"
        out = self.gh.run(
            "pr", "create", "--repo", self.slug, "--head", branch, "--draft",
            f"--title={title}", "--body-file", "-", input=body,  # one word: no option
        )  # fmt: skip
        return f"draft pull request: {out.strip().splitlines()[-1] if out.strip() else branch}"

    # -- operations -----------------------------------------------------------------------

    def quota(self) -> Quota:
        """The `gh` login's core API allowance."""
        core = self.gh.api("rate_limit")["resources"]["core"]
        resets_at = datetime.fromtimestamp(core["reset"], UTC)
        return Quota(
            "GitHub", int(core["used"]), int(core["limit"]), int(core["remaining"]), resets_at
        )

    def state_location(self) -> StateLocation:
        return StateIssueOnGitHub(self.repo, self.gh)

    def doctor_checks(self) -> list[Check]:
        return [check_gh(self.repo), Check("ok", "epics", "github mode: nothing to check on disk")]

    def set_up(self) -> list[str]:
        return set_up_github(self.repo, self.gh, self.slug)
