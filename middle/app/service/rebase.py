"""A branch ready for review whose base moved on and no longer merges onto it (issue 21
item 7): `poll` resumes the agent for a rebase round, with the conflicting files in its
brief. The round counts against the review-round cap, as a change request does.

Whether the branch still merges is its issue store's to say (`IssueStore.base_conflict`):
in GitHub mode the pull request's `mergeable` / `mergeable_state` (then a test merge of
the fetched base and head names the files), in file mode a test merge of the local branch
onto the local base. Each (base, head) pair resumes the agent once.

middle never rebases over commits it did not see: when the branch where people review it
holds commits the local branch lacks (someone pushed to it), the rebase would force-push
them away, so the run stays parked and one note, per head, asks a human.
"""

from __future__ import annotations

from typing import Any

from middle.engine.runs import Runs
from middle.issues.base import IssueStore
from middle.issues.polling import Conflict, ParkedRun
from middle.store import Row
from middle.system.github import on_actions


def rebase_signal(
    runs: Runs, row: Row, store: IssueStore, parked: ParkedRun
) -> dict[str, Any] | None:
    """The `rebase` resume signal for a run parked ready for review whose branch no
    longer merges onto its moved base; None when it merges, or a human must act first."""
    base = Runs.input(row).get("base")
    if parked.reason != "done" or not base:
        return None
    conflict = store.base_conflict(parked, str(base))
    if conflict is None:
        return None
    if conflict.unseen:
        _ask_a_human(runs, row, store, parked, conflict)
        return None
    key = f"rebase:{conflict.base_sha}:{conflict.head_sha}"
    if key in parked.acted_on:
        return None
    return {
        "kind": "rebase",
        "text": rebase_text(conflict, parked.pr_branch or ""),
        "author": "middle poll",
        "files": list(conflict.files),
        "acted_on": [key],
    }


def rebase_text(conflict: Conflict, branch: str) -> str:
    """What the agent is told: onto what, the files, and how to publish the result."""
    files = "\n".join(f"- `{name}`" for name in conflict.files)
    fetch = "`git fetch origin`, then " if conflict.onto.startswith("origin/") else ""
    push = ""
    if on_actions():  # the agent holds no credentials there: middle pushes at its done
        push = " Do not push: middle pushes the rebased branch when you are done."
    elif conflict.onto.startswith("origin/"):
        push = (
            f" Then push it with `git push --force-with-lease origin {branch}` (never a "
            "plain `--force`)."
        )
    return (
        f"The base branch moved on (now {conflict.base_sha[:12]}), and your branch "
        f"(head {conflict.head_sha[:12]}) no longer merges onto it cleanly. These files "
        f"conflict:\n\n{files}\n\n"
        f"Rebase your branch onto it: {fetch}`git rebase {conflict.onto}`. Resolve each "
        "conflict keeping what both sides meant, and run the tests again." + push
    )


def _ask_a_human(
    runs: Runs, row: Row, store: IssueStore, parked: ParkedRun, conflict: Conflict
) -> None:
    """Once per head: a note naming the commits middle did not make, and why it waits."""
    if (runs.scratch(row["id"], "rebase_refused") or {}).get("head") == conflict.head_sha:
        return
    commits = "\n".join(f"- {line}" for line in conflict.unseen)
    store.post_note(
        parked.ref,
        f"middle: branch {parked.pr_branch} no longer merges onto its base, but it holds "
        f"commits middle did not make:\n\n{commits}\n\nA rebase would force-push over them, "
        "so middle will not resume the agent to rebase. A human needs to bring them into "
        "the branch (or drop them) and resolve the conflict, or request changes.",
    )
    runs.save_scratch(row["id"], "rebase_refused", {"head": conflict.head_sha})
    runs.event(
        row["id"], "rebase.refused", {"head": conflict.head_sha, "unseen": list(conflict.unseen)}
    )
