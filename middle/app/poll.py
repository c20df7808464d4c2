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
from middle.app.implement import (
    PARKED_STATES,
    WORKFLOW,
    Outcome,
    describe,
    latest_checkpoint,
    runner_for,
)
from middle.config import load_config, middle_home
from middle.errors import MiddleError
from middle.issues.github_store import GitHubEpicStore
from middle.issues.store import open_epic_store
from middle.progress import Progress
from middle.store import list_workflows
from middle.store.checkpoints import load_checkpoints
from middle.store.limits import active_rate_limit


@dataclass(frozen=True)
class PollAction:
    ref: str
    workflow_id: str
    signal: str  # the signal's kind: approve, answer, ...
    outcome: Outcome | None  # None when the resume was handed to a background process


def poll_once(*, background: bool = False, progress: Progress | None = None) -> list[PollAction]:
    """Fire every due signal; resume those runs here, or in background processes."""
    db = open_home_db()
    actions = []
    for row in list_workflows(db, kind=WORKFLOW, state=list(PARKED_STATES)):
        run_input = json.loads(row["meta_json"])["input"]
        if is_paused(db, row["repo"]):
            continue  # a paused repo's runs wait for `middle unpause`
        try:
            signal = due_signal(db, row, run_input)
        except MiddleError as exc:
            if progress is not None:
                progress.note(f"issue {row['epic_ref']}: cannot poll it: {exc}")
            continue
        if signal is None:
            continue
        runner = runner_for(run_input, progress)
        if not runner.signal(row["id"], "resume", signal, when_state=PARKED_STATES):
            continue  # another pass got there first
        if background:
            spawn_resume(row["id"], run_input)
            outcome = None
        else:
            outcome = describe(runner, runner.resume(row["id"]), row["epic_ref"])
        actions.append(PollAction(row["epic_ref"], row["id"], signal["kind"], outcome))
    return actions


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
    if not isinstance(store, GitHubEpicStore):
        return None  # file mode: people answer and review through the CLI
    park = latest_checkpoint(db, row["id"], "park-for-resume")
    if park is None:
        return None
    reason = json.loads(park["output_json"])["reason"]
    acted_on = _acted_on(db, row["id"])  # replies and reviews earlier rounds already used
    pr = store.pull_request(row["pr_branch"]) if row["pr_branch"] else None
    if pr is not None and pr.state in ("MERGED", "CLOSED"):
        return {"kind": f"pr-{pr.state.lower()}", "pr": pr.number}
    if reason in ("asked-question", "bare-stop", "gates-failed"):
        reply = store.human_reply(row["epic_ref"])
        if reply is not None and f"comment-{reply.id}" not in acted_on:
            return {
                "kind": "answer",
                "text": reply.body,
                "author": reply.login,
                "acted_on": [f"comment-{reply.id}"],
            }
    if reason in ("done", "held", "gates-failed") and pr is not None:
        if pr.review_decision == "APPROVED":
            return {"kind": "approve", "author": "github", "pr": pr.number}
        requested = [
            review
            for review in store.reviews(pr.number)
            if review["state"] == "CHANGES_REQUESTED" and f"review-{review['id']}" not in acted_on
        ]
        if requested:
            feedback = "\n\n".join(
                f"@{review['user']['login']}: {review['body']}".strip() for review in requested
            )
            return {
                "kind": "request-changes",
                "text": feedback,
                "author": "github",
                "acted_on": [f"review-{review['id']}" for review in requested],
            }
    return None


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
                "--issue", str(run_input["epic_ref"]), "--repo", str(run_input["repo"]),
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
