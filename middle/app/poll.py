"""`poll`: one pass over parked workflows, firing the resume signals that are due.

- A rate-limited run continues once its adapter's limit has reset.
- In GitHub mode:
  - a merged or closed PR finalizes the run;
  - a human's reply to the agent's question is the answer;
  - an approving review decision approves;
  - a changes-requested review submitted since the run parked starts another round.

Safe to run from cron, and two passes at once are harmless: a signal is delivered only
while the run is still parked, in one transaction, so only one pass can resume a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.app.control import is_paused
from middle.app.home import open_home_db
from middle.app.runtime import (
    PARKED_STATES,
    WORKFLOW,
    Outcome,
    claim_launch_slot,
    describe,
    runner_of,
)
from middle.config import load_config, middle_home
from middle.engine.runs import Runs
from middle.engine.runstate import describe_error
from middle.errors import MiddleError
from middle.issues.github_store import GitHubEpicStore
from middle.issues.store import FileEpicStore, open_epic_store
from middle.progress import Progress
from middle.store import (
    QUEUED,
    active_rate_limit,
    list_workflows,
    load_checkpoints,
    record_pull_request,
)


@dataclass(frozen=True)
class PollAction:
    ref: str
    workflow_id: str
    signal: str  # the signal's kind: approve, answer, ...; or "error"
    outcome: Outcome | None  # None when the resume was handed to a background process
    error: str | None = None  # why the run could not be polled (the pass went on)


def poll_once(*, background: bool = False, progress: Progress | None = None) -> list[PollAction]:
    """Fire every due signal; resume those runs here, or in background processes."""
    db = open_home_db()
    actions = []
    parked = list_workflows(db, kind=WORKFLOW, state=list(PARKED_STATES))
    queued_first = sorted(parked, key=lambda row: not Runs.meta(row).get("queued"))
    for row in queued_first:  # queued runs first, oldest first: slots go to those waiting
        if is_paused(db, row["repo"]):
            continue  # a paused repo's runs wait for `middle unpause`
        try:
            action = _poll_run(db, row, background, progress)
        except Exception as exc:  # per run: one broken repo or run must not stop the pass
            if progress is not None:
                progress.note(
                    f"issue {row['epic_ref']} in {row['repo']} ({row['id']}): cannot poll it: "
                    f"{exc if isinstance(exc, MiddleError) else describe_error(exc)}"
                )
            actions.append(PollAction(row["epic_ref"], row["id"], "error", None, str(exc)))
            continue
        if action is not None:
            actions.append(action)
    return actions


def _poll_run(
    db: Database, row: dict[str, Any], background: bool, progress: Progress | None
) -> PollAction | None:
    meta = Runs.meta(row)
    run_input = meta["input"]
    if meta.get("queued"):  # its signal came earlier; it waits for a slot
        runner = runner_of(row, progress)
        if claim_launch_slot(runner, row, "continue") is not None:
            return None
        signal = {"kind": "slot-free"}
    else:
        found = due_signal(db, row, run_input)
        if found is None:
            return None
        signal = found
        runner = runner_of(row, progress)
        if not runner.signal(row["id"], "resume", signal, when_state=PARKED_STATES):
            return None  # another pass got there first
        busy = claim_launch_slot(runner, row, signal["kind"])
        if busy is not None:
            return PollAction(row["epic_ref"], row["id"], f"{signal['kind']} ({QUEUED})", None)
    if background:
        spawn_resume(row["id"], run_input)
        outcome = None
    else:
        outcome = describe(runner, runner.resume(row["id"]), row["epic_ref"])
    return PollAction(row["epic_ref"], row["id"], signal["kind"], outcome)


def due_signal(
    db: Database, row: dict[str, Any], run_input: dict[str, Any]
) -> dict[str, Any] | None:
    """The resume signal this parked run should get now, if any."""
    if row["state"] == "rate-limited":
        if active_rate_limit(db, run_input["adapter"]) is None:
            return {"kind": "continue", "author": "middle poll"}
        return None
    repo = Path(run_input["repo"])
    store = open_epic_store(repo, load_config(middle_home(), repo))
    if isinstance(store, FileEpicStore):
        return _file_answer(db, row, store)
    if not isinstance(store, GitHubEpicStore):
        return None
    park = Runs(db).latest_output(row["id"], "park-for-resume")
    if park is None:
        return None
    reason = park["reason"]
    acted_on = _acted_on(db, row["id"])  # replies and reviews earlier rounds already used
    pr = store.pull_request(row["pr_branch"]) if row["pr_branch"] else None
    if pr is not None:
        record_pull_request(db, row["id"], pr.number, pr.url)
    if pr is not None and pr.state in ("MERGED", "CLOSED"):
        return {"kind": f"pr-{pr.state.lower()}", "pr": pr.number}
    if reason in ("asked-question", "bare-stop", "gates-failed"):
        reply = store.human_reply(row["epic_ref"])
        if reply is not None and f"comment-{reply.id}" not in acted_on:
            return {
                "kind": "answer",
                "text": reply.body,
                "author": f"@{reply.login}",
                "origin": "github",
                "url": reply.url,
                "acted_on": [f"comment-{reply.id}"],
            }
    if reason in ("done", "held", "gates-failed") and pr is not None:
        reviews = store.reviews(pr.number)  # trusted reviewers only, oldest first
        requested = [
            review
            for review in latest_per_reviewer(reviews)
            if review["state"] == "CHANGES_REQUESTED" and f"review-{review['id']}" not in acted_on
        ]
        approver = approved_by(pr.review_decision, reviews)
        if approver is not None and not requested:
            return {"kind": "approve", "author": approver, "pr": pr.number}
        if requested:
            feedback = "\n\n".join(
                f"@{review['user']['login']}: {review['body']}".strip() for review in requested
            )
            return {
                "kind": "request-changes",
                "text": feedback,
                "author": ", ".join(f"@{review['user']['login']}" for review in requested),
                "acted_on": [f"review-{review['id']}" for review in requested],
            }
    return None


DECISIVE = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


def latest_per_reviewer(reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reviewer's latest decisive review (a comment-only review changes nothing)."""
    latest: dict[str, dict[str, Any]] = {}
    for review in reviews:
        if review["state"] in DECISIVE:
            latest[review["user"]["login"]] = review
    return list(latest.values())


def approved_by(decision: str | None, reviews: list[dict[str, Any]]) -> str | None:
    """Who approved, or None. GitHub fills `reviewDecision` only when the base branch
    requires reviews; without it, the newest decisive review among the trusted reviewers'
    latest decides, so a later CHANGES_REQUESTED from anyone trusted still wins."""
    if decision == "APPROVED":
        approvers = [r for r in latest_per_reviewer(reviews) if r["state"] == "APPROVED"]
        return ", ".join(f"@{r['user']['login']}" for r in approvers) or "github"
    if decision:  # CHANGES_REQUESTED or REVIEW_REQUIRED, decided by branch protection
        return None
    standing = [r for r in latest_per_reviewer(reviews) if r["state"] != "DISMISSED"]
    if standing and standing[-1]["state"] == "APPROVED":
        return f"@{standing[-1]['user']['login']}"
    return None


def _file_answer(db: Database, row: dict[str, Any], store: FileEpicStore) -> dict[str, Any] | None:
    """File mode: an answer a person wrote into the Epic file, under the open question,
    resumes the run like a GitHub reply (reviews still go through the CLI)."""
    park = Runs(db).latest_output(row["id"], "park-for-resume")
    if park is None or park["reason"] != "asked-question":
        return None
    question = store.written_answer(row["epic_ref"])
    if question is None or question.answer is None:
        return None
    return {
        "kind": "answer",
        "text": question.answer,
        "author": "epic-file",  # one token: it becomes an attribute in the Epic file
        "acted_on": [f"file-question-{question.id}"],
    }


def _acted_on(db: Database, workflow_id: str) -> set[str]:
    """Ids of the GitHub comments and reviews that earlier resume signals carried."""
    acted: set[str] = set()
    for checkpoint in load_checkpoints(db, workflow_id):
        if checkpoint["name"].partition("#")[0] == "wait-for-resume" and checkpoint["output_json"]:
            acted.update(json.loads(checkpoint["output_json"]).get("acted_on", []))
    return acted


def spawn_resume(workflow_id: str, run_input: dict[str, Any]) -> None:
    """Continue a run in its own process (`middle resume`), logging to $MIDDLE_HOME/logs."""
    logs = middle_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{workflow_id}.log").open("a") as log:
        subprocess.Popen(
            [
                sys.executable, "-m", "middle", "resume",
                "--issue", str(run_input["ref"]), "--repo", str(run_input["repo"]),
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
