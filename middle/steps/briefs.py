"""`.middle/prompt.md`, the brief an agent reads: initial, answer, and resume (a
reviewer's feedback, or the CI checks that failed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from middle.issues.base import Issue
from middle.issues.epic_file import SubIssue
from middle.system.github import on_actions
from middle.system.worktree import prompt_path
from middle.verify.epic_repos import env_name
from middle.verify.evidence import ACCEPTED

OPERATING_RULES = """\
## How to work

- Work only in this worktree, on its branch. Commit as you go; never merge, never push to
  the base branch.
- When everything in the acceptance criteria is done and committed, write
  `.middle/done.json` (`{"summary": "..."}`) and stop.
- If you need a decision from a human, write `.middle/blocked.json`
  (`{"question": "...", "context": "...", "kind": "question"}`) and stop. You will be
  resumed here with the answer.
- If the work is bigger than the complexity ceiling below, ask instead
  (`"kind": "complexity"`).
- If you cannot do it, write `.middle/failed.json` (`{"reason": "..."}`) and stop.
- middle's skills `implementing-issues` and `verifying-requirements` (in `.claude/skills/`
  and `.agents/skills/`) say the rest: what middle checks before a done counts, and the
  evidence each acceptance criterion needs.
"""

# On GitHub Actions the agent holds no token and no git credentials: middle pushes.
CI_RULE = """\
- Commit your work, but do not push and do not open a pull request: you have no
  credentials here. When you write `.middle/done.json`, middle pushes this branch and
  opens the pull request.
"""


def evidence_rules(mode: str) -> str:
    """What the agent is told when a done needs evidence (issue 19): where it goes, what
    counts, and that middle checks it. On Actions the agent cannot edit its pull request,
    so its evidence goes in `done.json` there too, and middle writes it into the PR."""
    where = (
        "On each criterion's line in your pull request's `## Acceptance criteria` section "
        "(the criterion's text, then its evidence), before you mark it ready."
        if mode == "github" and not on_actions()
        else 'In .middle/done.json: {"summary": "...", "evidence": [{"criterion": "<the '
        'criterion\'s text>", "evidence": "<evidence>"}]}.'
    )
    return (
        "## Evidence\n\n"
        "Each acceptance criterion needs evidence, or your done is refused. " + where + "\n"
        f"Evidence is {ACCEPTED}. middle checks it on your last commit: a named file or "
        "test must exist there, and a test a failing gate ran does not count."
    )


def phase_rules(mode: str, source: str) -> str:
    """Where the agent ticks a phase done, when the repo has gates to judge it (issue 19)."""
    where = (
        "in your pull request body's `## Status` section, one line per sub-issue "
        "(`- [x] #12 Title`)"
        if mode == "github"
        else f"on its line in the Epic file {source} (`- [x] **2 — Title**`; that file, "
        "not a copy in your worktree)"
    )
    return (
        "## Phases\n\n"
        f"When a sub-issue is done and committed, tick it {where}. middle then runs its "
        "gates on your last commit; if one fails, middle unticks it and tells you which "
        "gate failed and how."
    )


def initial_brief(issue: Issue, ceiling: int, evidence: str = "") -> str:
    criteria = "\n".join(f"- [{'x' if c.done else ' '}] {c.text}" for c in issue.criteria)
    subs = "\n".join(
        f"### {s.id}. {s.title}{' (done)' if s.done else ''}\n\n{s.body}".rstrip()
        for s in issue.sub_issues
    )
    parts = [
        f"# {issue.title}",
        f"Issue `{issue.ref}` ({issue.source}).",
        f"## Context\n\n{issue.context.strip() or '(none given)'}",
        f"## Acceptance criteria\n\n{criteria or '(none given)'}",
    ]
    if subs:
        parts.append(f"## Sub-issues\n\n{subs}")
    if evidence:
        parts.append(evidence)
    rules = OPERATING_RULES + (CI_RULE if on_actions() else "")
    parts += [rules.rstrip(), f"Complexity ceiling: {ceiling} (on a scale of 1 to 5)."]
    return "\n\n".join(parts) + "\n"


def child_brief(
    issue: Issue,
    sub: SubIssue,
    ceiling: int,
    integration: str,
    upstream: Sequence[Mapping[str, str]] = (),
) -> str:
    """The brief of one child of a fanned-out Epic: its own sub-issue only, by id and
    title (the other sub-issues are other agents' work, merged beside it); and, for a
    consumer, where the work in another repo it builds on is (`upstream`)."""
    parts = [
        f"# Sub-issue {sub.id} — {sub.title}",
        f"You work on sub-issue {sub.id} of issue `{issue.ref}` ({issue.source}), "
        f"`MIDDLE_EPIC={issue.ref}/{sub.id}`, and on nothing else. Other agents work on the "
        f"Epic's other sub-issues at the same time, each on a branch of its own; middle "
        f"merges yours into the integration branch `{integration}` once it is done and "
        f"its gates pass.",
        f"## Sub-issue {sub.id} — {sub.title}\n\n{sub.body.strip() or '(no more detail)'}",
        f"## The Epic: {issue.title}\n\n{issue.context.strip() or '(none given)'}",
    ]
    if upstream:
        parts.append(upstream_section(upstream))
    rules = OPERATING_RULES + (CI_RULE if on_actions() else "")
    parts += [rules.rstrip(), f"Complexity ceiling: {ceiling} (on a scale of 1 to 5)."]
    return "\n\n".join(parts) + "\n"


def upstream_section(upstream: Sequence[Mapping[str, str]]) -> str:
    """A consumer's brief: the merged work in other repos it builds on, and how to use it."""
    lines = ["## Work in other repos that this builds on", ""]
    for lib in upstream:
        name = env_name(lib["repo"])
        lines.append(
            f"- Sub-issue {lib['sub']} — {lib['title']}, in repo `{lib['repo']}` at "
            f"{lib['where']}: branch `{lib['branch']}`, head {lib['head']}. Use it as a path "
            f"dependency, or a git URL pinned to {lib['head']}; do not change that repo. "
            f"Your gates run against that head: a checkout of it is in "
            f"`$MIDDLE_EPIC_REPO_{name}`, its SHA in `$MIDDLE_EPIC_HEAD_{name}`."
        )
    return "\n".join(lines)


def conflict_brief(files: list[str], integration: str, head: str, branch: str) -> str:
    """A child whose branch would not merge: its agent rebases; middle resolves nothing."""
    listed = "\n".join(f"- `{name}`" for name in files)
    return (
        f"# Merge conflict: rebase onto `{integration}`\n\n"
        f"Your branch `{branch}` conflicts with the Epic's integration branch "
        f"`{integration}` at {head}, so middle could not merge it. The conflicting files:\n\n"
        f"{listed}\n\n"
        f"Rebase your branch onto that head (`git rebase {head}`), resolve the conflict in "
        "these files keeping what both sides meant, commit, then write `.middle/done.json` "
        "again and stop. Do not merge the integration branch into yours, and do not push.\n"
    )


def answer_brief(question: str, answer: str) -> str:
    return (
        "# A human answered your question\n\n"
        f"You asked:\n\n{_quote(question)}\n\n"
        f"The answer, verbatim:\n\n{answer}\n\n"
        "Continue the work with this answer. The operating rules of your first brief still "
        "hold (done.json, blocked.json, failed.json).\n"
    )


def resume_brief(feedback: str, review_round: int) -> str:
    return (
        f"# Review feedback (round {review_round})\n\n"
        f"A reviewer asked for changes. Their feedback, verbatim:\n\n{feedback}\n\n"
        "Address it, commit, then write `.middle/done.json` again and stop.\n"
    )


def checks_brief(failures: str, review_round: int) -> str:
    return (
        f"# CI checks failed (round {review_round})\n\n"
        "Required checks failed on your pull request's latest commit. Each one, with the "
        f"end of its log:\n\n{failures}\n\n"
        "Fix the cause, commit, then write `.middle/done.json` again and stop.\n"
    )


def rebase_brief(instructions: str, review_round: int) -> str:
    return (
        f"# The base branch moved (round {review_round})\n\n{instructions}\n\n"
        "When the branch merges cleanly again and is committed, write `.middle/done.json` "
        "again and stop.\n"
    )


def phase_brief(report: str, review_round: int) -> str:
    return (
        f"# A phase's gates failed (round {review_round})\n\n"
        "You ticked a phase done in your pull request's `## Status`, and its gates failed "
        "on your branch's latest commit, so middle unticked it:\n\n"
        f"{report}\n\n"
        "Fix the cause, commit, push, tick the phase again, then write `.middle/done.json` "
        "again and stop.\n"
    )


def write_brief(worktree: Path, text: str) -> Path:
    path = prompt_path(worktree)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())
