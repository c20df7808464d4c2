"""The scripted model's OpenAI Chat Completions dialect (`POST /v1/chat/completions`, SSE),
as OpenCode's `@ai-sdk/openai-compatible` provider speaks it.

The script logic is `model_server.py`'s (`next_action`): this module reads a request's
history into its items and writes the answer as chunks. A request without tools is a side
request (OpenCode titles a session with one) and never counts as a turn. A request with
no API key is refused, as the real API refuses it. The shell tool is
the one the request offers named `bash` (OpenCode: `{command, description, timeout,
workdir}`).
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from tests.fakes import model_wire as wire

TITLE_TEXT = "Scripted task"

Item = tuple[str, str]


class Replier(Protocol):
    """What the server's request handler offers this dialect."""

    headers: Any

    def send_stream(self, data: bytes) -> None: ...

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None: ...

    def error_reply(self, turn: dict[str, Any], error: dict[str, Any]) -> None: ...


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def chat_items(body: dict[str, Any], is_prompt: Any) -> list[Item]:
    """Prompts (user messages) and tool results (`tool` messages), in order."""
    items: list[Item] = []
    for message in body.get("messages", []):
        role = message.get("role")
        text = _text(message.get("content"))
        if role == "user" and is_prompt(text):
            items.append(("prompt", text))
        elif role == "tool":
            items.append(("tool", text))
    return items


def shell_tool(body: dict[str, Any]) -> str:
    names = [(tool.get("function") or {}).get("name") for tool in body.get("tools", [])]
    return "bash" if "bash" in names else str(names[0] if names else "bash")


def chunk(model: str, reply_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": reply_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def chat_stream(model: str, text: str | None, call: tuple[str, dict[str, Any]] | None) -> bytes:
    """One assistant message as SSE chunks: its text, or one tool call (id and name first,
    then its arguments), a finish reason, usage, and `[DONE]`."""
    reply_id = wire.new_id("chatcmpl")
    chunks = [chunk(model, reply_id, {"role": "assistant", "content": ""}, None)]
    if call is not None:
        first = {"index": 0, "id": wire.new_id("call"), "type": "function"}
        chunks += [
            chunk(
                model,
                reply_id,
                {"tool_calls": [{**first, "function": {"name": call[0], "arguments": ""}}]},
                None,
            ),
            chunk(
                model,
                reply_id,
                {"tool_calls": [{"index": 0, "function": {"arguments": json.dumps(call[1])}}]},
                None,
            ),
        ]
        finish = "tool_calls"
    else:
        chunks.append(chunk(model, reply_id, {"content": text or ""}, None))
        finish = "stop"
    last = chunk(model, reply_id, {}, finish)
    last["usage"] = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    frames = [f"data: {json.dumps(c)}\n\n" for c in [*chunks, last]]
    return ("".join(frames) + "data: [DONE]\n\n").encode()


def chat_error(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """The OpenAI error body (a 429's type is `rate_limit_exceeded` unless told)."""
    kind = kind or ("rate_limit_exceeded" if status == 429 else "server_error")
    return {"error": {"message": message, "type": kind, "code": kind, "param": None}}


def answer(handler: Replier, model_server: Any, body: dict[str, Any], is_prompt: Any) -> None:
    """Answer one Chat Completions request from the script. Like the real API, a request
    without a key (`Authorization: Bearer ...`) gets a 401."""
    if not str(handler.headers.get("Authorization", "")).removeprefix("Bearer ").strip():
        error = chat_error(401, "You didn't provide an API key.", "invalid_request_error")
        return handler.reply(401, error, {"x-should-retry": "false"})
    model = str(body.get("model", "scripted"))
    if not body.get("tools"):  # OpenCode's title request
        return handler.send_stream(chat_stream(model, TITLE_TEXT, None))
    action = model_server.answer(chat_items(body, is_prompt))
    if "error" in action:
        error = chat_error(action["error"], action.get("message", ""), action.get("type"))
        return handler.error_reply(action, error)
    if "run" in action:
        call = (shell_tool(body), {"command": action["run"], "description": "Run a command"})
        return handler.send_stream(chat_stream(model, None, call))
    if "say" not in action:  # a file tool: Claude's own
        error = chat_error(400, f"no Chat Completions tool for the scripted {sorted(action)}")
        return handler.reply(400, error, {"x-should-retry": "false"})
    handler.send_stream(chat_stream(model, action["say"], None))
