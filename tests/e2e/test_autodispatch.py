"""Auto-dispatch, opt in: `serve` takes the state issue's top eligible Ready item when a
slot frees, never one that is blocked, unapproved or in a paused repo, and two
dispatchers at once dispatch an item once."""

from __future__ import annotations

import json
import signal
from typing import Any

from tests.e2e.conftest import POLICY, REF, Sandbox, git, wait_until
from tests.e2e.test_recommend import add_epic

AUTO = POLICY + '\n[repo]\ndefault_adapter = "command"\n\n[recommender]\nauto_dispatch = true\n'


def setup_queue(sandbox: Sandbox, policy: str = AUTO) -> None:
    """Ready, in the plan's order: queue (unblocks auth), draft (not approved), the sample
    Epic; auth is blocked by queue. One agent slot in the repo."""
    add_epic(sandbox.repo, "queue", subs=3)
    add_epic(sandbox.repo, "auth", blocked_by="queue")
    add_epic(sandbox.repo, "draft")
    draft = sandbox.repo / "planning" / "epics" / "draft.md"
    draft.write_text(draft.read_text().replace("approved: true", "approved: false"))
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        policy.replace("[limits]\n", "[limits]\nmax_concurrent = 1\n")
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "queue")
    sandbox.script({"do": "done"})
    result = sandbox.middle("recommend")
    assert result.returncode == 0, result.stderr
    assert "queue, draft, retry-webhooks" in result.stdout


def implementations(sandbox: Sandbox) -> list[dict[str, Any]]:
    rows = sandbox.db()["workflows"].rows_where("kind = 'implementation'", order_by="created_at")
    return list(rows)


def test_serve_takes_the_top_eligible_item_each_time_a_slot_frees(sandbox: Sandbox) -> None:
    """Seen red: without the approval check the second dispatch was `draft`."""
    setup_queue(sandbox)
    service = sandbox.popen("serve", "--poll-seconds", "0.3", "--watchdog-seconds", "600")
    try:
        wait_until(lambda: len(sandbox.events("dispatch.auto")) >= 2, timeout=90)
        wait_until(lambda: all(r["state"] == "waiting-human" for r in implementations(sandbox)))
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=60)
    events = sandbox.events("dispatch.auto")
    assert [e["ref"] for e in events] == ["queue", REF]
    assert events[0]["reason"].startswith("rank 1 of the plan generated ")
    rows = implementations(sandbox)
    assert [(r["epic_ref"], r["state"]) for r in rows] == [
        ("queue", "waiting-human"),
        (REF, "waiting-human"),
    ]  # one slot: the second went only once the first parked (no slot refusal)
    assert json.loads(rows[0]["meta_json"])["source"] == "auto"
    assert "auto-dispatch: issue queue" in (sandbox.home / "logs" / "serve.log").read_text()
    assert sandbox.middle("auto-dispatch").stdout.strip() == "Nothing to dispatch."


def test_a_paused_repo_dispatches_nothing(sandbox: Sandbox) -> None:
    """One pause for everything: `middle pause` (or the dashboard's) stops auto-dispatch."""
    setup_queue(sandbox)
    assert sandbox.middle("pause", "--repo", str(sandbox.repo)).returncode == 0
    assert sandbox.middle("auto-dispatch").stdout.strip() == "Nothing to dispatch."
    assert sandbox.events("dispatch.auto") == []


def test_auto_dispatch_is_off_by_default(sandbox: Sandbox) -> None:
    setup_queue(sandbox, AUTO.replace("auto_dispatch = true", "auto_dispatch = false"))
    assert sandbox.middle("auto-dispatch").stdout.strip() == "Nothing to dispatch."


def test_two_dispatchers_at_once_dispatch_the_item_once(sandbox: Sandbox) -> None:
    """Four passes at once (what two serves would run): one dispatch. The dispatched
    agent keeps working (it never stops), so its slot stays taken throughout. Which
    guard stops the others depends on timing (the pending row counted as a taken slot,
    or the partial UNIQUE index); tests/test_autodispatch.py pins the index path."""
    setup_queue(sandbox)
    sandbox.script({"do": "hang"})
    passes = [sandbox.popen("auto-dispatch") for _ in range(4)]
    outputs = [p.communicate(timeout=60)[0] for p in passes]
    assert all(p.returncode == 0 for p in passes)
    assert sum(out.startswith("dispatched queue") for out in outputs) == 1
    wait_until(lambda: implementations(sandbox)[0]["state"] == "running", timeout=60)
    assert sandbox.middle("auto-dispatch").stdout.strip() == "Nothing to dispatch."
    assert [e["ref"] for e in sandbox.events("dispatch.auto")] == ["queue"]
    assert [r["epic_ref"] for r in implementations(sandbox)] == ["queue"]
    assert sandbox.middle("cancel", "--issue", "queue").returncode == 0


def test_serve_runs_the_recommender_every_interval(sandbox: Sandbox) -> None:
    policy = POLICY + '\n[repo]\ndefault_adapter = "command"\n\n[recommender]\ninterval = "1h"\n'
    (sandbox.repo / ".middle" / "policy.toml").write_text(policy)
    sandbox.script({"do": "done"})
    service = sandbox.popen("serve", "--poll-seconds", "0.3", "--watchdog-seconds", "600")
    state = sandbox.repo / ".middle" / "state.md"
    try:
        wait_until(lambda: state.exists(), timeout=60)
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=60)
    assert "| 1 | #retry-webhooks Retry failed webhooks | command | 1 |" in state.read_text()
    assert "interval: 60m" in state.read_text()  # v1 writes whole minutes
    runs = list(sandbox.db()["workflows"].rows_where("kind = 'recommender'"))
    assert len(runs) == 1  # once per interval, not once per poll
