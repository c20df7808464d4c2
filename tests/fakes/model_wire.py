"""The two model APIs' wire formats, as the real agent CLIs parse them: SSE event sequences
and error bodies for Anthropic Messages (Claude Code) and OpenAI Responses (Codex).

Kept apart from the script logic in `model_server.py` so each file is one concern: this
module knows bytes on the wire, that one knows what the scripted model does next.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

Event = tuple[str, dict[str, Any]]


def sse(events: list[Event]) -> bytes:
    """`event: NAME` / `data: JSON` frames, each ended by a blank line."""
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


# ---- Anthropic Messages ---------------------------------------------------------------------


def anthropic_message(
    model: str, text: str | None, tool: tuple[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """A complete (non-streamed) Messages response: text, or one tool_use block."""
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    if tool is not None:
        content.append(
            {"type": "tool_use", "id": new_id("toolu"), "name": tool[0], "input": tool[1]}
        )
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if tool is not None else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def anthropic_stream(message: dict[str, Any]) -> bytes:
    """The event sequence the real API streams for `message`: message_start, one
    content_block_start/delta/stop triple per block (text_delta or input_json_delta),
    message_delta carrying stop_reason, message_stop."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {"input_tokens": 10, "output_tokens": 1}
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            opening = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            ),
            ("ping", {"type": "ping"}),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse(events)


ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    kind = kind or ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


# ---- OpenAI Responses -----------------------------------------------------------------------


def openai_stream(model: str, text: str | None, call: tuple[str, dict[str, Any]] | None) -> bytes:
    """The Responses API event sequence for one output item: a message streamed as
    output_text deltas, or a function_call streamed as function_call_arguments deltas;
    then response.completed with usage."""
    response_id = new_id("resp")
    base = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "output": [],
    }
    events: list[Event] = [
        (
            "response.created",
            {"type": "response.created", "response": {**base, "status": "in_progress"}},
        ),
        (
            "response.in_progress",
            {"type": "response.in_progress", "response": {**base, "status": "in_progress"}},
        ),
    ]
    if call is not None:
        item_id, arguments = new_id("fc"), json.dumps(call[1])
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "call_id": new_id("call"),
            "name": call[0],
            "arguments": "",
        }
        done_item = {**item, "status": "completed", "arguments": arguments}
        events += [
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": 0, "item": item},
            ),
            (
                "response.function_call_arguments.delta",
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item_id,
                    "output_index": 0,
                    "delta": arguments,
                },
            ),
            (
                "response.function_call_arguments.done",
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": 0,
                    "arguments": arguments,
                },
            ),
        ]
    else:
        item_id, text = new_id("msg"), text or ""
        item = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        part = {"type": "output_text", "text": "", "annotations": []}
        done_part = {**part, "text": text}
        done_item = {**item, "status": "completed", "content": [done_part]}
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        events += [
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": 0, "item": item},
            ),
            (
                "response.content_part.added",
                {"type": "response.content_part.added", **where, "part": part},
            ),
            (
                "response.output_text.delta",
                {"type": "response.output_text.delta", **where, "delta": text},
            ),
            (
                "response.output_text.done",
                {"type": "response.output_text.done", **where, "text": text},
            ),
            (
                "response.content_part.done",
                {"type": "response.content_part.done", **where, "part": done_part},
            ),
        ]
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 20,
    }
    events += [
        (
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        ),
        (
            "response.completed",
            {
                "type": "response.completed",
                "response": {**base, "status": "completed", "output": [done_item], "usage": usage},
            },
        ),
    ]
    for number, (_, data) in enumerate(events):
        data["sequence_number"] = number
    return sse(events)


def openai_error(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """The Responses API error body. For a 429 the default type is `usage_limit_reached`,
    the one Codex treats as final (other 429 types it retries)."""
    kind = kind or ("usage_limit_reached" if status == 429 else "server_error")
    return {"error": {"type": kind, "code": kind, "message": message, "param": None}}
