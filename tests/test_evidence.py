"""Evidence rules (issue 19, item 5): each acceptance criterion needs evidence that holds
in the branch's head commit. Real git for commits and paths.

Seen red: written before `middle/verify/evidence.py` existed (ImportError), then each
refusal below was checked by weakening its rule in the module (a bot's deferral allowed, a
missing test function allowed, an empty section allowed, a failed gate ignored): the test
for that rule failed each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.verify.evidence import (
    EvidenceFacts,
    body_evidence,
    criteria_in_body,
    done_evidence,
    evidence_in_line,
    judge,
    judge_item,
)
from middle.verify.gates import GateResult, parse_gates
from tests.e2e.conftest import git

HUMAN = "https://github.com/o/r/issues/1#issuecomment-11"
BOT = "https://github.com/o/r/issues/1#issuecomment-22"


def deferral(ref: str) -> str | None:
    """A stand-in for the store's check: comment 11 is a trusted human's, 22 a bot's."""
    return None if ref == HUMAN else f"{ref} is not a trusted human's comment"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / "tests" / "e2e").mkdir(parents=True)
    (path / "tests" / "test_x.py").write_text("def test_y():\n    pass\n\n\ndef helper():\n")
    (path / "tests" / "e2e" / "test_flow.py").write_text("def test_flow():\n    pass\n")
    (path / "src.py").write_text("one\ntwo\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def facts(repo: Path, **more: object) -> EvidenceFacts:
    return EvidenceFacts(repo, git(repo, "rev-parse", "HEAD"), deferral, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("evidence", "why"),
    [
        ("https://example.com/run/1", ""),
        ("#12", ""),
        ("src.py", ""),
        ("src.py:2", ""),
        ("`src.py:2`", ""),
        ("src.py:3", "src.py has no line 3"),
        ("tests/test_x.py::test_y", ""),
        ("tests/test_x.py::test_y[case-1]", ""),
        ("tests/test_x.py::test_missing", "tests/test_x.py defines no test_missing"),
        ("tests/test_x.py::helper_y", "defines no helper_y"),
        ("tests/test_gone.py::test_y", "no file tests/test_gone.py"),
        ("docs/made-up.md", "no file docs/made-up.md"),
        ("tests", "no file tests"),  # a folder is not a file
        ("../outside.py", "not evidence"),
        ("trust me", "not evidence"),
        (f"(deferred: {HUMAN})", ""),
        (f"(deferred: {BOT})", "not a trusted human's comment"),
        ("deadbeefcafe", "not a commit on the branch"),
    ],
)
def test_the_rules_table(repo: Path, evidence: str, why: str) -> None:
    item = judge_item(evidence, facts(repo))
    assert (item.why == "") if not why else (why in item.why), item


def test_a_commit_must_be_on_the_branch(repo: Path) -> None:
    on = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "other")
    git(repo, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    off = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    assert judge_item(on[:10], facts(repo)).holds
    assert "not a commit on the branch" in judge_item(off[:10], facts(repo)).why


def test_a_test_that_a_failing_gate_ran_is_refused(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (named,) = parse_gates({"gate": [{"name": "unit", "command": "pytest tests/test_x.py"}]}, "v")
    failed = GateResult("unit", "unit", "failed", 1.0, head, "1 failed")
    item = judge_item("tests/test_x.py::test_y", facts(repo, failing=[(named, failed)]))
    assert "gate 'unit', which runs it, failed" in item.why
    (other,) = parse_gates({"gate": [{"name": "lint", "command": "ruff check ."}]}, "v")
    tail = "FAILED tests/test_x.py::test_y - assert 1 == 2"
    said = GateResult("lint", "unit", "failed", 1.0, head, tail)
    assert (
        "gate 'lint'"
        in judge_item("tests/test_x.py::test_y", facts(repo, failing=[(other, said)])).why
    )
    quiet = GateResult("lint", "unit", "failed", 1.0, head, "E501 line too long")
    assert judge_item("tests/test_x.py::test_y", facts(repo, failing=[(other, quiet)])).holds


def test_an_empty_criteria_section_is_refused(repo: Path) -> None:
    verdict = judge([], {}, facts(repo))
    assert not verdict.ok
    assert "deleting it does not pass" in verdict.report()
    body = "## Summary\n\nAll done.\n\n## Acceptance criteria\n\n"
    assert not judge(criteria_in_body(body), {}, facts(repo)).ok


def test_every_named_item_must_hold_and_the_report_names_each_criterion(repo: Path) -> None:
    verdict = judge(
        ["Retries back off", "Docs updated", "Errors logged"],
        {"Retries back off": ["#3", "docs/made-up.md"], "Docs updated": ["src.py"]},
        facts(repo),
    )
    assert [j.criterion for j in verdict.lacking] == ["Retries back off", "Errors logged"]
    report = verdict.report()
    assert '"Retries back off" (docs/made-up.md: no file docs/made-up.md' in report
    assert '"Errors logged" (no evidence given)' in report
    assert "\n" not in report


def test_the_pr_body_follows_the_reference_rules(repo: Path) -> None:
    body = (
        "Intro\n- not a criterion\n\n## Acceptance Criteria\n"
        f"- [x] Retries back off: `tests/test_x.py::test_y`\n"
        f"* Docs updated (deferred: {HUMAN})\n"
        "- [ ] `middle status` shows it — see #12 and https://ci.example/1\n"
        "  - [ ] nested, still an item\n"
        "## Notes\n- not a criterion either\n"
    )
    assert criteria_in_body(body) == [
        "Retries back off: `tests/test_x.py::test_y`",
        f"Docs updated (deferred: {HUMAN})",
        "`middle status` shows it — see #12 and https://ci.example/1",
        "nested, still an item",
    ]
    assert evidence_in_line(criteria_in_body(body)[2]) == ["https://ci.example/1", "#12"]
    criteria = ["Retries back off", "Docs updated", "`middle status` shows it", "nested"]
    verdict = judge(criteria, body_evidence(body, criteria), facts(repo))
    assert [j.criterion for j in verdict.lacking] == ["nested"]  # its own words are no evidence
    docs = ["Docs"]
    bot = judge(
        docs, body_evidence(f"## Acceptance\n- Docs (deferred: {BOT})\n", docs), facts(repo)
    )
    assert "not a trusted human's comment" in bot.report()


def test_require_integration(repo: Path) -> None:
    unit = {"A": ["tests/test_x.py::test_y"]}
    assert judge(["A"], unit, facts(repo)).ok
    assert (
        "integration or e2e" in judge(["A"], unit, facts(repo), require_integration=True).report()
    )
    e2e = {"A": ["tests/e2e/test_flow.py::test_flow"]}
    assert judge(["A"], e2e, facts(repo), require_integration=True).ok
    exempt = {"A": ["#4", f"(integration-exempt: {HUMAN})"]}
    assert judge(["A"], exempt, facts(repo), require_integration=True).ok
    by_bot = {"A": ["#4", f"(integration-exempt: {BOT})"]}
    assert not judge(["A"], by_bot, facts(repo), require_integration=True).ok
    only_exempt = {"A": [f"(integration-exempt: {HUMAN})"]}  # not evidence for A itself
    assert not judge(["A"], only_exempt, facts(repo), require_integration=True).ok


def test_done_json_evidence_matches_criteria_by_text() -> None:
    done = {
        "summary": "s",
        "evidence": [
            {"criterion": "retries  BACK off", "evidence": "#3"},
            {"criterion": "Retries back off", "evidence": ["src.py", ""]},
            {"criterion": "Not a criterion", "evidence": "#9"},
            "junk",
            {"criterion": "Docs updated"},
        ],
    }
    assert done_evidence(done, ["Retries back off", "Docs updated"]) == {
        "Retries back off": ["#3", "src.py"]
    }
    assert done_evidence({"evidence": "not a list"}, ["A"]) == {}


def test_the_verify_table_is_typed_and_evidence_defaults_to_the_verify_file(
    tmp_path: Path,
) -> None:
    """Seen red: `[verify]` was an unknown table, so `evidence = "off"` was refused."""
    from middle.config import load_config
    from middle.errors import ConfigError
    from middle.verify.evidence import EvidencePolicy, evidence_policy

    (tmp_path / "config.toml").write_text('[verify]\nevidence = "sometimes"\n')
    with pytest.raises(ConfigError, match=r"\[verify\] evidence = 'sometimes': expected"):
        load_config(tmp_path)
    off = '[verify]\nevidence = "off"\nrequire_integration = true\n'
    (tmp_path / "config.toml").write_text(off)
    config = load_config(tmp_path)
    assert evidence_policy(config, has_verify_file=True) == EvidencePolicy(False, True)
    assert evidence_policy({}, has_verify_file=True) == EvidencePolicy(True, False)
    assert evidence_policy({}, has_verify_file=False) == EvidencePolicy(False, False)
