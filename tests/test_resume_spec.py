"""The launch command a continuation gets on another machine: the agent CLI's own resume
flag with the workflow row's `session_id`. Seen red as strict xfails until the adapters
took `resume_session`."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.agents import BaseAdapter, ClaudeAdapter, CodexAdapter, CommandAdapter


def contains(argv: list[str], part: list[str]) -> bool:
    return any(argv[i : i + len(part)] == part for i in range(len(argv)))


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
    adapter: BaseAdapter, expected: list[str], tmp_path: Path
) -> None:
    argv = adapter.launch_argv(tmp_path, resume_session="sess-1")
    assert contains(argv, expected)
    fresh = adapter.launch_argv(tmp_path, resume_session=None)
    assert "sess-1" not in fresh and "--resume" not in fresh and "resume" not in fresh
