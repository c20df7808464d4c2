"""The labels middle honours: `needs-design`, `blocked` and `wontfix` keep an issue from
ever being dispatched (`implement` refuses it in one line that says how to lift the
hold, auto-dispatch passes over it, the recommender never ranks it), in file mode (the
Epic's `labels: [...]` meta line) and in GitHub mode (the issue's labels); and in GitHub
mode the recommender ranks Epics only (labelled `epic`, or with sub-issues)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from middle.issues.state_location import STATE_LABEL
from middle.state_issue import ReadyRow, parse, render
from tests.e2e.conftest import REF, Sandbox, git, wait_until
from tests.e2e.test_autodispatch import AUTO, implementations
from tests.e2e.test_github import EPIC, FakeGitHub, github  # noqa: F401  (the fixture)
from tests.e2e.test_recommend import add_epic


def label_epic(sandbox: Sandbox, slug: str, labels: str) -> None:
    path = sandbox.repo / "planning" / "epics" / f"{slug}.md"
    path.write_text(path.read_text().replace("approved: true\n", f"approved: true\n{labels}\n"))
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", f"label {slug}")


@pytest.mark.parametrize("label", ["needs-design", "blocked", "wontfix"])
def test_implement_refuses_a_held_epic_file_even_with_force(sandbox: Sandbox, label: str) -> None:
    """Seen red: implement dispatched the labelled Epic (a run row, parked)."""
    label_epic(sandbox, REF, f"labels: [epic, {label}]")
    sandbox.script({"do": "done"})
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command", "--force")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"issue {REF} is labelled {label}, so it is never dispatched" in line
    assert f"take {label} out of the `labels:` line of its meta block" in line
    assert sandbox.db()["workflows"].count == 0
    assert not (sandbox.home / "worktrees").exists() or not any(
        (sandbox.home / "worktrees").rglob("issue-*")
    )


def test_implement_refuses_a_needs_design_issue_on_github(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    """Seen red: the GitHub store dropped the labels it read, so a run started."""
    state = github.read()
    state["issues"][EPIC]["labels"] = ["approved", "needs-design"]
    github.write(state)
    sandbox.script({"do": "done"})
    result = sandbox.middle("implement", "--issue", EPIC, "--agent", "command")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"issue {EPIC} is labelled needs-design, so it is never dispatched" in line
    assert f"gh issue edit {EPIC} --remove-label needs-design" in line
    assert sandbox.db()["workflows"].count == 0


def test_the_recommender_and_auto_dispatch_pass_over_held_epics(sandbox: Sandbox) -> None:
    """Both the draft and the plan an agent writes: the stand-in leaves middle's draft.
    Seen red: `design` was ranked
    first (a tie on open sub-issues goes by ref), and auto-dispatch took it."""
    add_epic(sandbox.repo, "design")
    add_epic(sandbox.repo, "never", subs=2)
    label_epic(sandbox, "design", "labels: [needs-design]")
    label_epic(sandbox, "never", "labels: [wontfix]")
    (sandbox.repo / ".middle" / "policy.toml").write_text(AUTO)
    git(sandbox.repo, "commit", "-q", "-am", "auto")
    sandbox.script({"do": "done"}, {"do": "done"})
    result = sandbox.middle("recommend")
    assert result.returncode == 0, result.stderr
    state = sandbox.repo / ".middle" / "state.md"
    plan = parse(state.read_text())
    assert [row.ref for row in plan.ready] == [REF]
    excluded = {(e.ref, e.category) for e in plan.excluded}
    assert excluded == {("design", "needs-design label"), ("never", "out of scope")}
    # a plan that ranks it anyway (a hand edit): auto-dispatch still passes over it
    first = ReadyRow(1, "design", "Epic design", "command", 1, "ranked by hand")
    ranked = [first, *(replace(row, rank=row.rank + 1) for row in plan.ready)]
    state.write_text(render(replace(plan, ready=tuple(ranked))))
    result = sandbox.middle("auto-dispatch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"dispatched {REF}"), result.stdout
    assert [e["ref"] for e in sandbox.events("dispatch.auto")] == [REF]
    wait_until(lambda: implementations(sandbox)[0]["state"] == "waiting-human", timeout=60)


def test_on_github_the_recommender_ranks_epics_only_and_auto_dispatch_skips_held_ones(
    sandbox: Sandbox,
    github: FakeGitHub,  # noqa: F811
) -> None:
    """#108 (sub-issues) is labelled needs-design, #120 is labelled epic, #121 is a plain
    issue. Seen red: #121 and #108 were ranked, and auto-dispatch took #108."""
    state = github.read()
    state["issues"][EPIC]["labels"] = ["approved", "needs-design"]
    for number, labels in (("120", ["approved", "epic"]), ("121", ["approved"])):
        state["issues"][number] = {"title": f"Issue {number}", "body": "- [ ] it works",
                                   "labels": labels}  # fmt: skip
    github.write(state)
    policy = sandbox.repo / ".middle" / "policy.toml"
    policy.write_text(policy.read_text() + "\n[recommender]\nauto_dispatch = true\n")
    git(sandbox.repo, "commit", "-q", "-am", "auto")
    sandbox.script({"do": "done"}, {"do": "hang"})
    assert sandbox.middle("init").returncode == 0
    assert sandbox.middle("recommend", "--agent", "command").returncode == 0
    issues = github.read()["issues"]
    (number,) = [n for n, i in issues.items() if STATE_LABEL in i.get("labels", [])]
    plan = parse(issues[number]["body"])
    assert [row.ref for row in plan.ready] == ["120"]
    assert [(e.ref, e.category) for e in plan.excluded] == [(EPIC, "needs-design label")]
    first = ReadyRow(1, EPIC, "Retry failed webhooks", "command", 2, "ranked by hand")
    ranked = [first, *(replace(row, rank=row.rank + 1) for row in plan.ready)]
    state = github.read()
    state["issues"][number]["body"] = render(replace(plan, ready=tuple(ranked)))
    github.write(state)
    result = sandbox.middle("auto-dispatch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dispatched 120"), result.stdout
    wait_until(lambda: implementations(sandbox)[0]["state"] == "running", timeout=60)
    assert sandbox.middle("cancel", "--issue", "120").returncode == 0
