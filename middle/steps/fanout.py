"""The steps of a fanned-out Epic (issue 23): the parent run that makes the integration
branch, runs each sub-issue as a child run as its blockers merge and slots free, then
judges the integration head and leaves one ready branch.

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
from middle.steps.outcome import MAX_REVIEW_ROUNDS
from middle.steps.phases import gate_environment
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
from middle.verify.checkout import head_of, leased_checkout
from middle.verify.epic_repos import other_repos_env, resolve_repos
from middle.verify.evidence import check_evidence, evidence_policy
from middle.verify.gates import load_gates, run_gates

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
        self.cap = min(int(ctx.input["parallel"]), int(config["limits"]["max_children_per_epic"]))
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


@step("verify-epic", stop=stop_after_attempt(2))
def verify_epic(ctx: StepContext) -> dict[str, Any]:
    """Run every gate on each repo's integration head and judge each acceptance
    criterion's evidence there (the children's, gathered); then write the Epic's
    `## Status`, each sub-issue ticked with a link to its evidence, and publish each
    repo's branch (a pull request in GitHub mode), each naming the others."""
    ref, plan, svc = str(ctx.input["ref"]), ctx.results["plan-epic"], services(ctx)
    repos, integration = plan_repos(plan, ctx.input), plan["integration"]
    merged = {**ctx.results["fan-out"]["merged"]}
    subs_in = {name: [s for s in plan["subs"] if s.get("repo", "") == name] for name in repos}
    judged = {name: judge_repo(ctx, name, repos, subs_in[name], merged) for name in repos}
    lines = ["## Status", ""]
    for sub in plan["subs"]:
        report = merged.get(sub["id"], {})
        link = report.get("evidence")
        where = (
            f"merged at {str(report.get('head') or '')[:12]}, evidence: {link}"
            if link
            else ("done before the fan-out")
        )
        inside = f" (repo {sub['repo']})" if len(repos) > 1 else ""
        lines.append(f"- [x] **{sub['id']} — {sub['title']}**{inside}: {where}")
    lines.append("")
    for name, repo in judged.items():
        passed = ", ".join(f"{r['gate']} {r['result']}" for r in repo["gates"]["results"])
        inside = f" in repo {name}" if len(repos) > 1 else ""
        lines.append(f"Gates on `{integration}`{inside} at {repo['head'][:12]}: "
                     f"{passed or 'no gates'}.")  # fmt: skip
    status = "\n".join(lines)
    ok = all(repo["ok"] for repo in judged.values())
    if ok:
        for repo in judged.values():
            if repo["verdict"] is not None:
                svc.issues.record_evidence(ref, repo["verdict"].accepted())
        publish(ctx, repos, judged, status)
        svc.issues.post_note(ref, status)
    first = judged[own_repo(plan, repos)]
    problems = [p for name, repo in judged.items() for p in repo["problems"]]
    shown = {
        name: {k: v for k, v in repo.items() if k != "verdict"} for name, repo in judged.items()
    }
    return {"ok": ok, "head": first["head"], "gates": first["gates"], "status": status,
            "problems": problems, "pr": first["pr"], "repos": shown}  # fmt: skip


def judge_repo(
    ctx: StepContext,
    name: str,
    repos: dict[str, dict[str, str]],
    subs: list[dict[str, Any]],
    merged: dict[str, Any],
) -> dict[str, Any]:
    """One repo's integration head: its gates (with the other repos' heads in their
    environment) and the evidence its children gave, judged there."""
    ref, svc = str(ctx.input["ref"]), services(ctx)
    repo, integration = Path(repos[name]["path"]), repos[name]["integration"]
    head = git.git("rev-parse", f"refs/heads/{integration}", cwd=repo)
    gates = load_gates(repo, repos[name].get("base") or str(ctx.input["base"]))
    with (
        other_repos_env(svc.home, repos, name) as others,
        leased_checkout(svc.home, repo) as checkout,
    ):
        env = {**gate_environment(svc.adapter), **others}
        results = run_gates(gates, checkout.at(head), head, env) if gates else []
    failing = [r for r in results if not r.passed]
    gates_run = {"head": head, "results": [r.as_dict() for r in results]}
    ctx.record_event("gates.ran", gates_run if len(repos) == 1 else {**gates_run, "repo": name})
    given = [item for sub in subs for item in merged.get(sub["id"], {}).get("given_evidence") or []]
    policy = evidence_policy(svc.config, has_verify_file=bool(gates))
    # a repo whose children gave no evidence is judged by its gates (the Epic's own: both)
    own = name == own_repo(ctx.results["plan-epic"], repos)
    verdict = None
    if policy.required and not failing and (given or own):
        verdict = check_evidence(
            svc.issues, repo=repo, ref=ref, branch=integration, head=head,
            done={"evidence": given}, policy=policy,
        )  # fmt: skip
        ctx.record_event("evidence.judged", {"head": head, "ok": verdict.ok})
    problems = [r.summary() for r in failing]
    if verdict is not None and not verdict.ok:
        problems.append(verdict.report())
    return {"ok": not problems, "head": head, "gates": gates_run, "verdict": verdict,
            "problems": problems, "path": str(repo), "branch": integration, "pr": None}  # fmt: skip


def publish(
    ctx: StepContext, repos: dict[str, Any], judged: dict[str, dict[str, Any]], status: str
) -> None:
    """Each repo's branch as its pull request (GitHub mode) or a ready branch, each body
    listing the others: once to learn every address, again to link them all."""
    ref, plan, svc = str(ctx.input["ref"]), ctx.results["plan-epic"], services(ctx)
    own = own_repo(plan, repos)
    title = svc.issues.load(ref).title if len(repos) > 1 else None
    for _ in range(2 if len(repos) > 1 else 1):
        for name, repo in judged.items():
            subs = [s for s in plan["subs"] if s.get("repo", "") == name or len(repos) == 1]
            closes = "\n".join(
                f"Closes {'#' if sub['id'].isdigit() else ''}{sub['id']}" for sub in subs
                if sub["id"].isdigit() or "#" in sub["id"]
            )  # fmt: skip
            body = f"The sub-issues of #{ref}, each by its own agent, merged by middle.\n\n{status}"
            if len(repos) > 1:
                body += "\n\n" + linked(name, judged)
            path = Path(repo["path"])
            epics = path.resolve() == Path(ctx.input["repo"]).resolve()  # the Epic's own repo
            store = svc.issues if epics else type(svc.issues)(path, svc.config)
            pr = store.open_epic_pull_request(
                ref, repo["branch"], f"{body}\n\n{closes}".strip(), title
            )
            if pr is not None:
                repo["pr"] = {"number": pr.number, "url": pr.url}
                if name == own:
                    ctx.runs.record_pull_request(ctx.workflow_id, pr.number, pr.url)
            elif len(repos) > 1:  # a ready branch says where the others are in its description
                key = f"branch.{repo['branch']}.description"
                git.git("config", key, body, cwd=Path(repo["path"]))


def linked(name: str, judged: dict[str, dict[str, Any]]) -> str:
    """The `## Linked` section of one repo's body: every other repo's branch or PR."""
    lines = ["## Linked", "", "This Epic's work in other repos, reviewed together:"]
    for other, repo in judged.items():
        if other != name:
            at = repo["pr"]["url"] if repo["pr"] else f"{repo['path']}, branch `{repo['branch']}`"
            lines.append(f"- repo {other}: {at} (head {repo['head'][:12]})")
    return "\n".join(lines)


@step("park-epic", stop=stop_after_attempt(3))
def park_epic(ctx: StepContext) -> dict[str, Any]:
    """Park for review with the ready branch (or why the integration head fails)."""
    verified, ref = ctx.results["verify-epic"], str(ctx.input["ref"])
    integration = ctx.results["plan-epic"]["integration"]
    hints = services(ctx).issues.how_to_review(ref)
    repos = verified.get("repos") or {}
    if verified["ok"] and len(repos) > 1:
        reason = "done"
        listed = "\n".join(
            f"  repo {name}: "
            + (f"pull request {r['pr']['url']}" if r["pr"] else
               f"branch {r['branch']} in {r['path']} at {r['head'][:12]}")
            for name, r in repos.items()
        )  # fmt: skip
        message = f"every sub-issue merged: linked, ready for review:\n{listed}\n{hints}"
    elif verified["ok"] and verified.get("pr"):
        reason, pr = "done", verified["pr"]
        message = (
            f"every sub-issue merged: pull request #{pr['number']} is ready for review: {pr['url']}"
        )
    elif verified["ok"]:
        reason = "done"
        message = (
            f"every sub-issue merged: branch {integration} is ready for review at "
            f"{verified['head'][:12]}.\n{hints}"
        )
    else:
        reason = "gates-failed"
        said = "\n".join(f"  {p}" for p in verified["problems"])
        message = f"the integration head {verified['head'][:12]} fails:\n{said}\n{hints}"
    ctx.record_event("workflow.waiting", {"reason": reason, "message": message})
    return {"reason": reason, "state": "waiting-human", "message": message}


@step("finish-epic", stop=stop_after_attempt(3))
def finish_epic(ctx: StepContext) -> dict[str, Any]:
    """An approval ends the Epic: its integration worktrees go, every branch stays.
    Requested changes start a review round: the child of the sub-issue it names (or the
    one that merged last in the repo it is about) works again, in its repo, and the
    Epic is verified and parked again; at most `MAX_REVIEW_ROUNDS` rounds."""
    signal = ctx.results["wait-for-resume"]
    kind = signal.get("kind")
    previous = ctx.results.get("finish-epic") if ctx.round > 1 else None
    rounds = int((previous or {}).get("review_round", 0))
    if kind == "request-changes":
        ref = str(ctx.input["ref"])
        if rounds >= MAX_REVIEW_ROUNDS:
            ctx.end("failed", f"review round cap ({MAX_REVIEW_ROUNDS}) reached without "
                              f"approval: a human must take over the branches")  # fmt: skip
            return {"next": "finish", "kind": kind, "review_round": rounds}
        sub = reviewed_sub(ctx, signal)
        child = start_review_round(ctx, sub, str(signal.get("text") or ""), rounds + 1)
        services(ctx).issues.post_note(
            ref, f"middle: review round {rounds + 1} of issue {ref} goes to sub-issue {sub}."
        )
        return {"next": "review", "kind": kind, "sub": sub, "child": child,
                "review_round": rounds + 1}  # fmt: skip
    if kind not in ("approve", "pr-merged"):
        ctx.end("failed", f"the Epic's branch got {kind!r}: re-dispatch the sub-issue it is about")
        return {"next": "finish", "kind": kind, "review_round": rounds}
    for repo in plan_repos(ctx.results["plan-epic"], ctx.input).values():
        git.remove_worktree(Path(repo["path"]), Path(repo["worktree"]))
    return {"next": "finish", "kind": kind, "review_round": rounds}


def reviewed_sub(ctx: StepContext, signal: Mapping[str, Any]) -> str:
    """The sub-issue a verdict is about: the one it names, else the one that merged
    last in the repo it names (a pull request's), else in the Epic's own repo."""
    plan = ctx.results["plan-epic"]
    ids = [s["id"] for s in plan["subs"]]
    if signal.get("sub"):
        if str(signal["sub"]) not in ids:
            raise EpicError(f"issue {ctx.input['ref']} has no sub-issue {signal['sub']} "
                            f"(it has {', '.join(ids)})")  # fmt: skip
        return str(signal["sub"])
    repo = str(signal.get("repo") or plan.get("own", ""))
    inside = {s["id"] for s in plan["subs"] if s.get("repo", "") == repo} or set(ids)
    reports = FanOut(ctx).reports()  # in the order they were delivered: the last merged last
    merged = [sub for sub in reports if sub in inside and reports[sub].get("merged")]
    return merged[-1] if merged else ids[-1]


def start_review_round(ctx: StepContext, sub: str, feedback: str, review_round: int) -> str:
    """A new child run of `sub` (`<parent>-<sub>-r<round>`), on its branch as it stands,
    whose first brief is the reviewer's feedback; its sub-issue counts as not merged
    until it reports again. Idempotent: a re-run finds the child it made."""
    from middle.engine import Runner

    first = FanOut(ctx).children()[sub]
    child_id = f"{ctx.workflow_id}-{sub_name(sub)}-r{review_round}"
    if child_id not in {row["id"] for row in ctx.runs.find(parent_id=ctx.workflow_id)}:
        child_input = {**Runs.input(first), "review": {"text": feedback, "round": review_round}}
        runner = Runner(ctx.db, services(ctx).plugins, services=services(ctx))
        runner.enqueue(CHILD_WORKFLOW, child_input, child_id)
        ctx.runs.update(child_id, parent_id=ctx.workflow_id)
        ctx.record_event("epic.review-round", {"sub": sub, "id": child_id, "round": review_round})
    ctx.runs.consume(ctx.workflow_id, f"child-{sub}")  # its new report says how it ends
    return child_id
