"""`middle ci-job`: one CI job's worth of work on one issue, from a fresh runner.

    claim the issue's state ref (or leave: another job holds it)
    import the saved run, rebuild its worktree from the agent's branch
    act: dispatch (label, dispatch, a queued issue) or deliver the due signal and resume
         (a comment's answer, a review's verdict), under a repository-wide agent slot
    save: push the agent's branch, export the run, write the state ref, release the claim

The claim is a state-ref write with a lease, so of two jobs started for one issue (even
outside Actions' concurrency group) exactly one acts; the other exits 0 having done
nothing. A claim whose job died expires after `CLAIM_HOURS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.app.carry.ref import Saved, list_state_refs, load_state, save_state
from middle.app.carry.transfer import export_state, import_state
from middle.app.ci.events import Trigger
from middle.app.ci.slots import Slot, claim_slot, release_slot, slot_holders
from middle.app.home import open_home_db
from middle.app.implement import fan_out_of, implement
from middle.app.runtime import PARKED_STATES, Runtime, describe, runtime_of
from middle.app.service.poll import due_signal
from middle.config import load_config, middle_home
from middle.engine.runs import Runs
from middle.errors import BranchMovedError, EpicError, GitError, MiddleError, StateRaceError
from middle.refs import branch_name, validate_ref
from middle.steps.fanout import children_at_once
from middle.steps.services import Progress
from middle.store import TERMINAL_STATES, Row, find_live_implementation, iso, list_workflows
from middle.system import git

CLAIM_HOURS = 6
NEEDS_AGENT = ("answer", "request-changes", "check-failed", "rebase", "phase-failed", "continue")
UNREADABLE = "unreadable"  # the sweep's word for a state ref it cannot read


@dataclass(frozen=True)
class JobResult:
    """How the job left the issue. `state` is a workflow state, or `skipped`, `busy`,
    `queued` or `idle` (nothing was due); `ok` decides the exit code."""

    issue: str | None
    state: str
    message: str
    ok: bool = True
    workflow_id: str | None = None


def run_job(
    repo: Path, trigger: Trigger, *, job: str, agent: str | None = None,
    progress: Progress | None = None,
) -> JobResult:  # fmt: skip
    if trigger.skip is not None or trigger.issue is None:
        return JobResult(trigger.issue, "skipped", f"nothing to do: {trigger.skip}")
    ref = trigger.issue
    saved = load_state(repo, ref)
    holder = saved.job.get("claimed_by")
    if holder and str(saved.job.get("expires_at", "")) > iso(datetime.now(UTC)):
        return JobResult(ref, "busy", f"job {holder} is working on issue {ref}; leaving it alone")
    claim = _claim_record(job)
    try:
        claimed = save_state(
            repo, ref, saved.bundle, claim, expected=saved.sha, message=f"claimed by {job}"
        )
    except StateRaceError:
        return JobResult(ref, "busy", f"another job claimed issue {ref} first; leaving it alone")
    result = JobResult(ref, "idle", "nothing was due")
    try:
        result = _act(repo, ref, trigger, saved, job=job, agent=agent, progress=progress)
    finally:
        _save(repo, ref, saved, claimed, job=job, queued=result.state == "queued")
    return result


def _claim_record(job: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "claimed_by": job,
        "claimed_at": iso(now),
        "expires_at": iso(now + timedelta(hours=CLAIM_HOURS)),
    }


def _act(
    repo: Path, ref: str, trigger: Trigger, saved: Saved, *, job: str, agent: str | None,
    progress: Progress | None,
) -> JobResult:  # fmt: skip
    home = middle_home()
    db = open_home_db(home)
    if saved.bundle is not None:
        import_state(db, saved.bundle, home=home, repo=repo)
    live = find_live_implementation(db, repo=str(repo), epic_ref=ref)
    if live is None:
        queued = bool(saved.job.get("queued_at"))
        if trigger.kind not in ("label", "dispatch") and not queued:
            return JobResult(ref, "idle", f"issue {ref} has no run; label it `approved` to start")
        if list_workflows(db, repo=str(repo), epic_ref=ref) and not queued:
            return JobResult(ref, "idle", f"issue {ref} already ran; see its state ref")
        config = Runtime(repo).config
        wanted = _agents_of_new_run(repo, ref, config)
        with _slots(repo, ref, job, wanted, _cap(config)) as slots:
            if not slots:
                return _queued(repo, ref)
            _note_fewer(progress, slots, wanted)
            capped = _capped(config, len(slots))
            outcome = implement(repo, ref, agent, progress, config=capped)
        return JobResult(ref, outcome.state, outcome.message, outcome.ok, outcome.workflow_id)
    if live["state"] not in PARKED_STATES:
        return JobResult(
            ref, live["state"], f"workflow {live['id']} is {live['state']}; a job that died "
            f"left it so: end it with `middle cancel --issue {ref}`", False, live["id"],
        )  # fmt: skip
    runtime = runtime_of(live)
    target, signal = _due(db, live, runtime)
    if signal is None:
        return JobResult(
            ref, live["state"], "still parked: nothing new to act on", True, live["id"]
        )
    needs_agent = signal["kind"] in NEEDS_AGENT
    wanted = _agents_of_live(runtime.runs, live, runtime.config) if needs_agent else 0
    with _slots(repo, ref, job, wanted, _cap(runtime.config)) as slots:
        if needs_agent and not slots:
            return _queued(repo, ref, live["id"])
        _note_fewer(progress, slots, wanted)
        runtime.config = _capped(runtime.config, len(slots))
        runner = runtime.runner(Runs.input(live)["adapter"], progress)
        if not runner.signal(target["id"], "resume", signal, when_state=PARKED_STATES):
            return JobResult(ref, "busy", "someone else resumed the run a moment ago")
        if target["id"] != live["id"]:  # a child's signal: its Epic's run drives it
            runner.runs.deliver(live["id"], "children", {"from": target["epic_ref"]})
        outcome = describe(runner, runner.resume(live["id"]), ref)
    return JobResult(ref, outcome.state, outcome.message, outcome.ok, outcome.workflow_id)


def _due(db: Database, live: Row, runtime: Runtime) -> tuple[Row, dict[str, Any] | None]:
    """The parked run to signal and its due signal: the issue's run's own, or, for a
    fanned-out Epic parked on its children, the first child's that has one."""
    signal = due_signal(db, live, runtime)
    if signal is not None:
        return live, signal
    for child in list_workflows(db, parent_id=live["id"], state=PARKED_STATES):
        found = due_signal(db, child, runtime)
        if found is not None:
            return child, found
    return live, None


def _queued(repo: Path, ref: str, workflow_id: str | None = None) -> JobResult:
    cap = _cap(load_config(middle_home(), repo))
    holders = ", ".join(slot_holders(repo, cap)) or "none now"
    return JobResult(
        ref, "queued", f"all {cap} agent slot(s) of this repository are busy (with "
        f"{holders}); the scheduled sweep picks issue {ref} up when one frees", True,
        workflow_id,
    )  # fmt: skip


def _cap(config: dict[str, Any]) -> int:
    """The repository's agent slots: `[limits] max_concurrent`."""
    return int(config["limits"]["max_concurrent"])


def _agents_of(parallel: object, config: dict[str, Any]) -> int:
    """How many agents a run may have at once: a fanned-out Epic's children at once
    (`children_at_once`), else one; never more than the repository's cap."""
    if not isinstance(parallel, int) or parallel < 1:
        return 1
    return min(children_at_once(parallel, config), _cap(config))


def _agents_of_new_run(repo: Path, ref: str, config: dict[str, Any]) -> int:
    """`_agents_of` the run `implement` is about to start. An Epic whose sub-issues are in
    other repositories is refused: a CI job checks out one repository, so say where to
    run it."""
    issue = Runtime(repo, config=config).issues.load(ref)
    elsewhere = sorted({sub.repo for sub in issue.sub_issues if sub.repo})
    if elsewhere or issue.repos:
        raise EpicError(
            f"issue {ref} is an Epic across repositories ({', '.join(elsewhere) or 'repos:'}"
            f"), which a CI job (one checkout) does not run; run it with `middle serve` on a "
            f"machine with every repo checked out"
        )
    return _agents_of(fan_out_of(issue, config), config)


def _agents_of_live(runs: Runs, live: Row, config: dict[str, Any]) -> int:
    """`_agents_of` a parked run about to go on: for a fanned-out Epic, no more than its
    sub-issues that have not finished (a review round resumes one child)."""
    agents = _agents_of(Runs.input(live).get("parallel"), config)
    plan = runs.latest_output(live["id"], "plan-epic")
    if agents > 1 and isinstance(plan, dict):
        finished = {
            str(Runs.input(child).get("sub"))
            for child in runs.find(parent_id=live["id"])
            if child["state"] in TERMINAL_STATES
        }
        left = [sub for sub in plan.get("subs", []) if not sub.get("done")
                and str(sub.get("id")) not in finished]  # fmt: skip
        agents = max(1, min(agents, len(left)))
    return agents


def _capped(config: dict[str, Any], slots: int) -> dict[str, Any]:
    """The configuration a job runs with: no more agents at once in this repository than
    the repository-wide slots it holds (a fanned-out Epic's children each count)."""
    if not slots:
        return config
    return {**config, "limits": {**config["limits"], "max_concurrent": slots}}


def _note_fewer(progress: Progress | None, slots: list[Slot], wanted: int) -> None:
    if progress is not None and 0 < len(slots) < wanted:
        progress.note(
            f"{len(slots)} of the {wanted} agent slots this run may use are free: its "
            f"agents run {len(slots)} at a time"
        )


class _slots:
    """Up to `wanted` repository-wide agent slots, held for the block: the agents this job
    may run at once (none when all are busy, or when `wanted` is 0). Every slot claimed
    is released, even when claiming the next, or releasing another, fails: a slot left
    behind would hold the repository's agents off for hours."""

    def __init__(self, repo: Path, ref: str, job: str, wanted: int, cap: int) -> None:
        self.repo, self.ref, self.job, self.wanted, self.cap = repo, ref, job, wanted, cap
        self.held: list[Slot] = []

    def __enter__(self) -> list[Slot]:
        try:
            while len(self.held) < self.wanted:
                slot = claim_slot(self.repo, self.cap, issue=self.ref, job=self.job)
                if slot is None:
                    break
                self.held.append(slot)
        except BaseException:
            self._release()
            raise
        return self.held

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        failed = self._release()
        if failed is not None and kind is None:  # the block's own error comes first
            raise failed

    def _release(self) -> GitError | None:
        """Release every held slot; the first failure, after trying them all."""
        failed = None
        for slot in self.held:
            try:
                release_slot(self.repo, slot)
            except GitError as exc:
                failed = failed or exc
        self.held = []
        return failed


def _save(repo: Path, ref: str, saved: Saved, claimed: str, *, job: str, queued: bool) -> None:
    """Push the agent's branch, then write the run's state and release the claim."""
    home = middle_home()
    db = open_home_db(home)
    rows = list_workflows(db, repo=str(repo), epic_ref=ref)
    bundle = saved.bundle
    unpushed: GitError | None = None
    if rows:
        family = [rows[-1], *list_workflows(db, parent_id=rows[-1]["id"])]
        branches = [branch_name(ref), *(row["pr_branch"] for row in family if row["pr_branch"])]
        for branch in dict.fromkeys(branches):  # the run's code travels with it (its
            if not git.branch_exists(repo, branch):  # children's too: each branch)
                continue
            try:
                git.push_branch(repo, branch)
            except GitError as exc:  # still save the state and release the claim
                unpushed = unpushed or exc
        bundle = export_state(db, [rows[-1]["id"]], home=home, repo=repo)
    record: dict[str, Any] = {"queued_at": iso(datetime.now(UTC)), "by": job} if queued else {}
    state = rows[-1]["state"] if rows else ("queued" if queued else "none")
    save_state(repo, ref, bundle, record, expected=claimed, message=f"{state} after {job}")
    if isinstance(unpushed, BranchMovedError):
        raise BranchMovedError(f"the run of issue {ref} is saved, but {unpushed}") from unpushed
    if unpushed is not None:
        raise GitError(
            f"the run of issue {ref} is saved, but its branch {branch_name(ref)} could not be "
            f"pushed ({unpushed}); give the job's token contents: write"
        ) from unpushed


def sweep(
    repo: Path, *, job: str, agent: str | None = None, progress: Progress | None = None
) -> list[JobResult]:
    """The scheduled pass: every issue whose state ref says queued, or holds a parked run
    (a usage limit that may have reset, an event a job missed), gets a job's worth of work."""
    results = []
    for ref in list_state_refs(repo):
        try:
            saved = load_state(repo, validate_ref(ref))
        except MiddleError as exc:  # one bad ref is reported and skipped, not the sweep's end
            message = f"refs/middle/state/{ref} is skipped: {exc}"
            results.append(JobResult(ref, UNREADABLE, message))
            continue
        rows = saved.bundle.doc["tables"]["workflows"] if saved.bundle else []
        parked = any(row["state"] in PARKED_STATES for row in rows)
        if saved.job.get("queued_at") or parked:
            trigger = Trigger("sweep", ref, "schedule")
            try:
                results.append(run_job(repo, trigger, job=job, agent=agent, progress=progress))
            except MiddleError as exc:  # one issue's trouble must not starve the others
                results.append(JobResult(ref, "failed", str(exc), False))
    return results
