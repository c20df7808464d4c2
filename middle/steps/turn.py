"""`launch-and-drive`: one agent turn in tmux, from the brief to a classified stop.

A turn: launch the CLI (or adopt its live session), wait until it is ready (answering the
dialogs its adapter knows), deliver the prompt and wait for the CLI to confirm it, then
wait for the turn to end: a hook, a line in the CLI's own log, a permission prompt on its
screen, or the session ending. Bare stops and failing gates are nudged, at most 3 times.

Its progress is recorded in the run's `turns` scratch (by round: launched, prompted,
nudges), so a dispatcher that died mid-turn and runs this step again adopts the live
session instead of launching a second agent, and drains the hooks it sent meanwhile.

A turn that parks on a permission prompt, or on a start-up screen middle does not know,
leaves the session running: the human's answer is typed into it in the next round.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import stop_after_attempt

from middle.agents.base import BaseAdapter, Stop, consume_sentinels, read_sentinel
from middle.agents.launch import agent_environment, launch_argv
from middle.agents.rate_limits import parse_reset
from middle.engine import StepContext, step
from middle.errors import AgentError, MiddleError, RunDetached
from middle.refs import session_name
from middle.steps.briefs import (
    answer_brief,
    checks_brief,
    child_brief,
    conflict_brief,
    evidence_rules,
    initial_brief,
    phase_brief,
    phase_rules,
    rebase_brief,
    resume_brief,
    write_brief,
)
from middle.steps.phases import gate_environment, judge_ticked_phases, phase_baseline
from middle.steps.services import services
from middle.steps.session import POLL_SECONDS, AgentSession, TurnRecord
from middle.store import (
    LIVE_STATES,
    active_rate_limit,
    iso,
    set_rate_limit,
    utcnow,
)
from middle.system.processes import group_alive
from middle.system.tmux import Tmux
from middle.system.worktree import env_file
from middle.verify.checkout import head_of, leased_checkout
from middle.verify.epic_repos import other_repos_env
from middle.verify.evidence import EvidencePolicy, Verdict, check_evidence, evidence_policy
from middle.verify.gates import Gate, GateResult, failure_report, load_gates, run_gates
from middle.verify.plan import PLAN_RULE, missing_plan_report, plan_required, read_plan

MAX_NUDGES = 3
LAST_AGENT_EXIT_SECONDS = 10.0  # how long a launch waits for the last session's CLI to exit
PHASE_STOPS = ("done", "bare-stop")  # turn ends at which ticked phases are judged
LIVE_PARKS = ("permission", "dialog")  # question kinds answered inside the live session


def end_session(ctx: StepContext) -> None:
    """Compensation: make sure no agent of this run is left running."""
    repo, ref = Path(ctx.input["repo"]), str(ctx.input["ref"])
    recorded = ctx.runs.get(ctx.workflow_id)["session_name"]
    services(ctx).tmux.kill_session(recorded or session_name(repo, ref))


@step("launch-and-drive", stop=stop_after_attempt(1), compensate=end_session)
def launch_and_drive(ctx: StepContext) -> dict[str, Any]:
    """Brief the agent, launch it (or adopt its live session), wait for it to stop,
    classify the stop, nudge or verify as needed, and end the session."""
    previous = previous_decision(ctx)
    if previous and previous.get("next") == "hold":
        return {"outcome": "held"}
    return Turn(ctx, previous).run()


def previous_decision(ctx: StepContext) -> dict[str, Any] | None:
    """What the last round decided this turn is for: a human's signal
    (`resume-or-finalize`), or, for a fanned-out Epic's child whose merge conflicted,
    the conflict (`merge-child`). None in the first round."""
    if ctx.round == 1:
        return None
    if ctx.results.get("route-child") == "merge":
        return ctx.results.get("merge-child")
    return ctx.results.get("resume-or-finalize")


class Turn:
    def __init__(self, ctx: StepContext, previous: dict[str, Any] | None) -> None:
        self.ctx = ctx
        self.previous = previous or {}
        self.record = TurnRecord(ctx)
        self.state = self.record.state
        self.agent = AgentSession(ctx, self.record)
        self.adapter: BaseAdapter = services(ctx).adapter
        self.tmux: Tmux = services(ctx).tmux
        self.limits = services(ctx).config["limits"]
        self.worktree = self.agent.worktree
        self.session = self.agent.session
        self.token = self.agent.token
        self.branch = ctx.runs.get(ctx.workflow_id)["pr_branch"]
        self.gates_run: dict[str, Any] = {}  # the last gate run: head, results
        self.evidence_run: dict[str, Any] = {}  # the last evidence verdict: head, lacking
        self.evidence_policy = EvidencePolicy(required=False, require_integration=False)

    def remember(self, **fields: Any) -> None:
        self.record.remember(**fields)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        self.agent.event(kind, payload)

    def note(self, text: str) -> None:
        self.agent.note(text)

    def enter(self, state: str, *, leaving: str | tuple[str, ...]) -> None:
        """Move the run to `state`, from the state it must be in; a run another process
        ended meanwhile (a cancel, the watchdog) is not brought back."""
        if not self.ctx.runs.transition(self.ctx.workflow_id, state, leaving=leaving):
            self.ctx.check_cancelled()
            row = self.ctx.runs.get(self.ctx.workflow_id)
            raise AgentError(f"the run is {row['state']} now, so this turn stops")

    def run(self) -> dict[str, Any]:
        if "output" in self.state:  # the turn ended, but the process died before its checkpoint
            return dict(json.loads(self.state["output"]))
        self.adapter.prepare(self.worktree)
        brief = self.previous
        live = brief.get("question_kind") in LIVE_PARKS and brief.get("brief") == "answer"
        if live and (self.state.get("launched_at") or self.tmux.has_session(self.session)):
            brief = self.answer_in_session(brief)
        elif live:  # the session it waited in is gone: start again, answer in the brief
            self.note("the session that asked is gone; starting a new one")
        self.phase_baseline()  # before the agent can tick anything
        if not self.state.get("launched_at"):
            self.launch()
        elif self.tmux.has_session(self.session):
            self.note(f"adopting the live agent session {self.session}")
            self.event("agent.adopted", {"session": self.session})
        detached = False
        try:
            if not self.state.get("prompted_at"):
                self.prompt_kind, text = self.write_brief(brief)
                stop = self.agent.start_up()
                if stop is not None:
                    return self.finish(stop, stop.kind)
                self.agent.deliver(self.adapter.prompt_text(self.prompt_kind, text))  # type: ignore[arg-type]
                self.enter("running", leaving=LIVE_STATES)
                self.remember(prompted_at=utcnow())
                said = "accepted" if self.adapter.confirms_prompts else "was sent"
                self.note(f"the agent {said} the {self.prompt_kind} brief")
            stop, outcome = self.drive()
            return self.finish(stop, outcome)
        except RunDetached:  # middle lets go as a SIGKILL would: the agent works on
            detached = True
            raise
        finally:
            if not (detached or self.agent.keep_session):
                self.tmux.kill_session(self.session)
            if not detached:  # (the launcher deletes it once it has read it)
                env_file(self.worktree).unlink(missing_ok=True)

    def write_brief(self, brief: dict[str, Any]) -> tuple[str, str]:
        """Write `.middle/prompt.md` for this turn; return its kind and text."""
        kind = brief.get("brief", "initial")
        if kind == "answer":
            text = answer_brief(brief.get("question", ""), brief.get("text", ""))
        elif kind == "resume":
            said, review_round = brief.get("text", ""), int(brief.get("review_round", 1))
            if brief.get("checks"):
                text = checks_brief(said, review_round)
            elif brief.get("rebase"):
                text = rebase_brief(said, review_round)
            elif brief.get("phase"):
                text = phase_brief(said, review_round)
            else:
                text = resume_brief(said, review_round)
        elif kind == "conflict":
            text = conflict_brief(
                list(brief.get("files", [])),
                str(brief.get("integration", "")),
                str(brief.get("head", "")),
                str(self.branch),
            )
        elif self.ctx.input.get("sub") is not None:
            kind = "initial"
            issue = services(self.ctx).issues.load(str(self.ctx.input["ref"]))
            sub = next(s for s in issue.sub_issues if s.id == str(self.ctx.input["sub"]))
            ceiling = issue.complexity_ceiling or int(self.limits["complexity_ceiling"])
            integration = str(self.ctx.input["integration"])
            upstream = list(self.ctx.input.get("upstream") or [])
            text = child_brief(issue, sub, ceiling, integration, upstream)
            review = self.ctx.input.get("review")  # a review round of the Epic, about this sub
            if review:
                said = resume_brief(str(review["text"]), int(review["round"]))
                text = f"{said}\n{text}"
        else:
            kind = "initial"
            issue = services(self.ctx).issues.load(str(self.ctx.input["ref"]))
            ceiling = issue.complexity_ceiling or int(self.limits["complexity_ceiling"])
            store = services(self.ctx).issues
            repo = Path(self.ctx.input["repo"])
            gates = load_gates(repo, str(self.ctx.input.get("base") or "HEAD"))
            policy = evidence_policy(services(self.ctx).config, has_verify_file=bool(gates))
            evidence = evidence_rules(store.mode) if policy.required else ""
            if plan_required(services(self.ctx).config):
                evidence = f"{evidence}\n\n{PLAN_RULE}".strip()
            if gates and issue.sub_issues:
                evidence = f"{phase_rules(store.mode, issue.source)}\n\n{evidence}".strip()
            text = initial_brief(issue, ceiling, evidence)
        write_brief(self.worktree, text)
        return kind, text

    def answer_in_session(self, brief: dict[str, Any]) -> dict[str, Any]:
        """Type the human's answer into the session that is waiting for it. Returns the
        brief still to deliver: none after a permission, the interrupted one after a dialog."""
        if not self.state.get("launched_at"):
            self.remember(launched_at=utcnow(), launched_epoch=time.time(), session_started=True)
            text = str(brief.get("text", ""))
            if brief.get("question_kind") == "permission":
                keys, instead = self.adapter.permission_keys(text)
                self.event("agent.permission-answered", {"keys": list(keys)})
                self.agent.press(*keys)
                self.agent.wait_while_screen("permission")  # not the same prompt again
                if instead:  # denied: say what to do instead, as a prompt of its own
                    self.agent.wait_for_screen("ready")
                    self.agent.deliver(instead)
                self.enter("running", leaving=LIVE_STATES)
                self.remember(prompted_at=utcnow())
            else:
                self.event("agent.dialog-answered", {"by": "human"})
                self.agent.type_line(text)
        return dict(brief.get("then") or {})

    def launch(self) -> None:
        """Start the CLI in its tmux session, with an allow-listed environment."""
        owner = self.ctx.runs.session_owner(self.session, besides=self.ctx.workflow_id)
        if owner is not None:
            raise AgentError(
                f"tmux session {self.session} belongs to live workflow {owner['id']}; "
                f"middle will not kill it (see: middle status)"
            )
        self.tmux.kill_session(self.session)  # a leftover from a turn of this run
        self.wait_for_last_agent()
        hook_vars = {
            "MIDDLE_SESSION": self.session,
            "MIDDLE_SESSION_TOKEN": self.token,
            "MIDDLE_EPIC": self.epic_env(),
            "MIDDLE_WORKFLOW_ID": self.ctx.workflow_id,
        }
        env = agent_environment(os.environ, self.adapter.env_patterns(), hook_vars)
        resume = self.resumable_session()
        argv = self.adapter.launch_argv(self.worktree, resume_session=resume)
        consume_sentinels(self.worktree)  # a stale sentinel must not end this turn
        self.enter("launching", leaving=LIVE_STATES)
        # Taken before the session starts: a quick CLI may send its first hook before
        # `new_session` returns, and a hook sent before the launch counts as the last one's.
        launched_at, launched_epoch = utcnow(), time.time()
        self.tmux.new_session(self.session, self.worktree, launch_argv(self.worktree, argv, env))
        self.remember(launched_at=launched_at, launched_epoch=launched_epoch)
        pid = self.tmux.pane_pid(self.session)
        self.ctx.runs.save_scratch(self.ctx.workflow_id, "agent_pid", pid)
        self.ctx.runs.save_scratch(self.ctx.workflow_id, "agent_host", socket.gethostname())
        self.event("agent.launched", {"session": self.session, "argv": argv})
        self.note(f"launched {self.adapter.name} in tmux session {self.session}")

    def wait_for_last_agent(self) -> None:
        """Start the CLI only once the processes of its last session have exited (the pane
        process's group: a loader's child too): killed at a park, the CLI may still be
        writing the session this launch resumes (Copilot CLI writes its session late;
        resumed at once, it had lost the question it asked). Bounded: a process that
        lingers (say, a server the agent left running) is noted, and the launch goes on."""
        pid = self.ctx.runs.scratch(self.ctx.workflow_id, "agent_pid")
        host = self.ctx.runs.scratch(self.ctx.workflow_id, "agent_host")
        if not isinstance(pid, int) or host not in (None, socket.gethostname()):
            return  # a run carried from another machine (CI): that pid is not ours
        deadline = time.monotonic() + LAST_AGENT_EXIT_SECONDS
        while group_alive(pid):
            if time.monotonic() > deadline:
                self.event("agent.previous-still-running", {"pid": pid})
                break
            time.sleep(POLL_SECONDS)

    def epic_env(self) -> str:
        """`MIDDLE_EPIC`: the issue's ref, or `<ref>/<sub>` for a fanned-out Epic's child."""
        ref, sub = str(self.ctx.input.get("ref") or ""), self.ctx.input.get("sub")
        return ref if sub is None else f"{ref}/{sub}"

    def resumable_session(self) -> str | None:
        """A later round continues the agent's conversation, where its transcript is still
        on this machine; otherwise the brief alone carries the context."""
        if not self.previous or not self.agent.session_id:
            return None
        row = self.ctx.runs.get(self.ctx.workflow_id)
        path = row["transcript_path"]
        return self.agent.session_id if path and Path(path).exists() else None

    def drive(self) -> tuple[Stop, str]:
        """Wait for the stop; nudge a bare stop, and send gate failures back, each at most
        three times. Returns the stop and the turn's outcome."""
        repo = Path(self.ctx.input["repo"])
        # A fanned-out Epic's child runs every gate for now; per-phase gates (issue 19)
        # plug in here: the gates whose `phases` name `self.ctx.input["sub"]`, or none.
        # The parent's `verify-epic` runs them all on the integration head.
        gates = load_gates(repo, str(self.ctx.input.get("base") or "HEAD"))
        policy = evidence_policy(services(self.ctx).config, has_verify_file=bool(gates))
        child = self.ctx.input.get("sub") is not None
        if child:  # a child's evidence is judged with the Epic's, on the integration head
            policy = EvidencePolicy(required=False, require_integration=False)
        self.evidence_policy = policy
        while True:
            stop = self.agent.wait_for_stop()
            if stop.question_kind == "permission":
                return stop, stop.kind
            phases = self.check_phases(repo, gates) if gates and stop.kind in PHASE_STOPS else None
            if phases is not None:
                gate_nudges = int(self.state.get("gate_nudges", 0))
                if gate_nudges < MAX_NUDGES and self.agent.can_nudge():
                    self.remember(gate_nudges=gate_nudges + 1)
                    self.note(f"sending the failing phase gates back to the agent "
                              f"({gate_nudges + 1}/3)")  # fmt: skip
                    consume_sentinels(self.worktree)
                    self.agent.deliver(phases)
                    continue
                return stop, "gates-failed"
            nudge = "continue"
            if stop.kind == "done" and not child:  # in GitHub mode, done needs a ready PR
                missing = services(self.ctx).issues.confirms_done(self.branch)
                if missing is not None:
                    consume_sentinels(self.worktree)
                    stop, nudge = Stop("bare-stop", reason=missing), missing
            nudges = int(self.state.get("nudges", 0))
            if stop.kind == "bare-stop" and nudges < MAX_NUDGES and self.agent.can_nudge():
                self.remember(nudges=nudges + 1)
                why = stop.reason or "stopped without a sentinel"
                self.event("agent.nudged", {"nudge": nudges + 1, "why": why})
                self.note(f"the agent {why}; nudging ({nudges + 1}/3)")
                self.agent.deliver(nudge)
                continue
            require_plan = plan_required(services(self.ctx).config)
            if stop.kind == "done" and (gates or policy.required or require_plan):
                done = read_sentinel(self.worktree, "done.json") or {}
                no_plan = self.missing_plan() if require_plan else None
                results = self.verify(repo, gates) if gates and no_plan is None else []
                failing = [r for r in results if not r.passed]
                judged = no_plan is None and not failing
                verdict = self.judge_evidence(repo, gates, results, done) if judged else None
                gate_nudges = int(self.state.get("gate_nudges", 0))
                refused = bool(no_plan or failing) or (verdict is not None and not verdict.ok)
                if refused and gate_nudges < MAX_NUDGES and self.agent.can_nudge():
                    self.remember(gate_nudges=gate_nudges + 1)
                    if no_plan:  # the PR, if ready, stays so: only the plan is missing
                        report, said = no_plan, "the missing plan"
                    elif failing:
                        report = failure_report(failing)
                        self.event("gates.failed", {"head": failing[0].head, "report": report})
                        said = "the failing gates"
                    else:
                        assert verdict is not None
                        report = verdict.report()
                        self.refuse_done(verdict)
                        said = "the criteria that lack evidence"
                    self.note(f"sending {said} back to the agent ({gate_nudges + 1}/3)")
                    consume_sentinels(self.worktree)
                    self.agent.deliver(report)
                    continue
                if refused:
                    if verdict is not None:
                        self.refuse_done(verdict)
                    if no_plan:
                        services(self.ctx).issues.refuse_done(self.branch, no_plan)
                    return stop, "gates-failed"
                if verdict is not None:
                    issues = services(self.ctx).issues
                    issues.record_evidence(str(self.ctx.input["ref"]), verdict.accepted())
            return stop, stop.kind

    def missing_plan(self) -> str | None:
        """`[verify] require_plan`: copy the agent's `.middle/plan.json` onto the issue
        (once); None when the issue holds a plan, else what the agent is told."""
        issues, ref = services(self.ctx).issues, str(self.ctx.input["ref"])
        plan = read_plan(self.worktree)
        if plan is not None:
            issues.record_plan(ref, plan)
        if plan is not None or issues.plan_recorded(ref):
            self.event("plan.recorded", {"from": "plan.json" if plan else "the issue"})
            return None
        report = missing_plan_report()
        self.event("plan.missing", {"report": report})
        self.note("the agent finished without posting its plan")
        return report

    @property
    def judges_phases(self) -> bool:
        """Whether the agent ticks phases here: an issue's run, not a documentation run
        (no issue) nor a fanned-out Epic's child (middle ticks its sub-issue at its merge)."""
        return "ref" in self.ctx.input and self.ctx.input.get("sub") is None

    def phase_baseline(self) -> None:
        """The phases ticked before this run's first turn judged any: they are not new.
        Read once per run, before the first prompt, and only where gates can judge them."""
        if not self.judges_phases:
            return
        if self.ctx.runs.scratch(self.ctx.workflow_id, "phases") is not None:
            return
        repo = Path(self.ctx.input["repo"])
        if not load_gates(repo, str(self.ctx.input.get("base") or "HEAD")):
            return
        try:
            marks = services(self.ctx).issues.phase_marks(str(self.ctx.input["ref"]), self.branch)
        except MiddleError as exc:
            self.note(f"cannot read the phases' checkboxes: {exc}")
            return
        phase_baseline(self.ctx.runs, self.ctx.workflow_id, marks)

    def check_phases(self, repo: Path, gates: list[Gate]) -> str | None:
        """Judge the phases ticked since the last look (`judge_ticked_phases`): what the
        agent is told when one failed, None when none did."""
        if not self.judges_phases:
            return None
        try:
            judged = judge_ticked_phases(
                services(self.ctx).issues, self.ctx.runs, self.ctx.workflow_id,
                repo=repo, ref=str(self.ctx.input["ref"]), branch=self.branch, gates=gates,
                home=services(self.ctx).home, env=gate_environment(self.adapter),
            )  # fmt: skip
        except MiddleError as exc:
            self.note(f"cannot judge the phases: {exc}")
            return None
        for run in judged:
            for result in run.failing:
                self.note(f"phase #{run.phase}: gate {result.summary()} (on {run.head[:12]})")
            if run.passed:
                said = f"{len(run.results)} gate(s) passed"
                self.note(f"phase #{run.phase}: {said} on {run.head[:12]}")
        failed = [run for run in judged if not run.passed]
        if not failed:
            return None
        results = [r.as_dict() for run in failed for r in run.results]
        self.gates_run = {"head": failed[0].head, "results": results}
        return " ".join(run.report() for run in failed)

    def verify(self, repo: Path, gates: list[Gate]) -> list[GateResult]:
        """Run the gates on a clean checkout of the branch's committed head; record the
        results (an event, and the run's `gates` note that `status` shows) and say them."""
        head = head_of(repo, self.branch)
        env = gate_environment(self.adapter)
        home, repos = services(self.ctx).home, self.ctx.input.get("epic_repos") or {}
        with (
            other_repos_env(home, repos, self.ctx.input.get("repo_name")) as others,
            leased_checkout(home, repo) as checkout,
        ):
            results = run_gates(gates, checkout.at(head), head, {**env, **others})
        failing = [r for r in results if not r.passed]
        self.gates_run = {"head": head, "results": [r.as_dict() for r in results]}
        self.event("gates.ran", self.gates_run)
        self.ctx.runs.note(
            self.ctx.workflow_id, {"gates": {"head": head, "failed": [r.gate for r in failing]}}
        )
        for result in failing:
            self.note(f"gate {result.summary()} (on {head[:12]})")
        if not failing:
            seconds = sum(r.duration_seconds for r in results)
            self.note(f"{len(results)} gate(s) passed on {head[:12]} ({seconds:.1f}s)")
        return results

    def judge_evidence(
        self, repo: Path, gates: list[Gate], results: list[GateResult], done: dict[str, Any]
    ) -> Verdict | None:
        """Whether each acceptance criterion carries evidence on the branch's head (None
        when evidence is off). The verdict is an event, and the run's `evidence` note."""
        policy = self.evidence_policy
        if not policy.required:
            return None
        issues, ref = services(self.ctx).issues, str(self.ctx.input["ref"])
        head = head_of(repo, self.branch)
        by_name = {gate.name: gate for gate in gates}
        failing = [(by_name[r.gate], r) for r in results if not r.passed and r.gate in by_name]
        verdict = check_evidence(
            issues, repo=repo, ref=ref, branch=self.branch, head=head, done=done,
            policy=policy, failing=failing,
        )  # fmt: skip
        criteria = verdict.judgements
        self.evidence_run = {
            "head": head,
            "ok": verdict.ok,
            "problems": list(verdict.problems),
            "lacking": [{"criterion": j.criterion, "why": j.why} for j in verdict.lacking],
            "criteria": [  # each criterion's evidence as judged (the dashboard's review)
                {"criterion": j.criterion, "evidence": [i.text for i in j.items], "why": j.why}
                for j in verdict.judgements
            ],
        }
        self.event("evidence.judged", self.evidence_run)
        self.ctx.runs.note(self.ctx.workflow_id, {"evidence": self.evidence_run})
        if verdict.ok:
            self.note(f"{len(criteria)} acceptance criteria carry evidence on {head[:12]}")
        for judgement in verdict.lacking:
            self.note(f"criterion {judgement.criterion!r} lacks evidence: {judgement.why}")
        for problem in verdict.problems:
            self.note(f"evidence: {problem}")
        return verdict

    def refuse_done(self, verdict: Verdict) -> None:
        services(self.ctx).issues.refuse_done(self.branch, verdict.report())

    def finish(self, stop: Stop, outcome: str) -> dict[str, Any]:
        if outcome == "rate-limited":
            stop = self.record_rate_limit(stop)
        elif outcome != "failed":
            self.clear_rate_limit()
        output = {
            "outcome": outcome,
            "question": stop.question,
            "question_kind": stop.question_kind,
            "context": stop.context,
            "reason": stop.reason,
            "reset_at": stop.reset_at,
            "nudges": int(self.state.get("nudges", 0)),
            "failing_gates": [
                r["gate"] for r in self.gates_run.get("results", []) if r["result"] != "passed"
            ],
            "gate_nudges": int(self.state.get("gate_nudges", 0)),
            "gates": self.gates_run,
            "evidence": self.evidence_run,
            "last_message": self.agent.last_message,
        }
        if outcome == "done":  # what the agent named as evidence (a child's goes to its Epic)
            output["given_evidence"] = (read_sentinel(self.worktree, "done.json") or {}).get(
                "evidence"
            )
        if stop.question_kind == "dialog":  # what to deliver once the screen is answered
            output["then"] = {k: v for k, v in self.previous.items() if k != "then"}
        # Recorded before the sentinels go, so a rerun of this step returns the same turn.
        # As JSON text: a merge patch would drop the output's null values.
        self.remember(ended_at=utcnow(), outcome=outcome, output=json.dumps(output))
        consume_sentinels(self.worktree)
        self.event("agent.stopped", {"outcome": outcome, "reason": stop.reason})
        return output

    def record_rate_limit(self, stop: Stop) -> Stop:
        """A usage limit blocks new dispatches on this adapter until it resets. Returns
        the stop with its reset as a timestamp."""
        reset, understood = parse_reset(stop.reset_at, datetime.now(UTC))
        said = f"said {stop.reset_at!r}" if understood else "no reset time understood"
        set_rate_limit(
            self.ctx.db,
            self.adapter.name,
            status="limited",
            reset_at=iso(reset),
            source=f"usage-limit message in workflow {self.ctx.workflow_id} ({said})",
        )
        return Stop(stop.kind, reason=stop.reason, reset_at=iso(reset) if understood else None)

    def clear_rate_limit(self) -> None:
        """A turn that completed shows the adapter works again."""
        if active_rate_limit(self.ctx.db, self.adapter.name) is not None:
            set_rate_limit(
                self.ctx.db,
                self.adapter.name,
                status="available",
                reset_at=None,
                source=f"a turn completed in workflow {self.ctx.workflow_id}",
            )


class CheckedTurn(Turn):
    """A turn whose work the step after it checks (the recommender's plan file, the docs
    report): no gates, pull requests or nudges. From the second round on, the brief
    carries what that check found wrong the round before."""

    check_step: str  # the step that checks this turn's work: its `errors` go in the brief

    def checked_brief(self, errors: list[str]) -> str:
        """The brief's text, with the errors of the last check (none on the first round)."""
        raise NotImplementedError

    def write_brief(self, brief: dict[str, Any]) -> tuple[str, str]:
        checked = self.ctx.results.get(self.check_step) if self.ctx.round > 1 else None
        text = self.checked_brief(list((checked or {}).get("errors", [])))
        write_brief(self.worktree, text)
        return "initial", text

    def drive(self) -> tuple[Stop, str]:
        stop = self.agent.wait_for_stop()
        return stop, stop.kind
