"""Per-phase gates (issue 19, items 3 and 4): which gates judge a phase, which phases were
just ticked, running them on a clean checkout, the PR body's `## Status` checkboxes, and
the Epic file's sub-issue line and evidence block. Real git, real processes, real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.app.demo import REF, sample_epic
from middle.issues.epic_file import parse_epic
from middle.issues.file_store import FileIssueStore
from middle.issues.github_phases import status_checkboxes, untick
from middle.verify.checkout import head_of, leased_checkout
from middle.verify.gates import GateResult, parse_gates
from middle.verify.phases import PhaseRun, gates_of_phase, newly_ticked, run_phase_gates
from tests.e2e.conftest import git

GATES = parse_gates(
    {
        "gate": [
            {"name": "every", "command": "true"},
            {"name": "queue", "command": "test -f QUEUE", "phases": ["#1"]},
            {"name": "docs", "command": "true", "phases": ["docs-phase", 3]},
        ]
    },
    "verify.toml",
)


def test_a_phase_is_judged_by_the_gates_that_name_it_and_those_that_name_none() -> None:
    """Seen red with `phases` ignored (every gate for every phase)."""
    assert [g.name for g in gates_of_phase(GATES, "1")] == ["every", "queue"]
    assert [g.name for g in gates_of_phase(GATES, "#1")] == ["every", "queue"]
    assert [g.name for g in gates_of_phase(GATES, "3")] == ["every", "docs"]
    assert [g.name for g in gates_of_phase(GATES, "docs-phase")] == ["every", "docs"]
    assert [g.name for g in gates_of_phase(GATES, "2")] == ["every"]


def test_only_a_checkbox_that_went_from_unchecked_to_checked_is_new() -> None:
    before = {"1": True, "2": False}
    assert newly_ticked(before, {"1": True, "2": True, "3": True, "4": False}) == ["2", "3"]
    assert newly_ticked(before, {"1": False, "2": False}) == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "README.md").write_text("hi\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def test_a_phases_gates_run_on_the_committed_head_not_on_untracked_files(
    repo: Path, tmp_path: Path
) -> None:
    """Seen red (the phase's gates run in the main checkout): the untracked QUEUE there
    passed phase 1's gate."""
    (repo / "QUEUE").write_text("not committed\n")
    head = head_of(repo, "main")
    with leased_checkout(tmp_path / "home", repo) as checkout:
        run = run_phase_gates(GATES, "#1", checkout, head)
    assert run.phase == "1" and run.head == head and not run.passed
    assert [(r.gate, r.result) for r in run.results] == [("every", "passed"), ("queue", "failed")]
    assert "Phase #1 is not done" in run.report() and "queue [unit] failed" in run.report()
    git(repo, "add", "QUEUE")
    git(repo, "commit", "-q", "-m", "queue")
    with leased_checkout(tmp_path / "home", repo) as checkout:
        assert run_phase_gates(GATES, "1", checkout, head_of(repo, "main")).passed


def test_gate_runs_at_once_each_lease_a_checkout_of_their_own_and_keep_it(
    repo: Path, tmp_path: Path
) -> None:
    """Seen red with one checkout per repo and no lock: the second lease got the path
    the first one was still judging."""
    home = tmp_path / "home"
    with leased_checkout(home, repo) as first, leased_checkout(home, repo) as second:
        assert first.path != second.path
        first.at(head_of(repo, "main"))
    with leased_checkout(home, repo) as again:
        assert again.path == first.path and (again.path / "README.md").exists()  # kept


STATUS = """Work on the Epic.

```md
## Status
- [x] #7 an example in a template
```

## Status
- [x] #12 Retry queue
- [ ] #13 Backoff
* [X] #14 Docs

## Notes
- [x] #12 mentioned again
"""


def test_the_pr_bodys_status_section_is_read_and_unticked_and_nothing_else() -> None:
    """The first real `## Status` section only: never a fenced example, never another
    section. Seen red with the whole body read (the fenced #7 counted)."""
    assert status_checkboxes(STATUS) == {"12": True, "13": False, "14": True}
    unticked = untick(STATUS, "12")
    assert status_checkboxes(unticked) == {"12": False, "13": False, "14": True}
    assert unticked.replace("- [ ] #12 Retry", "- [x] #12 Retry") == STATUS
    assert "- [x] #12 mentioned again" in unticked and "- [x] #7 an example" in unticked
    assert status_checkboxes("no status here\n- [x] #1") == {}


def failed_run(phase: str, head: str = "a" * 40, tail: str = "1 failed") -> PhaseRun:
    result = GateResult("queue", "unit", "failed", 1.25, head, tail)
    return PhaseRun(phase, head, (GateResult("every", "unit", "passed", 0.1, head, ""), result))


def epic_store(tmp_path: Path, text: str | None = None) -> FileIssueStore:
    (tmp_path / "planning" / "epics").mkdir(parents=True)
    (tmp_path / "planning" / "epics" / f"{REF}.md").write_text(text or sample_epic())
    return FileIssueStore(tmp_path)


def test_an_epics_failed_phase_is_unticked_and_the_failure_said_in_the_file(
    tmp_path: Path,
) -> None:
    """Seen red before `revert_phase` existed in file mode (the base's no-op): the
    sub-issue stayed ticked."""
    store = epic_store(tmp_path, sample_epic().replace("- [ ] **1 —", "- [x] **1 —"))
    assert store.phase_marks(REF, "middle/issue-x") == {"1": True}
    store.revert_phase(REF, "middle/issue-x", failed_run("1", tail="E: queue missing"))
    text = store.path(REF).read_text()
    assert store.phase_marks(REF, "middle/issue-x") == {"1": False}
    assert "kind=phase_gates_failed" in text and "E: queue missing" in text
    assert "queue [unit] failed" in text
    assert parse_epic(text).render() == text


def test_an_epics_phase_evidence_is_one_block_edited_in_place(tmp_path: Path) -> None:
    """Two gate runs of one phase leave one evidence block, saying the latest; another
    phase gets its own. Seen red with `append_event` (a second block per run)."""
    store = epic_store(tmp_path)
    store.publish_phase_evidence(REF, "b", failed_run("1", head="a" * 40))
    store.publish_phase_evidence(REF, "b", PhaseRun("1", "b" * 40, ()))
    store.publish_phase_evidence(REF, "b", failed_run("2", head="c" * 40))
    text = store.path(REF).read_text()
    assert text.count("kind=gate_evidence") == 2
    assert f"phase #1 on commit {'b' * 12}: passed" in text and "a" * 12 not in text
    assert f"phase #2 on commit {'c' * 12}: failed" in text
    assert "| queue | unit | failed | 1.2s |" in text or "| queue | unit | failed | 1.3s |" in text
    assert parse_epic(text).render() == text
