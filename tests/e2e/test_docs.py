"""`middle docs` end to end (issue 21 item 2), with the stand-in agent as the docs agent:
an audit keeps the agent's report and commits nothing; `--write` commits on a branch of its
own that must pass the gates, then opens a draft PR (GitHub mode, the `gh` fake) or
leaves the branch ready (file mode)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.conftest import POLICY, Sandbox, git
from tests.e2e.test_github import FakeGitHub, github  # noqa: F401  (the fixture)

REPORT = "# Docs audit\n\n- README.md: `middle frobnicate` does not exist; remove it.\n"


def report_turn(**more: Any) -> dict[str, Any]:
    return {"do": "done", "write": {".middle/docs-report.md": REPORT}, **more}


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def docs_runs(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(sandbox.db()["workflows"].rows_where("kind = 'documentation'"))


def test_an_audit_keeps_the_report_and_commits_nothing(sandbox: Sandbox) -> None:
    """Seen red: `middle docs` was no command (invoke: No idea what 'docs' is!)."""
    (sandbox.repo / "mkdocs.yml").write_text("site_name: Webhooks\n")
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "mkdocs")
    main = git(sandbox.repo, "rev-parse", "main")
    sandbox.script(report_turn())

    result = sandbox.middle("docs", "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "an audit: nothing committed or pushed" in result.stdout
    assert "`middle frobnicate` does not exist" in result.stdout  # the report, printed
    (run,) = docs_runs(sandbox)
    assert run["state"] == "completed" and run["epic_ref"] is None
    kept = list((sandbox.home / "docs").glob(f"*/{run['id']}.md"))
    assert [path.read_text() for path in kept] == [REPORT]
    brief = sandbox.agent_log("turn")[0]["brief"]
    assert "MkDocs (`mkdocs.yml`)" in brief and "documenting-the-repo" in brief
    assert "Audit only" in brief
    assert git(sandbox.repo, "rev-parse", "main") == main  # the stand-in's commit is dropped
    assert branches(sandbox.repo) == ["main"]
    assert not list((sandbox.home / "worktrees").glob("*/docs-*"))
    assert git(sandbox.repo, "worktree", "list").count("\n") == 0


def test_a_missing_report_is_sent_back_then_the_run_fails(sandbox: Sandbox) -> None:
    sandbox.script({"do": "done"}, {"do": "bare"}, {"do": "done"})

    result = sandbox.middle("docs", "--agent", "command")

    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "sent back 3 time(s)" in line and ".middle/docs-report.md is missing" in line
    briefs = [turn["brief"] for turn in sandbox.agent_log("turn")]
    assert len(briefs) == 3 and "Your last attempt was sent back" in briefs[1]
    assert "without writing .middle/done.json" in briefs[2]
    assert not list((sandbox.home / "worktrees").glob("*/docs-*"))


def test_write_in_file_mode_leaves_a_branch_that_passed_the_gates(sandbox: Sandbox) -> None:
    """The gate wants GUIDE.md: the first turn lacks it and is sent back with the
    gate's report; the second commits it, and the branch is left, unpushed."""
    (sandbox.repo / ".middle" / "verify.toml").write_text(
        '[[gate]]\nname = "guide"\ncommand = "test -f GUIDE.md"\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "gates")
    main = git(sandbox.repo, "rev-parse", "main")
    guide = {"GUIDE.md": "# Guide\n"}
    add_all = [["add", "-A"], ["commit", "-q", "-m", "everything"]]  # as agents often do
    sandbox.script(report_turn(), report_turn(commit=["GUIDE.md"], git=add_all, write={
        **guide, ".middle/docs-report.md": REPORT}))  # fmt: skip

    result = sandbox.middle("docs", "--write", "--agent", "command")

    assert result.returncode == 0, result.stderr
    (run,) = docs_runs(sandbox)
    branch = f"middle/docs-{run['id'][-8:]}"
    assert f"branch {branch} is ready for review" in result.stdout
    assert git(sandbox.repo, "rev-parse", "main") == main
    assert git(sandbox.repo, "show", f"{branch}:GUIDE.md") == "# Guide"
    log = git(sandbox.repo, "log", "--format=%s", f"main..{branch}").splitlines()
    assert log == ["stand-in: turn 2", "stand-in: turn 1"]  # `add -A` found nothing more
    assert "Verification failed on commit" in sandbox.agent_log("turn")[1]["brief"]
    assert "Fix what you find" in sandbox.agent_log("turn")[0]["brief"]
    # Seen red: `git add -A` committed .middle/docs-report.md onto the branch
    tree = git(sandbox.repo, "ls-tree", "-r", "--name-only", branch).splitlines()
    assert ".middle/docs-report.md" not in tree and ".middle/done.json" not in tree


def github_remote(sandbox: Sandbox, fake: FakeGitHub) -> Path:
    """A bare repo standing for github.com/acme/webhooks: origin, and what the fake's
    `pr create` checks the head branch against."""
    remote = sandbox.root / "github.com" / "acme" / "webhooks.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(sandbox.repo), str(remote)], check=True)
    git(sandbox.repo, "remote", "set-url", "origin", str(remote))
    fake.write({**fake.read(), "git_remote": str(remote)})
    return remote


def test_write_in_github_mode_pushes_and_opens_a_draft_pr(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    """Seen red: `middle docs` was no command."""
    remote = github_remote(sandbox, github)
    sandbox.script(report_turn())

    result = sandbox.middle("docs", "--write", "--agent", "command")

    assert result.returncode == 0, result.stderr
    (pr,) = github.read()["prs"]
    (run,) = docs_runs(sandbox)
    branch = f"middle/docs-{run['id'][-8:]}"
    assert pr["head"] == branch and pr["isDraft"] is True and pr["state"] == "OPEN"
    assert REPORT in pr["body"] and pr["title"] == "Documentation fixes (plain Markdown)"
    pushed = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", f"refs/heads/{branch}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert pushed == git(sandbox.repo, "rev-parse", branch)
    assert f"draft pull request: https://github.com/acme/webhooks/pull/{pr['number']}" in (
        result.stdout
    )


def test_an_audit_in_github_mode_pushes_nothing(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    remote = github_remote(sandbox, github)
    sandbox.script(report_turn())

    result = sandbox.middle("docs", "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert github.read()["prs"] == []
    assert not [call for call in github.read().get("calls", []) if call[:2] == ["pr", "create"]]
    heads = subprocess.run(
        ["git", "--git-dir", str(remote), "branch", "--format=%(refname:short)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert heads == ["main"]


def test_serve_starts_the_docs_run_on_its_interval(sandbox: Sandbox) -> None:
    """`[docs] enabled` with an interval: serve starts `middle docs` for the repo (and
    never a second while one is live). Seen red: serve never ran it."""
    import signal

    from tests.e2e.conftest import wait_until

    (sandbox.repo / ".middle" / "policy.toml").write_text(
        POLICY + '\n[repo]\ndefault_adapter = "command"\n\n[docs]\nenabled = true\n'
        'interval = "1h"\n'
    )
    git(sandbox.repo, "commit", "-q", "-am", "docs on")
    sandbox.script(report_turn())

    service = sandbox.popen(
        "serve", "--repo", str(sandbox.repo), "--poll-seconds", "0.3", "--watchdog-seconds", "600"
    )
    try:
        wait_until(lambda: list((sandbox.home / "docs").glob("*/*.md")), timeout=90)
        # the report is kept before the run ends (its session and worktree go after it)
        wait_until(lambda: [run["state"] for run in docs_runs(sandbox)] == ["completed"])
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=60)
    log = (sandbox.home / "logs" / "serve.log").read_text()
    assert log.count(f"docs: started for {sandbox.repo}\n") == 1
    assert [run["state"] for run in docs_runs(sandbox)] == ["completed"]


def test_one_docs_run_per_repo_and_one_whose_process_died_is_ended(sandbox: Sandbox) -> None:
    """One documentation run per repo at a time (serve's interval and a person's `middle
    docs` may meet): a second is refused in one line and leaves nothing behind. A live
    run whose process died is ended by the next one (its session and worktree go), or it
    would hold the repo's docs runs off for ever. Seen red: the refusal came from the row
    alone, so a run whose process was killed refused every later one."""
    import signal

    from tests.e2e.conftest import wait_until

    sandbox.script({"do": "hang"})
    first = sandbox.popen("docs", "--agent", "command")
    wait_until(lambda: sandbox.agent_log("turn"), timeout=60)
    (live,) = docs_runs(sandbox)

    refused = sandbox.middle("docs", "--agent", "command")

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"middle: a documentation run for {sandbox.repo} is live already ({live['id']}); "
        "see: middle status"
    )
    assert len(docs_runs(sandbox)) == 1 and len(sandbox.sessions()) == 1

    first.send_signal(signal.SIGKILL)  # the process dies; its agent's session lives on
    first.communicate(timeout=60)
    sandbox.script(report_turn())
    again = sandbox.middle("docs", "--agent", "command")

    assert again.returncode == 0, again.stderr
    states = {run["id"]: run["state"] for run in docs_runs(sandbox)}
    assert states.pop(live["id"]) == "cancelled" and list(states.values()) == ["completed"]
    assert sandbox.sessions() == []
    assert not list((sandbox.home / "worktrees").glob("*/docs-*"))
