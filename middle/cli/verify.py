"""The tasks that check work against the rubric of issue 19: `audit-issues`."""

from __future__ import annotations

import json

from invoke import Context, Exit

from middle.cli.helpers import ISSUE_HELP, REPO_HELP, middle_task
from middle.cli.helpers import console as _console


@middle_task(
    help={
        "issue": ISSUE_HELP,
        "body-file": "audit a draft issue body (Markdown) instead of a filed issue",
        "label": "when something is flagged, add the needs-design label (GitHub mode)",
        "json": "print machine-readable JSON instead of a table",
        "repo": REPO_HELP,
    }
)
def audit_issues(
    c: Context,
    issue: str = "",
    body_file: str = "",
    label: bool = False,
    json_: bool = False,
    repo: str = ".",
) -> None:
    """Flag acceptance criteria no gate or test could verify (exit 1 if any)."""
    from rich.table import Table
    from rich.text import Text

    from middle.app.audit import audit_issue

    outcome = audit_issue(repo, issue=issue or None, body_file=body_file or None, label=label)
    found = outcome.audit
    if json_:
        print(json.dumps([f.as_dict() for f in found.findings], indent=2))
    else:
        table = Table(title=f"audit of {outcome.subject}", title_justify="left")
        for column in ("", "criterion", "why"):
            table.add_column(column)
        for f in found.findings:
            why = "; ".join(f"{x.rule}: {x.reason}" for x in f.flags) or f.verified_by
            mark = "ok" if f.ok else "flagged"
            subject = f.criterion if f.criterion is not None else "(the issue)"
            table.add_row(mark, Text(subject), Text(why))
        console = _console()
        console.print(table, markup=False)
        console.print(found.summary(), markup=False)
        if outcome.labelled:
            console.print(f"labelled {outcome.subject} {outcome.labelled}", markup=False)
    if not found.ok:
        raise Exit(code=1)
