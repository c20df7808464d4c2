"""Checks that need the repo's configuration: the parser checks shape, this checks that
the names in a well-formed body are ones this repo can act on."""

from __future__ import annotations

import re
from collections.abc import Iterable

from middle.state_issue.model import StateIssue

_NUMBER = re.compile(r"[1-9]\d*")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_GITHUB_BLOCKER = re.compile(r"(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#[1-9]\d*")


def validate(state: StateIssue, *, adapters: Iterable[str], mode: str) -> list[str]:
    """Every problem with `state` for a repo in `mode` ("github" or "file") whose configured
    adapters are `adapters`; an empty list means it is valid v1."""
    known = set(adapters)
    ref = _NUMBER if mode == "github" else _SLUG
    kind = "an issue number" if mode == "github" else "an Epic slug"
    problems: list[str] = []

    def check_ref(where: str, value: str) -> None:
        if not ref.fullmatch(value):
            problems.append(f"{where}: #{value} is not {kind} ({mode} mode)")

    for row in state.ready:
        check_ref(f"Ready rank {row.rank}", row.ref)
        if row.adapter not in known:
            problems.append(
                f"Ready rank {row.rank}: adapter {row.adapter!r} is not configured "
                f"(one of: {', '.join(sorted(known))})"
            )
    for item in state.needs_human:
        check_ref("Needs human input", item.ref)
    for blocked in state.blocked:
        check_ref("Blocked", blocked.ref)
        blocker = blocked.blocker
        if blocker.is_issue:
            pattern = _GITHUB_BLOCKER if mode == "github" else re.compile(r"#" + _SLUG.pattern)
            if not pattern.fullmatch(blocker.ref):
                problems.append(f"Blocked #{blocked.ref}: blocker {blocker.ref} is not {kind}")
    for flight in state.in_flight:
        if flight.adapter not in known:
            problems.append(
                f"In-flight #{flight.ref}: adapter {flight.adapter!r} is not configured"
            )
    for excluded in state.excluded:
        check_ref("Excluded", excluded.ref)
    return problems
