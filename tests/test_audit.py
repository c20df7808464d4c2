"""The audit rubric (`middle/verify/audit.py`): which criteria no gate or test could verify.

Seen red: before the rubric existed, `from middle.verify.audit import ...` failed to import,
so every test here failed."""

from __future__ import annotations

import pytest

from middle.verify.audit import RULES, audit, audit_criterion, is_integration_criterion
from middle.verify.gates import Gate

LINT = Gate("lint", ("sh", "-c", "ruff check ."))


@pytest.mark.parametrize(
    ("criterion", "rules"),
    [
        ("The dashboard is user-friendly", ["vague", "untestable"]),
        ("It works well and is robust", ["vague", "untestable"]),
        ("The code is clean", ["vague", "untestable"]),
        ("Search is fast", ["unmeasured", "untestable"]),
        ("Search is fast: p95 under 200 ms on 5,000 files", []),
        ("`middle status --json` prints one object per run", []),
        ("A bad ref exits 1 with one line naming it", []),
        ("Writes planning/epics/x.md", []),
        ("The import is fast and robust", ["vague", "unmeasured", "untestable"]),
        ("The lint gate passes, so the code is clean", []),  # a gate answers vague
        ("`ruff check .` is clean", []),  # the gate's command
        ("Everything feels better", ["vague", "untestable"]),
    ],
)
def test_each_rule_flags_what_it_names(criterion: str, rules: list[str]) -> None:
    finding = audit_criterion(criterion, [LINT])
    assert [flag.rule for flag in finding.flags] == rules
    assert all(flag.reason for flag in finding.flags)  # every flag says why


def test_a_criterion_naming_a_gate_says_which() -> None:
    assert audit_criterion("The lint gate passes", [LINT]).verified_by == "gate lint"
    assert audit_criterion("The lint gate passes", []).verified_by == ""


@pytest.mark.parametrize(
    ("criterion", "integration"),
    [
        ("`middle audit-issues` exits 1; an e2e test drives the CLI", True),
        ("The daemon serves /health; a smoke test boots the daemon", True),
        ("An integration test covers the parser", False),  # no wiring into the product
        ("`middle status` prints the table", False),  # no real-path test
    ],
)
def test_the_references_integration_criterion(criterion: str, integration: bool) -> None:
    assert is_integration_criterion(criterion) is integration


def test_an_issue_with_no_integration_criterion_is_flagged_unless_exempt() -> None:
    criteria = ["`middle status` prints the table"]
    flagged = audit(criteria)
    assert not flagged.ok
    assert [f.flags[0].rule for f in flagged.findings if f.criterion is None] == ["no-integration"]
    assert audit(criteria, body="integration-exempt: docs only").ok


def test_an_issue_with_no_criteria_is_flagged() -> None:
    found = audit([])
    assert [f.flags[0].rule for f in found.flagged] == ["no-criteria"]
    assert found.summary() == "0 criteria: 0 ok, 0 flagged; the issue: no-criteria"


def test_the_rubric_is_a_small_table_with_a_reason_each() -> None:
    assert [rule.name for rule in RULES] == [
        "vague",
        "unmeasured",
        "untestable",
        "no-criteria",
        "no-integration",
    ]
    assert all(rule.reason for rule in RULES)
