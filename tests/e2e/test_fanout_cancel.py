"""`middle cancel` on a fanned-out Epic (issue 23): `--issue <ref>/<sub>` cancels one child,
`--issue <ref>` the whole tree. With the stand-in agent, real git and tmux.

A cancelled child ends `cancelled`: its agent stops, its worktree goes, its branch stays.
Its parent then starts no other sub-issue, lets the children in flight settle, and fails
naming the cancelled sub-issue and how to go on (`middle implement` again picks up from
the integration branch and the ticked sub-issues)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.e2e.conftest import Sandbox, git, wait_until
from tests.e2e.test_fanout import INTEGRATION, REF, two_parts


def implement() -> list[str]:
    return [sys.executable, "-m", "middle", "implement", "--issue", REF, "--agent", "command",
            "--parallel", "2"]  # fmt: skip


def runs(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {r["epic_ref"]: r for r in sandbox.db()["workflows"].rows}


def worktrees(sandbox: Sandbox) -> list[str]:
    return sorted(p.name for p in (sandbox.home / "worktrees").glob("*/epic-*"))


def check_one_child_cancelled(sandbox: Sandbox) -> None:
    """#1 cancelled (no agent, no worktree, its branch kept), #2 merged, and the parent
    failed, saying which sub-issue was cancelled and how to go on; no worktree is left."""
    rows = runs(sandbox)
    assert rows[f"{REF}/1"]["state"] == "cancelled"
    assert rows[f"{REF}/2"]["state"] == "completed"
    parent = rows[REF]
    assert parent["state"] == "compensated", parent  # failed, its integration worktree gone
    reason = parent["end_reason"]
    assert "sub-issue 1" in reason and "cancelled" in reason
    assert f"middle implement --issue {REF}" in reason
    assert [m["sub"] for m in sandbox.events("epic.merged")] == ["2"]
    assert sandbox.sessions() == []
    assert worktrees(sandbox) == []
    assert git(sandbox.repo, "rev-parse", "--verify", f"{INTEGRATION}-1")  # the branch stays


def test_cancelling_one_child_stops_it_and_the_epic_fails_saying_so(sandbox: Sandbox) -> None:
    """`cancel --issue fan/1` while the Epic runs in the foreground and #1's agent is
    mid-turn. Seen red: `cancel` refused `fan/1` as not a valid ref."""
    never = sandbox.root / "never"
    started = sandbox.root / "started-1"
    two_parts(
        sandbox,
        {
            f"{REF}/1": [{"do": "done", "mark": str(started), "wait_for": str(never)}],
            f"{REF}/2": [{"do": "done"}],
        },
    )
    middle = subprocess.Popen(implement(), cwd=sandbox.repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_until(started.exists, timeout=300)

    cancelled = sandbox.middle("cancel", "--issue", f"{REF}/1")
    if cancelled.returncode != 0:
        middle.kill()  # nothing else would end its wait on #1
    out, err = middle.communicate()

    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert f"issue {REF}/1: cancelled workflow" in cancelled.stdout
    assert middle.returncode == 1, out + err
    assert "sub-issue 1" in out + err
    check_one_child_cancelled(sandbox)


def a_parked_tree(sandbox: Sandbox) -> None:
    """#1 asks a question, #2 merges: the child and its parent park on a human."""
    two_parts(sandbox, {f"{REF}/1": [{"do": "ask", "question": "Which backoff?"}]})
    first = subprocess.run(implement(), cwd=sandbox.repo, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    states = {ref: row["state"] for ref, row in runs(sandbox).items()}
    assert states == {REF: "waiting-human", f"{REF}/1": "waiting-human", f"{REF}/2": "completed"}


def test_cancelling_a_parked_child_settles_its_parked_parent(sandbox: Sandbox) -> None:
    """The child parked on a question, its parent parked on its children: the cancel wakes
    the parent, which fails at once, and `implement` again finishes the Epic. Seen red:
    `cancel` refused `fan/1`; then it failed looking for an Epic file `fan/1.md` (to close
    the child's question); then, without the wake, the parent stayed `waiting-human` for a
    child that would never report."""
    a_parked_tree(sandbox)

    cancelled = sandbox.middle("cancel", "--issue", f"{REF}/1")

    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    check_one_child_cancelled(sandbox)
    assert f"issue {REF}/1: cancelled workflow" in cancelled.stdout
    assert "sub-issue 1" in cancelled.stdout  # what became of the Epic

    # as the reason says: `implement` again goes on from the integration branch
    (sandbox.root / "script.json").write_text(json.dumps({"by_epic": {}}))
    again = subprocess.run(implement(), cwd=sandbox.repo, capture_output=True, text=True)

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"branch {INTEGRATION} is ready for review" in again.stdout
    assert sorted(m["sub"] for m in sandbox.events("epic.merged")) == ["1", "2"]
    text = (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()
    assert "- [x] **1 — Part one**" in text and "- [x] **2 — Part two**" in text


def test_cancelling_a_parked_epic_cancels_the_whole_tree(sandbox: Sandbox) -> None:
    """`cancel --issue fan` on a parent parked on a child's question: both end cancelled,
    the child's agent and every worktree go, every branch stays. Seen red: the Epic's
    integration worktree was left behind (plan-epic had no compensation)."""
    a_parked_tree(sandbox)

    cancelled = sandbox.middle("cancel", "--issue", REF)

    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    states = {ref: row["state"] for ref, row in runs(sandbox).items()}
    assert states == {REF: "cancelled", f"{REF}/1": "cancelled", f"{REF}/2": "completed"}
    assert sandbox.sessions() == []
    assert worktrees(sandbox) == []
    for branch in (INTEGRATION, f"{INTEGRATION}-1", f"{INTEGRATION}-2"):
        assert git(sandbox.repo, "rev-parse", "--verify", branch)


def test_a_bad_child_ref_is_one_line_and_changes_nothing(sandbox: Sandbox) -> None:
    a_parked_tree(sandbox)
    before = {ref: row["state"] for ref, row in runs(sandbox).items()}
    events, sessions = sandbox.db()["events"].count, sandbox.sessions()

    for ref, said in (
        (f"{REF}/9", f"issue {REF}/9 in"),  # no such sub-issue
        (f"{REF}/2", f"issue {REF}/2 in"),  # merged already: nothing live to cancel
        (f"{REF}/1/2", "is not a valid ref"),
        (f"{REF}/..", "is not a valid ref"),
        (f"{REF}/", "is not a valid ref"),
    ):
        bad = sandbox.middle("cancel", "--issue", ref)
        assert bad.returncode == 1, (ref, bad.stdout, bad.stderr)
        lines = (bad.stdout + bad.stderr).strip().splitlines()
        assert len(lines) == 1 and said in lines[0], (ref, lines)
        assert "Traceback" not in bad.stderr

    assert {ref: row["state"] for ref, row in runs(sandbox).items()} == before
    assert sandbox.db()["events"].count == events
    assert sandbox.sessions() == sessions
    assert worktrees(sandbox) == sorted([f"epic-{REF}", f"epic-{REF}-1"])
