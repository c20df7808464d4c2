"""Agent slots across CI jobs: `refs/middle/slots/<k>` on origin, k < `max_concurrent`.

Each job runs on its own runner with its own empty database, so the local `check-slots`
count cannot see the others. A job that is about to run an agent turn claims a slot by
creating one of those refs with a lease that says "must not exist"; exactly one of two
racing jobs can create a given ref. It deletes the ref (with a lease on its own commit)
when the turn parks or ends. A slot whose job died is taken over once its `expires_at`
has passed. The cap is the repository's `[limits] max_concurrent`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from middle.app.carry.ref import IDENTITY, cas, fetch_ref, read_tree, write_tree
from middle.errors import UNREADABLE_JSON, GitError, StateRaceError
from middle.store import iso
from middle.system.git import git

SLOT_HOURS = 6  # GitHub's own limit on a job's run time


@dataclass(frozen=True)
class Slot:
    ref: str
    sha: str


def slot_ref(index: int) -> str:
    return f"refs/middle/slots/{index}"


def claim_slot(repo: Path, cap: int, *, issue: str, job: str) -> Slot | None:
    """Claim a free (or expired) slot for this job; None if all `cap` are busy."""
    now = datetime.now(UTC)
    record = {"issue": issue, "job": job, "claimed_at": iso(now)}
    record["expires_at"] = iso(now + timedelta(hours=SLOT_HOURS))
    tree = write_tree(repo, {"slot.json": json.dumps(record, indent=1).encode()})
    for index in range(cap):
        ref = slot_ref(index)
        holder = fetch_ref(repo, ref)
        if holder is not None and not _expired(repo, holder, now):
            continue
        message = f"slot {index}: issue {issue} ({job})"
        commit = git("commit-tree", tree, "-m", message, cwd=repo, env=IDENTITY)
        try:
            cas(repo, ref, commit, expected=holder)
        except StateRaceError:
            continue  # another job took it a moment ago; try the next
        return Slot(ref, commit)
    return None


def release_slot(repo: Path, slot: Slot) -> None:
    """Free the slot, unless it expired and another job took it over meanwhile."""
    with contextlib.suppress(StateRaceError):
        cas(repo, slot.ref, None, expected=slot.sha)


def slot_holders(repo: Path, cap: int) -> list[str]:
    """The issue each busy slot holds, for the job's summary. A slot record is what some
    job pushed: one middle cannot read is shown as such, never trusted or fatal."""
    holders = []
    for index in range(cap):
        sha = fetch_ref(repo, slot_ref(index))
        if sha is None:
            continue
        try:
            record = json.loads(read_tree(repo, sha).get("slot.json", b"{}"))
        except (GitError, *UNREADABLE_JSON):
            record = None
        issue = record.get("issue") if isinstance(record, dict) else None
        holders.append(f"#{issue}" if isinstance(issue, str) and issue.isdigit() else "?")
    return holders


def _expired(repo: Path, sha: str, now: datetime) -> bool:
    try:
        record = json.loads(read_tree(repo, sha).get("slot.json", b"{}"))
    except (GitError, *UNREADABLE_JSON):
        return True
    if not isinstance(record, dict):
        return True  # not a slot record middle wrote: the slot is free to take
    return str(record.get("expires_at") or "") < iso(now)
