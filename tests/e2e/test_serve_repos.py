"""`serve` covers every registered repo, and auto-dispatch fills every free slot
in one pass (never more than the limits allow)."""

from __future__ import annotations

import shutil
import signal

from middle.app.home import open_home_db
from middle.state_issue import parse
from middle.store import register_repo
from tests.e2e.conftest import POLICY, REF, Sandbox, git, wait_until
from tests.e2e.test_autodispatch import AUTO, implementations
from tests.e2e.test_recommend import add_epic


def test_auto_dispatch_fills_every_free_slot_in_one_pass(sandbox: Sandbox) -> None:
    """Four Ready items, three free slots: one pass dispatches the top three. Seen red:
    one pass dispatched one (`dispatched queue` only)."""
    for slug in ("a", "b", "c"):
        add_epic(sandbox.repo, slug)
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        AUTO.replace("[limits]\n", "[limits]\nmax_concurrent = 3\n")
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "four epics")
    sandbox.script({"do": "done"})
    assert sandbox.middle("recommend").returncode == 0
    ready = [row.ref for row in parse((sandbox.repo / ".middle" / "state.md").read_text()).ready]
    assert ready == ["a", "b", "c", REF]

    sandbox.script({"do": "hang"})  # each agent keeps working: its slot stays taken
    result = sandbox.middle("auto-dispatch")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["a", "b", "c"]
    assert [e["ref"] for e in sandbox.events("dispatch.auto")] == ["a", "b", "c"]
    wait_until(
        lambda: [r["state"] for r in implementations(sandbox)] == ["running"] * 3, timeout=90
    )
    assert sandbox.middle("auto-dispatch").stdout.strip() == "Nothing to dispatch."  # full
    for slug in ("a", "b", "c"):
        assert sandbox.middle("cancel", "--issue", slug).returncode == 0


def test_one_serve_pass_runs_the_recommender_for_every_registered_repo(sandbox: Sandbox) -> None:
    """serve started for one repo; a second is registered (as `pause`/`unpause` or a
    `serve --repo` there would). Seen red: only the first repo's recommender started."""
    policy = POLICY + '\n[repo]\ndefault_adapter = "command"\n\n[recommender]\ninterval = "1h"\n'
    (sandbox.repo / ".middle" / "policy.toml").write_text(policy)
    git(sandbox.repo, "commit", "-q", "-am", "interval")
    other = sandbox.root / "other"
    shutil.copytree(sandbox.repo, other)
    register_repo(open_home_db(), str(other))
    sandbox.script(*[{"do": "done"}] * 2)

    service = sandbox.popen("serve", "--poll-seconds", "0.3", "--watchdog-seconds", "600")
    states = [repo / ".middle" / "state.md" for repo in (sandbox.repo, other)]
    try:
        wait_until(lambda: all(state.exists() for state in states), timeout=90)
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=60)
    log = (sandbox.home / "logs" / "serve.log").read_text()
    assert f"recommend: started for {sandbox.repo}\n" in log
    assert f"recommend: started for {other}\n" in log
    for state in states:
        assert "| 1 | #retry-webhooks Retry failed webhooks | command | 1 |" in state.read_text()
    runs = list(sandbox.db()["workflows"].rows_where("kind = 'recommender'"))
    assert sorted(r["repo"] for r in runs) == sorted([str(sandbox.repo), str(other)])
