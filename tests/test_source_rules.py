"""Source checks for the founding rule: they fail the build if the rule is broken anywhere.

Seen red: adding `db["workflows"].insert(row, ignore=True)` to `middle/app/status.py` fails
both tests below; removing it turns them green again.
"""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "middle"
BLANKET = re.compile(r"INSERT\s+OR\s+(IGNORE|REPLACE)|\b(ignore|replace)\s*=\s*True", re.I)
RECORD_CREATING_CALL = re.compile(
    r"[\])]\.(insert|insert_all|upsert|upsert_all)\("
)  # db["t"].insert(


def python_files() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_no_blanket_ignore_or_replace_insert_anywhere_in_middle() -> None:
    offenders = [
        f"{path.relative_to(SOURCE.parent)}:{number}: {line.strip()}"
        for path in python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BLANKET.search(line)
    ]
    assert offenders == []


def test_every_insert_goes_through_insert_idempotent() -> None:
    """The only INSERT statement in middle/ is the one in `insert_idempotent`."""
    inserts = [
        f"{path.relative_to(SOURCE.parent)}:{number}"
        for path in python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bINSERT\s+INTO\b", line) or RECORD_CREATING_CALL.search(line)
    ]
    assert len(inserts) == 1 and inserts[0].startswith("middle/store/records.py"), inserts
