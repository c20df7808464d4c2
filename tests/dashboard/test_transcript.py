"""Transcripts as conversations: Claude's JSONL, the stand-in's lines, and junk."""

from __future__ import annotations

import json
from pathlib import Path

from middle.dashboard.transcript import read_transcript

CLAUDE = [
    {"type": "summary", "summary": "Retry queue work"},
    {"type": "user", "message": {"role": "user", "content": "Read the brief."}},
    {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "thinking", "thinking": "plan it"},
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "a.md"}},
            ]
        },
    },
    {
        "type": "user",
        "message": {
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "# Brief"}]
        },
    },
    {"type": "file-history-snapshot", "snapshot": {}},
]


def write(tmp_path: Path, lines: list[object]) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    return path


def test_claude_lines_become_a_conversation_with_tool_calls_folded(tmp_path: Path) -> None:
    transcript = read_transcript(write(tmp_path, CLAUDE))
    assert transcript is not None
    roles = [(e.role, e.text) for e in transcript.entries]
    assert roles == [
        ("summary", "Retry queue work"),
        ("user", "Read the brief."),
        ("assistant", "Reading it."),
    ]
    tools = transcript.entries[2].tools
    assert [t.name for t in tools] == ["thinking", "Read"]
    assert '"path": "a.md"' in tools[1].input and tools[1].result == "# Brief"
    assert transcript.skipped == 1  # the snapshot line


def test_stand_in_lines_and_junk(tmp_path: Path) -> None:
    lines: list[object] = [
        {"type": "user", "text": "go"},
        "not json {",
        [1, 2],
        {"type": "assistant", "text": "done"},
        '{"type": "assistant", "message": {"content": [{"type": "te',  # half-written
    ]
    transcript = read_transcript(write(tmp_path, lines))
    assert transcript is not None
    assert [(e.role, e.text) for e in transcript.entries] == [("user", "go"), ("assistant", "done")]
    assert transcript.skipped == 3


def test_no_file_is_no_transcript(tmp_path: Path) -> None:
    assert read_transcript(None) is None
    assert read_transcript(tmp_path / "missing.jsonl") is None
