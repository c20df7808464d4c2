"""The end of a fanned-out Epic (issue 23), once every sub-issue merged: judge each repo's
integration head (its gates, and the acceptance criteria's evidence the children gave),
write the Epic's Status, publish each repo's branch (a pull request in GitHub mode) naming
the others, park for review; then a verdict, which finishes the Epic or starts a review
round of the one sub-issue it is about (`middle.steps.fanout` runs the round's child).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.engine import StepContext, step
from middle.engine.runs import Runs
from middle.errors import EpicError
from middle.steps.epic_child import sub_name
from middle.steps.fanout import CHILD_WORKFLOW, FanOut, own_repo, plan_repos
from middle.steps.outcome import MAX_REVIEW_ROUNDS
from middle.steps.phases import gate_environment
from middle.steps.services import services
from middle.system import git
from middle.verify.checkout import leased_checkout
from middle.verify.epic_repos import other_repos_env
from middle.verify.evidence import check_evidence, evidence_policy
from middle.verify.gates import load_gates, run_gates


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
