"""The documentation workflow's steps: a worktree of the base branch, an agent turn that
audits the docs (and, with `write`, fixes them in commits), a check of what it left, and
the end: the report kept under the home, and with `write` the branch offered for review.

The agent writes its report to `.middle/docs-report.md` in the worktree: `.middle/` never
reaches a commit, so an audit commits nothing, and middle copies the report to
`$MIDDLE_HOME/docs/<repo>/<run id>.md` before the worktree goes. An audit runs in a
detached checkout (whatever the agent commits there is dropped with it); a write run on
its own branch `middle/docs-<run>`, whose head must pass the repo's gates before middle
pushes it and opens a draft pull request (GitHub mode) or leaves it ready (file mode).
Nobody answers a documentation run's questions: a question, a give-up or a usage limit
ends the run, and a bare stop or failing gates send the agent back, a bounded number of
times.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.agents.launch import agent_environment
from middle.engine import StepContext, step
from middle.errors import DocsError
from middle.refs import repo_slug
from middle.steps.dispatch import agent_worktree
from middle.steps.documentation.tool import DocsTool, detect_docs_tool
from middle.steps.services import services
from middle.steps.turn import CheckedTurn
from middle.system import git
from middle.system.worktree import DOCS_REPORT
from middle.verify.checkout import GateCheckout
from middle.verify.gates import failure_report, load_gates, run_gates

REPORT = Path(DOCS_REPORT)
MAX_ATTEMPTS = 3


def docs_branch(workflow_id: str) -> str:
    return f"middle/docs-{workflow_id[-8:]}"


def kept_report(home: Path, repo: Path, workflow_id: str) -> Path:
    """Where a documentation run's report is kept once its worktree is gone."""
    return home / "docs" / repo_slug(repo) / f"{workflow_id}.md"


def _remove_worktree(ctx: StepContext) -> None:
    """The session and the worktree go; a write run's branch stays (its commits are the
    agent's work, for a person to look at)."""
    output = ctx.results.get("prepare-docs") or {}
    if output.get("session"):
        services(ctx).tmux.kill_session(output["session"])
    if output.get("worktree"):
        git.remove_worktree(Path(ctx.input["repo"]), Path(output["worktree"]))


@step("prepare-docs", compensate=_remove_worktree)
def prepare_docs(ctx: StepContext) -> dict[str, Any]:
    """The run's worktree (detached for an audit, on `middle/docs-<run>` to write), with
    middle's skills stamped in, and the docs tool found in it. Safe to re-run."""
    repo, config = Path(ctx.input["repo"]), services(ctx).config
    path = services(ctx).home / "worktrees" / repo_slug(repo) / f"docs-{ctx.workflow_id}"
    branch = docs_branch(ctx.workflow_id) if ctx.input.get("write") else None
    session = f"middle-{repo_slug(repo)}--docs-{ctx.workflow_id[-8:]}"
    agent_worktree(ctx, path, branch, session)
    tool = detect_docs_tool(path, config["docs"].get("path"))
    return {
        "worktree": str(path),
        "session": session,
        "branch": branch,
        "base_sha": git.git("rev-parse", "HEAD", cwd=path),
        "tool": dataclasses.asdict(tool),
    }


def docs_brief(tool: DocsTool, base: str, branch: str | None, errors: list[str]) -> str:
    """What the agent is told: the tool middle found, audit or write, and how to end."""
    if tool.config is None:
        where = (
            f"No docs tool's config was found: the docs are plain Markdown (`README.md`, "
            f"and `{tool.root}/`)."
        )
    else:
        where = f"The docs are built with {tool.label} (`{tool.config}`), in `{tool.root}/`."
    if branch is None:
        task = (
            "Audit only. Change nothing and commit nothing: this checkout is thrown away, "
            "and only your report is kept."
        )
    else:
        task = (
            f"Fix what you find, in small commits on this branch (`{branch}`), one per "
            "topic. Do not push and do not open a pull request: middle runs the "
            "repository's gates on your last commit, then offers the branch for review "
            "(a draft pull request on GitHub)."
        )
    parts = [
        "# Audit this repository's documentation",
        f"middle runs its documentation workflow in this checkout of `{base}`. Follow the "
        "`documenting-the-repo` skill (in `.claude/skills/` and `.agents/skills/`).",
        where,
        f"## What to do\n\n{task}",
        "## When you are done\n\n"
        f"- Write your report to `{REPORT.as_posix()}` (Markdown): each finding with its "
        "page, what is wrong, what the code says, and the fix"
        + ("" if branch is None else "; and what you changed")
        + ".\n"
        '- Then write `.middle/done.json` (`{"summary": "..."}`) and stop.\n'
        '- If you cannot do it, write `.middle/failed.json` (`{"reason": "..."}`) and '
        "stop.\n"
        "- Nobody answers questions during a documentation run: put open questions in "
        "the report.",
    ]
    if errors:
        parts.append("## Your last attempt was sent back\n\n" + "\n".join(f"- {e}" for e in errors))
    return "\n\n".join(parts) + "\n"


class DocsTurn(CheckedTurn):
    """A turn over the docs, with the docs brief; `check-docs` reads what it left."""

    check_step = "check-docs"

    def checked_brief(self, errors: list[str]) -> str:
        prepared = self.ctx.results["prepare-docs"]
        tool = DocsTool(**prepared["tool"])
        return docs_brief(tool, str(self.ctx.input["base"]), prepared["branch"], errors)


@step("docs-turn", stop=stop_after_attempt(1))
def docs_turn(ctx: StepContext) -> dict[str, Any]:
    """One agent turn over the docs."""
    return DocsTurn(ctx, None).run()


@step("check-docs", stop=stop_after_attempt(1))
def check_docs(ctx: StepContext) -> dict[str, Any]:
    """What the agent left: a question, a give-up or a usage limit ends the run; a missing
    report, or (to write) gates failing on the branch's head, go into the next brief."""
    turn = ctx.results["docs-turn"]
    outcome = turn["outcome"]
    if outcome == "asked-question":
        raise DocsError(
            f"the docs agent asked a question, and a documentation run waits for no "
            f"answer: {turn.get('question')!r}; answer it in the docs or the code, then "
            "run middle docs again"
        )
    if outcome in ("failed", "rate-limited"):
        raise DocsError(
            f"the docs agent ended its turn {outcome}: "
            f"{turn.get('reason') or turn.get('reset_at') or 'no reason given'}"
        )
    prepared = ctx.results["prepare-docs"]
    worktree = Path(prepared["worktree"])
    report = worktree / REPORT
    errors = []
    if outcome != "done":
        errors.append("you stopped without writing .middle/done.json")
    if not report.is_file() or not report.read_text(encoding="utf-8").strip():
        errors.append(f"{REPORT.as_posix()} is missing or empty; write the report there")
    head = git.git("rev-parse", "HEAD", cwd=worktree)
    commits = int(git.git("rev-list", "--count", f"{prepared['base_sha']}..{head}", cwd=worktree))
    if not errors and prepared["branch"] is not None and commits:
        errors += _gate_failures(ctx, head)
    ctx.record_event("docs.checked", {"attempt": ctx.round, "errors": errors, "commits": commits})
    return {"ok": not errors, "errors": errors, "attempt": ctx.round, "commits": commits}


def _gate_failures(ctx: StepContext, head: str) -> list[str]:
    """The repo's gates (its base branch's `.middle/verify.toml`) on the branch's head,
    in a clean checkout of it: the report of those that fail, if any."""
    repo = Path(ctx.input["repo"])
    gates = load_gates(repo, str(ctx.input["base"]))
    if not gates:
        return []
    path = services(ctx).home / "worktrees" / repo_slug(repo) / f"gates-docs-{ctx.workflow_id}"
    checkout = GateCheckout(repo, path)
    env = agent_environment(os.environ, services(ctx).adapter.env_patterns(), {})
    try:
        results = run_gates(gates, checkout.at(head), head, env)
    finally:
        checkout.remove()
    ctx.record_event("gates.ran", {"head": head, "results": [r.as_dict() for r in results]})
    failing = [r for r in results if not r.passed]
    return [failure_report(failing)] if failing else []


def another_docs_attempt(ctx: StepContext) -> bool:
    checked = ctx.results["check-docs"]
    return not checked["ok"] and int(checked["attempt"]) < MAX_ATTEMPTS


@step("finish-docs", stop=stop_after_attempt(3))
def finish_docs(ctx: StepContext) -> dict[str, Any]:
    """Keep the report under the home; with `write` and commits, offer the branch (a draft
    PR in GitHub mode); then the worktree goes. Safe to re-run: the copy is the same, and
    the store finds a PR it opened before."""
    checked = ctx.results["check-docs"]
    if not checked["ok"]:
        raise DocsError(
            f"the docs agent's work was sent back {checked['attempt']} time(s) and is "
            f"still not done: {checked['errors'][0]}"
        )
    repo, prepared = Path(ctx.input["repo"]), ctx.results["prepare-docs"]
    kept = kept_report(services(ctx).home, repo, ctx.workflow_id)
    written = Path(prepared["worktree"]) / REPORT
    if written.is_file() or not kept.is_file():  # else a re-run, after the worktree went
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(written.read_text(encoding="utf-8"), encoding="utf-8")
    text = kept.read_text(encoding="utf-8")
    branch, offered = prepared["branch"], None
    if branch is not None and checked["commits"]:
        title = f"Documentation fixes ({DocsTool(**prepared['tool']).label})"
        body = (
            f"middle's documentation workflow (run {ctx.workflow_id}) audited the docs and "
            f"fixed what it could. Its report:\n\n{text}"
        )
        offered = services(ctx).issues.offer_branch(branch, title, body)
    _remove_worktree(ctx)
    if branch is not None and not checked["commits"] and git.branch_exists(repo, branch):
        git.git("branch", "-D", branch, cwd=repo)  # nothing on it: no branch to review
    result = {"report": str(kept), "branch": branch, "offered": offered}
    result["commits"] = checked["commits"]
    ctx.record_event("docs.finished", result)
    return result
