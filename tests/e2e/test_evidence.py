"""Evidence at done (issue 19, item 5) through `middle implement`, in file mode: the
stand-in agent, real git and tmux, the real CLI. A repo with a `.middle/verify.toml`
requires evidence for each acceptance criterion of the Epic."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import REF, Sandbox, git

CRITERION = "Failed deliveries retry with exponential backoff"  # the sample Epic's one
PASSING_GATE = '[[gate]]\nname = "ok"\ncommand = "true"\n'


def commit_gates(repo: Path, text: str = PASSING_GATE) -> None:
    (repo / ".middle" / "verify.toml").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gates")


def epic(sandbox: Sandbox) -> str:
    return (sandbox.repo / "planning" / "epics" / f"{REF}.md").read_text()


def test_a_done_without_evidence_is_nudged_naming_the_criterion_then_completes(
    sandbox: Sandbox,
) -> None:
    """Seen red (before the evidence check at done): the first done, with no evidence,
    was accepted, the run was ready for review after one turn, and the Epic file held no
    evidence."""
    commit_gates(sandbox.repo)
    evidence = [{"criterion": CRITERION, "evidence": "STANDIN_WORK.md"}]
    sandbox.script({"do": "done"}, {"do": "done", "evidence": evidence})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    brief = sandbox.agent_log("turn")[0]["brief"]
    assert "## Evidence\n\nEach acceptance criterion needs evidence" in brief
    assert '"evidence": [{"criterion": "<the criterion\'s text>"' in brief
    second = sandbox.agent_log("turn")[1]["prompt"]
    assert second.startswith("Not done yet: the acceptance criteria need evidence.")
    assert f'"{CRITERION}" (no evidence given)' in second
    assert "sending the criteria that lack evidence back to the agent (1/3)" in result.stdout
    judged = sandbox.events("evidence.judged")
    assert [j["ok"] for j in judged] == [False, True]
    text = epic(sandbox)
    assert "<!-- middle:dispatch-event ts=" in text and "kind=evidence -->" in text
    assert f"- {CRITERION}: STANDIN_WORK.md" in text


def test_evidence_naming_a_file_not_in_the_head_commit_keeps_the_run_from_done(
    sandbox: Sandbox,
) -> None:
    """Seen red (before the check): a made-up path was taken as evidence and the run was
    ready for review. After three reports, the run parks saying which criterion lacks
    evidence and why."""
    commit_gates(sandbox.repo)
    made_up = [{"criterion": CRITERION, "evidence": "tests/test_retry.py::test_backoff"}]
    sandbox.script(*[{"do": "done", "evidence": made_up}] * 5)

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" not in result.stdout
    head = git(sandbox.repo, "rev-parse", f"middle/issue-{REF}")
    assert (
        f"acceptance criteria lack evidence on commit {head[:12]}, after 3 reports to the "
        f"agent:\n  {CRITERION}: tests/test_retry.py::test_backoff: no file "
        "tests/test_retry.py in the head commit"
    ) in result.stdout
    assert "kind=evidence" not in epic(sandbox)


def test_a_repo_without_a_verify_file_needs_no_evidence(sandbox: Sandbox) -> None:
    sandbox.script({"do": "done"})

    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    assert sandbox.events("evidence.judged") == []
    assert "## Evidence" not in sandbox.agent_log("turn")[0]["brief"]
