"""Rate limits and slots: refused dispatches say why and when, and leave nothing behind."""

from __future__ import annotations

from middle.store import create_workflow_record, update_workflow
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
