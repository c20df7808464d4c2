"""The launch command a continuation gets on another machine: the agent CLI's own resume
flag with the workflow row's `session_id`. This is the adapter side of issue 14, which the
engineer owns (middle/agents/); these tests are strict xfails that say exactly what is
expected, and turn red (XPASS) when it lands, so the markers come off then."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.agents.adapters import ClaudeAdapter, CodexAdapter, CommandAdapter

PENDING = pytest.mark.xfail(
    strict=True, raises=TypeError, reason="build_launch_command(resume_session=) not yet there"
)


def contains(argv: list[str], part: list[str]) -> bool:
    return any(argv[i : i + len(part)] == part for i in range(len(argv)))


@PENDING
@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        (ClaudeAdapter({}), ["--resume", "sess-1"]),
        (CodexAdapter({}), ["resume", "sess-1"]),
        (CommandAdapter({"argv": ["agent"], "resume_argv": ["--resume", "{session_id}"]}),
         ["agent", "--resume", "sess-1"]),
    ],
)  # fmt: skip
def test_a_resumed_launch_passes_the_cli_its_session(
    adapter: object, expected: list[str], tmp_path: Path
) -> None:
    argv, _ = adapter.build_launch_command(tmp_path, resume_session="sess-1")  # type: ignore[attr-defined]
    assert contains(argv, expected)
    fresh, _ = adapter.build_launch_command(tmp_path, resume_session=None)  # type: ignore[attr-defined]
    assert "sess-1" not in fresh and "--resume" not in fresh and "resume" not in fresh
