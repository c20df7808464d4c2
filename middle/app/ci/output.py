"""What a CI job leaves behind for people: a step summary, one status comment on the
issue (created once, then edited), and an artifact folder with the event log and the
agent's transcript (each child's too, for a fanned-out Epic)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sqlite_utils import Database

from middle.app.carry.transfer import adapters, read_transcript
from middle.app.ci.job import JobResult
from middle.app.home import open_home_db
from middle.config import middle_home
from middle.errors import GitHubError
from middle.store import Row, get_workflow, list_workflows, load_checkpoints
from middle.system.github import Gh, upsert_marked_comment, viewer_login

STATUS_MARKER = "<!-- middle:status -->"
NEXT = {
    "waiting-human": "answer the question or review the PR; the next job picks it up",
    "rate-limited": "wait for the usage limit to reset; the scheduled sweep resumes the run",
    "queued": "nothing: the scheduled sweep starts the run when an agent slot frees",
    "completed": "nothing: the branch is ready and the run is done",
    "busy": "nothing: another job is working on this issue",
    "skipped": "nothing",
    "idle": "nothing",
    "unreadable": "look at the state ref, then delete it (git push origin :<the ref>); "
    "the sweep skips it until then",
}


def summary_markdown(result: JobResult, trigger_kind: str) -> str:
    """The run's state, its steps with their attempts, and what to do next."""
    lines = [
        f"## middle: issue #{result.issue or '-'}",
        "",
        f"**{result.state}** (after a {trigger_kind} event): {result.message}",
        "",
    ]
    if result.workflow_id:
        db = open_home_db()
        row = get_workflow(db, result.workflow_id)
        lines += [f"Workflow `{row['id']}`, agent `{row['adapter']}`.", ""]
        lines += ["| step | status | attempts |", "|---|---|---|"]
        for checkpoint in load_checkpoints(db, result.workflow_id):
            name, status, tries = checkpoint["name"], checkpoint["status"], checkpoint["attempts"]
            lines.append(f"| `{name}` | {status} | {tries} |")
        lines.append("")
    what = NEXT.get(result.state, "see the job log; `middle status` on a machine with the state")
    lines += [f"**Next:** {what}", ""]
    return "\n".join(lines)


def write_step_summary(text: str) -> None:
    """Append to `$GITHUB_STEP_SUMMARY` when Actions provides it."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")


def post_status_comment(gh: Gh, slug: str, issue: str, text: str) -> None:
    """Create the issue's one status comment, or edit it if a job already made it."""
    body = f"{STATUS_MARKER}\n{text}"
    upsert_marked_comment(gh, slug, "issue", issue, STATUS_MARKER, body, viewer_login(gh))


def write_artifacts(folder: Path, result: JobResult, summary: str) -> None:
    """`summary.md`, then the run's `events.jsonl` (its event log) and `transcript.jsonl`;
    a fanned-out Epic's children's each in `children/<workflow id>/`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.md").write_text(summary)
    if not result.workflow_id:
        return
    db = open_home_db()
    row = get_workflow(db, result.workflow_id)
    _write_run(folder, db, row)
    for child in list_workflows(db, parent_id=row["id"]):
        _write_run(folder / "children" / child["id"], db, child)


def _write_run(folder: Path, db: Database, row: Row) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    events = db["events"].rows_where("workflow_id = ?", [row["id"]], order_by="id")
    with (folder / "events.jsonl").open("w") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")
    # The path came from the agent's own hook: only a transcript under its adapter's
    # folders is uploaded, as only such a one is exported (an artifact is as public).
    home = middle_home()
    data, warning = read_transcript(row, adapters(home, Path(row["repo"])), home)
    if warning is not None:
        print(f"middle: warning: {warning}", file=sys.stderr)
    if data is not None:
        (folder / "transcript.jsonl").write_bytes(data)


def report(
    result: JobResult, trigger_kind: str, *, gh: Gh | None, slug: str | None,
    artifacts: Path | None,
) -> str:  # fmt: skip
    """All three outputs; the status comment only when the job acted on an issue."""
    summary = summary_markdown(result, trigger_kind)
    write_step_summary(summary)
    if artifacts is not None:
        write_artifacts(artifacts, result, summary)
    acted = result.state not in ("skipped", "busy", "idle", "unreadable")
    if acted and gh is not None and slug is not None and result.issue is not None:
        try:
            post_status_comment(gh, slug, result.issue, summary)
        except GitHubError as exc:  # the run is saved; a missing comment must not fail it
            write_step_summary(f"(could not update the status comment: {exc})")
    return summary
