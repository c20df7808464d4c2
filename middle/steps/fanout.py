"""The steps of a fanned-out Epic (issue 23): the parent run that makes the integration
branch (one per repo of an Epic across repos) and runs each sub-issue as a child run as
its blockers merge and slots free. `middle.steps.epic_review` judges the integration heads
once every sub-issue merged, publishes them, and takes the verdict.

The parent holds no agent slot. Its `fan-out` step drives its children, each in a
thread of its own with its own database connection and runner (a child is a run like
any other: a crash resumes it from its checkpoints, and its live agent is adopted). A
child tells the parent how it ended through durable signals (`child-<sub>`, and the
wake-up `children`), which the parent reads; when every child left is parked on a
human, the parent parks too, on `children`, and a settling child wakes it.

Idempotent across crashes: a child's id is `<parent>-<sub>`, and a sub-issue whose child
exists is never started again; the store's one-live-run-per-issue index backs that up.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from tenacity import stop_after_attempt

from middle.engine import StepContext, step
from middle.engine.runs import Runs
from middle.errors import EpicError, MiddleError, WorkflowCancelled
from middle.issues.base import Issue
from middle.refs import repo_slug
from middle.steps.epic_child import integration_branch, sub_name
from middle.steps.services import Progress, Services, services
from middle.store import (
    TERMINAL_STATES,
    claim_child_slot,
    database_file,
    open_db,
    registered_repos,
)
from middle.system import git
from middle.system.github import github_slug
from middle.system.tmux import Tmux
from middle.verify.checkout import head_of
from middle.verify.epic_repos import resolve_repos

CHILD_WORKFLOW = "epic-child"
PARKED = ("waiting-human", "rate-limited")
DRIVEN = ("launching", "running")
RECHECK_SECONDS = 1.0  # how often the parent looks for what no thread of its own tells it


def integration_worktree(home: Path, repo: Path, ref: str) -> Path:
    return home / "worktrees" / repo_slug(repo) / f"epic-{ref}"


def remove_integration_worktrees(ctx: StepContext) -> None:
    """Compensation: each repo's integration worktree goes (the branches stay)."""
    plan = ctx.results.get("plan-epic")
    for repo in plan_repos(plan, ctx.input).values() if plan else ():
        git.remove_worktree(Path(repo["path"]), Path(repo["worktree"]))


def children_at_once(parallel: int, config: Mapping[str, Any]) -> int:
    """How many of a fanned-out Epic's children may hold agents at once: its `parallel`,
    at most `[limits] max_children_per_epic` (so a fan-out never starves other Epics)."""
    return min(parallel, int(config["limits"]["max_children_per_epic"]))


@step("plan-epic", stop=stop_after_attempt(1), compensate=remove_integration_worktrees)
def plan_epic(ctx: StepContext) -> dict[str, Any]:
    """Read the Epic's sub-issues and their blockers, and make the integration branch
    `middle/epic-<ref>` from the base (kept if it exists), checked out in a worktree of
    its own where middle merges. Blockers: a sub-issue's `blocked-by`, or the Epic's
    order when it says `sequential: true`."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["ref"])
    issue = services(ctx).issues.load(ref)
    if not issue.sub_issues:
        raise EpicError(f"issue {ref} has no sub-issues to fan out; dispatch it without --parallel")
    ids = [s.id for s in issue.sub_issues]
    blocked_by = services(ctx).issues.sub_issue_blockers(issue)
    subs = []
    for index, sub in enumerate(issue.sub_issues):
        blockers = list(blocked_by.get(sub.id, []))
        if issue.sequential and index > 0:
            blockers = sorted({*blockers, ids[index - 1]}, key=ids.index)
        unknown = [b for b in blockers if b not in ids or b == sub.id]
        if unknown:
            raise EpicError(
                f"sub-issue {sub.id} of issue {ref} is blocked by {', '.join(unknown)}, which "
                f"is not another of its sub-issues ({', '.join(ids)}); fix its blocked-by line"
            )
        subs.append({"id": sub.id, "title": sub.title, "blocked_by": blockers, "done": sub.done})
    own, roots, where = epic_repos(repo, issue, ctx.db, services(ctx).issues.mode)
    for planned in subs:
        planned["repo"] = where[str(planned["id"])]
    integration = integration_branch(ref)
    repos: dict[str, dict[str, str]] = {}
    for name, root in roots.items():  # each repo its own integration branch and worktree
        base = str(ctx.input["base"]) if root == repo.resolve() else git.current_branch(root)
        worktree = integration_worktree(services(ctx).home, root, ref)
        git.add_worktree(root, worktree, integration, base)
        repos[name] = {"path": str(root), "integration": integration, "worktree": str(worktree),
                       "base": base}  # fmt: skip
    mine = repos.get(own) or next(iter(repos.values()))
    ctx.runs.update(ctx.workflow_id, pr_branch=integration, worktree_path=mine["worktree"])
    return {"integration": integration, "worktree": mine["worktree"], "subs": subs,
            "own": own, "repos": repos}  # fmt: skip


def plan_repos(plan: Mapping[str, Any], input: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each repo of the Epic (name -> path, integration branch and worktree); a plan made
    before Epics spanned repos has one, the Epic's own, named ``."""
    if plan.get("repos"):
        return dict(plan["repos"])
    own = {"path": str(input["repo"]), "integration": plan["integration"],
           "worktree": plan["worktree"], "base": str(input["base"])}  # fmt: skip
    return {"": own}


def own_repo(plan: Mapping[str, Any], repos: Mapping[str, Any]) -> str:
    """The name of the repo the Epic's run reports on: its own, or, when none of its
    sub-issues is there, the first of the others."""
    own = str(plan.get("own", ""))
    return own if own in repos else next(iter(repos))


def epic_repos(
    repo: Path, issue: Issue, db: Database, mode: str
) -> tuple[str, dict[str, Path], dict[str, str]]:
    """The repos of an Epic's sub-issues (`middle.verify.epic_repos.resolve_repos`). In
    GitHub mode a sub-issue's repo is `owner/name`, and its checkout the repo middle
    serves (`registered_repos`) whose `origin` is that repository."""
    subs = [(sub.id, sub.repo) for sub in issue.sub_issues]
    declared = dict(issue.repos)
    if mode == "github" and any(sub.repo for sub in issue.sub_issues):
        declared[github_slug(repo)] = str(repo)  # the Epic's own repo is named `owner/name` too
        wanted = {sub.repo: sub.id for sub in issue.sub_issues if sub.repo}
        served: dict[str, str] = {}
        for path in registered_repos(db):
            try:
                served.setdefault(github_slug(Path(path)), path)
            except MiddleError:  # a served repo without a GitHub origin
                continue
        for slug, sub_id in wanted.items():
            if slug not in served:
                raise EpicError(
                    f"sub-issue {sub_id} of issue {issue.ref} is in {slug}, and no repo middle "
                    f"serves has it as its origin; register its checkout with: middle pause "
                    f"--repo PATH && middle unpause --repo PATH (or serve it: middle serve "
                    f"--repo PATH)"
                )
            declared[slug] = served[slug]
    return resolve_repos(repo, issue.ref, declared, subs)


@step("fan-out", stop=stop_after_attempt(1))
def fan_out(ctx: StepContext) -> dict[str, Any]:
    """Run the sub-issues as children until every one has merged (`all_merged`), or every
    one left waits on a human (`waiting`: the parent parks on `children`)."""
    return FanOut(ctx).run()


class ChildProgress:
    """A child's live progress, told to the person watching the parent, prefixed."""

    def __init__(self, progress: Progress, sub: str) -> None:
        self.progress, self.prefix = progress, f"[sub-issue {sub}] "

    def step(self, name: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self.progress.note(f"{self.prefix}{name}{again}")

    def hook(self, event: str) -> None:
        self.progress.hook(f"{self.prefix}{event}")

    def note(self, text: str) -> None:
        self.progress.note(f"{self.prefix}{text}")


class FanOut:
    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.plan = ctx.results["plan-epic"]
        self.services = services(ctx)
        config = self.services.config
        self.cap = children_at_once(int(ctx.input["parallel"]), config)
        self.wake = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self.errors: dict[str, str] = {}

    def child_id(self, sub: str) -> str:
        return f"{self.ctx.workflow_id}-{sub_name(sub)}"

    def reports(self) -> dict[str, dict[str, Any]]:
        delivered = self.ctx.runs.delivered(self.ctx.workflow_id)
        return {name.removeprefix("child-"): payload for name, payload in delivered.items()
                if name.startswith("child-")}  # fmt: skip

    def children(self) -> dict[str, dict[str, Any]]:
        rows = self.ctx.runs.find(parent_id=self.ctx.workflow_id)
        return {str(Runs.input(row)["sub"]): row for row in rows}

    def run(self) -> dict[str, Any]:
        try:
            return self.loop()
        except WorkflowCancelled:
            for row in self.children().values():  # their drivers stop at their next step
                if row["state"] not in TERMINAL_STATES:
                    self.ctx.runs.request_cancel(row["id"])
            raise

    def loop(self) -> dict[str, Any]:
        while True:
            self.ctx.check_cancelled()
            reports = self.reports()
            merged = {s["id"] for s in self.plan["subs"] if s["done"]}
            merged |= {sub for sub, report in reports.items() if report.get("merged")}
            if all(s["id"] in merged for s in self.plan["subs"]):
                return {"all_merged": True, "merged": reports, "waiting": []}
            children = self.children()
            failed = {
                sub: row.get("end_reason") or row["state"]
                for sub, row in children.items()
                if row["state"] in TERMINAL_STATES and sub not in merged
            }
            if not failed:
                self.create_ready(merged, children)
                children = self.children()
            self.claim_slots(children)
            children = self.children()
            self.drive(children)
            if not any(thread.is_alive() for thread in self.threads.values()):
                pending = [
                    sub
                    for sub, row in children.items()
                    if row["state"] == "pending" or self.answered(row)
                ]
                parked = [sub for sub, row in children.items() if row["state"] in PARKED]
                if not pending and failed:
                    said = "; ".join(
                        f"sub-issue {sub}: {self.errors.get(sub) or why}"
                        for sub, why in failed.items()
                    )
                    ref = self.ctx.input["ref"]
                    raise EpicError(
                        f"a child of issue {ref} ended: {said}; what merged stays on "
                        f"{self.plan['integration']}: to go on, run: middle implement --issue {ref}"
                    )
                if not pending and parked:
                    return {"all_merged": False, "merged": reports, "waiting": parked}
                live = [sub for sub, row in children.items() if row["state"] in DRIVEN]
                if not (pending or parked or live or self.startable(merged, children)):
                    stuck = [s["id"] for s in self.plan["subs"] if s["id"] not in merged]
                    raise EpicError(
                        f"sub-issues {', '.join(stuck)} of issue {self.ctx.input['ref']} wait "
                        f"on each other and can never start; fix their blocked-by lines"
                    )
            self.wake.wait(RECHECK_SECONDS)
            self.wake.clear()

    def startable(self, merged: set[str], children: dict[str, Any]) -> list[str]:
        return [
            s["id"]
            for s in self.plan["subs"]
            if s["id"] not in merged
            and s["id"] not in children
            and all(b in merged for b in s["blocked_by"])
        ]

    def create_ready(self, merged: set[str], children: dict[str, Any]) -> None:
        """A child row, `pending`, for each sub-issue whose blockers have all merged."""
        from middle.engine import Runner  # the runner loads with a run, not with the steps

        runner = Runner(self.ctx.db, self.services.plugins, services=self.services)
        repos = plan_repos(self.plan, self.ctx.input)
        for sub in self.startable(merged, children):
            planned = next(s for s in self.plan["subs"] if s["id"] == sub)
            title, name = planned["title"], planned.get("repo", "")
            child_input = {
                "repo": repos[name]["path"],
                "ref": self.ctx.input["ref"],
                "sub": sub,
                "title": title,
                "adapter": self.ctx.input["adapter"],
                "base": self.ctx.input["base"],
                "source": "epic",
                "parent": self.ctx.workflow_id,
                "integration": self.plan["integration"],
                "integration_worktree": repos[name]["worktree"],
            }
            if len(repos) > 1:  # an Epic across repos: what its gates and brief say of them
                child_input["epic_repo"] = self.ctx.input["repo"]  # where its issue store is
                child_input["repo_name"] = name
                child_input["epic_repos"] = {
                    n: {"path": r["path"], "integration": r["integration"]}
                    for n, r in repos.items()
                }
                child_input["upstream"] = self.upstream(planned, repos)
            runner.enqueue(CHILD_WORKFLOW, child_input, self.child_id(sub))
            self.ctx.runs.update(self.child_id(sub), parent_id=self.ctx.workflow_id)
            self.ctx.record_event("epic.child-created", {"sub": sub, "id": self.child_id(sub)})
            self.note(f"sub-issue {sub} ({title}) is unblocked: child {self.child_id(sub)}")

    def upstream(self, planned: dict[str, Any], repos: dict[str, Any]) -> list[dict[str, str]]:
        """The merged work in other repos this sub-issue builds on (its blockers there):
        where each is, its branch and head, for the consumer's brief."""
        found = []
        for blocker in planned["blocked_by"]:
            lib = next(s for s in self.plan["subs"] if s["id"] == blocker)
            name = lib.get("repo", "")
            if name == planned.get("repo", ""):
                continue
            where = repos[name]
            found.append({
                "sub": blocker, "title": lib["title"], "repo": name,
                "where": self.location(Path(where["path"])),
                "branch": where["integration"],
                "head": head_of(Path(where["path"]), where["integration"]),
            })  # fmt: skip
        return found

    def location(self, repo: Path) -> str:
        """Where an agent finds a repo: its path, or in GitHub mode its `origin`'s URL."""
        if self.services.issues.mode == "github":
            try:
                return git.git("remote", "get-url", "origin", cwd=repo)
            except MiddleError:
                pass
        return str(repo)

    def answered(self, row: dict[str, Any]) -> bool:
        """A parked child whose human's signal has arrived: it has work to do again."""
        signal = self.ctx.runs.signal(row["id"], "resume")
        return row["state"] in PARKED and signal is not None and bool(signal["delivered_at"])

    def claim_slots(self, children: dict[str, dict[str, Any]]) -> None:
        """Give slots to pending children, and to parked ones a human answered, in the
        Epic's order, while every cap has room."""
        order = [s["id"] for s in self.plan["subs"]]
        for sub in sorted(children, key=order.index):
            row = children[sub]
            if row["state"] != "pending" and not self.answered(row):
                continue
            busy = claim_child_slot(
                self.ctx.db,
                children[sub]["id"],
                parent_id=self.ctx.workflow_id,
                adapter=str(self.ctx.input["adapter"]),
                config=self.services.config,
                cap=self.cap,
            )
            if busy is not None:
                return

    def drive(self, children: dict[str, dict[str, Any]]) -> None:
        """A thread for each child that holds a slot and that nothing drives."""
        for sub, row in children.items():
            if row["state"] not in DRIVEN:
                continue
            thread = self.threads.get(sub)
            if thread is not None and thread.is_alive():
                continue
            thread = threading.Thread(
                target=self.drive_child, args=(sub, row["id"]), name=f"child-{sub}", daemon=True
            )
            self.threads[sub] = thread
            thread.start()

    def drive_child(self, sub: str, child_id: str) -> None:
        """Drive one child until it parks or ends, on a connection of this thread's own."""
        from middle.engine import Runner

        try:
            db = open_db(database_file(self.ctx.db))
            progress = self.services.progress
            child_services: Services = replace(
                self.services,
                tmux=Tmux(),
                progress=ChildProgress(progress, sub) if progress is not None else None,
            )
            on_step = child_services.progress.step if child_services.progress else None
            runner = Runner(db, self.services.plugins, services=child_services, on_step=on_step)
            if not runner.driven(child_id):
                runner.resume(child_id)
        except MiddleError as exc:
            self.errors[sub] = str(exc)
        except Exception as exc:  # the child's row says how it ended; keep its words too
            self.errors[sub] = f"{type(exc).__name__}: {exc}"
        finally:
            self.wake.set()

    def note(self, text: str) -> None:
        if self.services.progress is not None:
            self.services.progress.note(text)


def fanned_out(ctx: StepContext) -> str:
    """After `fan-out`: on to the integration head, or park until a child settles."""
    return "done" if ctx.results["fan-out"]["all_merged"] else "wait"


def fan_out_again(ctx: StepContext) -> bool:
    """Again while a sub-issue has not merged, or after a review round began (the
    `done` path ran, so `finish-epic`'s output is this iteration's)."""
    if not ctx.results["fan-out"]["all_merged"]:
        return True
    return bool(ctx.results["finish-epic"].get("next") == "review")
