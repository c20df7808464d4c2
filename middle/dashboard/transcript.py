"""An agent's transcript (JSONL) as a conversation: who said what, tool calls folded.

Understands Claude Code's lines (`{"type": "user"|"assistant", "message": {"content": ...}}`
with text, tool_use, tool_result and thinking blocks; `summary` lines) and the stand-in's
`{"type": ROLE, "text": ...}`. Anything else (junk, other line types, a half-written last
line) is skipped and counted, never an error: the file is written by a process we do not
control, while we read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from middle.errors import UNREADABLE_JSON

MAX_BYTES = 2 * 1024 * 1024  # read only the tail of a huge transcript
MAX_TEXT = 20_000


@dataclass
class ToolCall:
    name: str
    input: str
    result: str | None = None


@dataclass
class Entry:
    role: str
    text: str = ""
    tools: list[ToolCall] = field(default_factory=list)


@dataclass
class Transcript:
    entries: list[Entry]
    skipped: int
    truncated: bool


def read_transcript(path: str | Path | None, limit: int = 300) -> Transcript | None:
    """The conversation in the file, its last `limit` entries; None if there is no file."""
    if not path:
        return None
    try:
        with Path(path).open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - MAX_BYTES))
            raw = handle.read()
    except OSError:
        return None
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if size > MAX_BYTES and lines:
        lines = lines[1:]  # the first line was cut in half
    entries: list[Entry] = []
    pending: dict[str, ToolCall] = {}
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except UNREADABLE_JSON:
            skipped += 1
            continue
        if not isinstance(record, dict) or not _take(record, entries, pending):
            skipped += 1
    return Transcript(entries[-limit:], skipped, size > MAX_BYTES or len(entries) > limit)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " …"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def _take(record: dict[str, Any], entries: list[Entry], pending: dict[str, ToolCall]) -> bool:
    """Add what the line says to `entries`; False if it says nothing we show."""
    kind = record.get("type")
    if kind == "summary" and isinstance(record.get("summary"), str):
        entries.append(Entry("summary", _clip(record["summary"])))
        return True
    message = record.get("message")
    if isinstance(message, dict) and kind in ("user", "assistant"):
        return _take_message(str(kind), message.get("content"), entries, pending)
    if isinstance(kind, str) and isinstance(record.get("text"), str):  # the stand-in
        entries.append(Entry(kind[:20], _clip(record["text"])))
        return True
    return False


def _take_message(
    role: str, content: Any, entries: list[Entry], pending: dict[str, ToolCall]
) -> bool:
    if isinstance(content, str):
        entries.append(Entry(role, _clip(content)))
        return True
    if not isinstance(content, list):
        return False
    entry = Entry(role)
    texts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "thinking":
            entry.tools.append(ToolCall("thinking", _clip(str(block.get("thinking", "")))))
        elif kind == "tool_use":
            call = ToolCall(
                str(block.get("name", "tool")),
                _clip(json.dumps(block.get("input", {}), indent=2, ensure_ascii=False)),
            )
            pending[str(block.get("id", ""))] = call
            entry.tools.append(call)
        elif kind == "tool_result":
            result = _clip(_text_of(block.get("content")))
            called = pending.get(str(block.get("tool_use_id", "")))
            if called is not None:
                called.result = result
            else:
                entry.tools.append(ToolCall("tool result", "", result))
    entry.text = _clip("\n".join(texts).strip())
    if not entry.text and not entry.tools:
        return any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    entries.append(entry)
    return True
