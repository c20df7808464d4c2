"""Blockers between Epics: `implement` refuses a blocked Epic naming its open blockers
(unless --force), in file mode and GitHub mode, and `status` shows them."""

from __future__ import annotations

import json
from pathlib import Path

from middle.app.demo import sample_epic
from tests.e2e.conftest import REF, Sandbox, git
from tests.e2e.test_github import EPIC, FakeGitHub, github  # noqa: F401  (the fixture)


def add_epic(repo: Path, slug: str, *, closed: bool = False, blocked_by: str = "") -> None:
    text = sample_epic().replace(f"slug: {REF}", f"slug: {slug}")
    extra = ("closed: true\n" if closed else "") + (
        f"blocked-by: [{blocked_by}]\n" if blocked_by else ""
    )
    (repo / "planning" / "epics" / f"{slug}.md").write_text(
        text.replace("approved: true\n", "approved: true\n" + extra)
    )


def block_the_sample(sandbox: Sandbox, blockers: str) -> None:
    path = sandbox.repo / "planning" / "epics" / f"{REF}.md"
    path.write_text(
        path.read_text().replace("approved: true\n", f"approved: true\nblocked-by: [{blockers}]\n")
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "blockers")


def test_file_mode_refuses_a_blocked_epic_naming_only_its_open_blockers(sandbox: Sandbox) -> None:
    """Seen red: without the check, the run was dispatched and parked for review."""
    add_epic(sandbox.repo, "queue")
    add_epic(sandbox.repo, "auth", closed=True)
    block_the_sample(sandbox, "queue, auth, gone")
    sandbox.script({"do": "done"})

    refused = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"middle: Epic {REF} is blocked by queue, gone (still open); dispatch those first, "
        "or pass --force"
    )
    assert not (sandbox.home / "worktrees").exists()
    assert f"Epic {REF} is blocked by queue, gone" in sandbox.middle("status").stdout

    forced = sandbox.middle("implement", "--issue", REF, "--agent", "command", "--force")
    assert forced.returncode == 0, forced.stderr
    (row,) = json.loads(sandbox.middle("status", "--json").stdout)
    assert row["blocked_by"] == ["queue", "gone"]


def test_github_mode_reads_issue_dependencies_through_gh(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    state = github.read()
    state["issues"][EPIC]["blocked_by"] = [120, 121]
    state["issues"]["120"] = {"title": "Queue", "state": "OPEN"}
    state["issues"]["121"] = {"title": "Auth", "state": "CLOSED"}
    github.write(state)
    sandbox.script({"do": "done", "pr": "ready"})

    refused = sandbox.middle("implement", "--issue", EPIC, "--agent", "command")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"middle: Epic {EPIC} is blocked by #120 (still open); dispatch those first, "
        "or pass --force"
    )
    asked = f"repos/acme/webhooks/issues/{EPIC}/dependencies/blocked_by"
    calls = github.read()["calls"]  # a conditional, paged read (`api -i PATH?per_page=100`)
    assert any(call[0] == "api" and call[-1].startswith(asked) for call in calls), calls
