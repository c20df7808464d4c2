"""Rate limits and slots: refused dispatches say why and when, and leave nothing behind."""

from __future__ import annotations

from middle.store import create_workflow_record, update_workflow
from middle.store.rate_limits import set_rate_limit
from middle.store.slots import claim_slot
from tests.e2e.conftest import REF, Sandbox


def test_a_usage_limit_blocks_new_dispatches_until_cleared(sandbox: Sandbox) -> None:
    sandbox.script({"do": "rate-limit"})
    limited = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert limited.returncode == 0, limited.stderr
    sandbox.middle("cancel", "--issue", REF)

    refused = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "the command adapter is rate-limited until 20" in line
    assert "middle rate-limit clear command" in line
    assert sandbox.db()["workflows"].count == 1  # the refusal left no row

    cleared = sandbox.middle("rate-limit", "clear", "command")
    assert cleared.returncode == 0, cleared.stderr
    sandbox.script({"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0


def test_a_dispatch_over_max_concurrent_is_refused_naming_the_holders(sandbox: Sandbox) -> None:
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nmax_concurrent = 1\nlaunch_timeout_seconds = 30\n"
    )
    db = sandbox.db()
    create_workflow_record(
        db, id="wf-busy", kind="implementation", repo="/elsewhere", epic_ref="9", adapter="claude"
    )
    update_workflow(db, "wf-busy", state="running")
    claim_slot(db, "wf-busy")
    (sandbox.home / "config.toml").write_text("[global]\nmax_concurrent = 1\n")
    sandbox.script({"do": "done"})

    refused = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert refused.returncode == 1
    assert "all 1 global agent slot(s) are busy: 9 (wf-busy)" in refused.stderr
    assert sandbox.sessions() == [] and not sandbox.worktree().exists()


def test_an_answer_waits_for_a_free_slot_and_poll_continues_it(sandbox: Sandbox) -> None:
    """Issue 11 item 6. Seen red: with max_concurrent = 1, answering a parked run while
    another agent ran launched a second agent at once."""
    sandbox.script({"do": "ask", "question": "Base 2 or 3?"}, {"do": "done"})
    assert sandbox.middle("implement", "--issue", REF, "--agent", "command").returncode == 0
    db = sandbox.db()
    create_workflow_record(
        db, id="wf-busy", kind="implementation", repo="/elsewhere", epic_ref="9", adapter="claude"
    )
    update_workflow(db, "wf-busy", state="running")
    claim_slot(db, "wf-busy")
    (sandbox.home / "config.toml").write_text("[global]\nmax_concurrent = 1\n")

    answered = sandbox.middle("answer", "--issue", REF, "--text", "Base 2.")

    assert answered.returncode == 0, answered.stderr
    assert "queued: no free slot" in answered.stdout
    assert len(sandbox.agent_log("launch")) == 1  # no second agent
    assert "queued: no free slot" in sandbox.middle("status").stdout
    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."  # still busy

    update_workflow(db, "wf-busy", state="completed")  # the slot frees
    polled = sandbox.middle("poll")

    assert f"issue {REF}: slot-free" in polled.stdout, polled.stdout + polled.stderr
    assert "Base 2." in sandbox.agent_log("turn")[1]["brief"]
    assert "queued" not in sandbox.middle("status").stdout


def test_a_rate_limited_default_adapter_falls_back_to_the_next_unless_pinned(
    sandbox: Sandbox,
) -> None:
    """Issue 22 item 7: `[global] adapter_fallback`. Seen red: with claude rate-limited
    the dispatch was refused even though the fallback list named a free adapter. A run
    pinned with `--agent` still waits for its own adapter."""
    sandbox.home.mkdir(parents=True, exist_ok=True)
    (sandbox.home / "config.toml").write_text(
        '[global]\ndefault_adapter = "claude"\nadapter_fallback = ["claude", "command"]\n'
        '[adapters.claude]\nbinary = "true"\n'  # on PATH, so only the limit refuses it
    )
    set_rate_limit(
        sandbox.db(), "claude", status="limited", reset_at="2999-01-01T00:00:00Z", source="test"
    )

    pinned = sandbox.middle("implement", "--issue", REF, "--agent", "claude")
    assert pinned.returncode == 1
    assert "the claude adapter is rate-limited" in pinned.stderr
    assert sandbox.db()["workflows"].count == 0

    sandbox.script({"do": "done"})
    fell_back = sandbox.middle("implement", "--issue", REF)
    assert fell_back.returncode == 0, fell_back.stderr
    (run,) = sandbox.db()["workflows"].rows
    assert run["adapter"] == "command"
