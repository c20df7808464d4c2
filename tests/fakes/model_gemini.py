"""The Gemini API dialect of the scripted model server, as the real Gemini CLI calls it.

- `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`: the main model. Each SSE
  frame is `data: <GenerateContentResponse JSON>`; a turn's reply is one frame holding a
  text part, or one `functionCall` part (the shell tool, `run_shell_command {command}`),
  with `finishReason: "STOP"` and usage.
- `POST /v1beta/models/<model>:generateContent`: the CLI's side requests, never turns,
  each answered by the JSON its `responseJsonSchema` asks for (the model router's
  complexity score, the next-speaker check: the user speaks next), or plain text.
- `POST …:countTokens`: a count.
- An `error` turn answers with the API's error body, `{"error": {"code", "message",
  "status"}}` (429: `RESOURCE_EXHAUSTED`), its `fields` merged in (`daily_quota_turn`
  makes the one the CLI takes for a usage limit).

The history (`contents`) is read as the other dialects read theirs: a `user` text part is a
prompt unless it is context the CLI injects (`<session_context>`, ...); a `functionResponse`
part is a tool output.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from tests.fakes import model_server

GEMINI_ROUTES = (":streamGenerateContent", ":generateContent", ":countTokens")
SHELL_TOOL = "run_shell_command"
# User text the Gemini CLI injects into the history itself.
INJECTED = ("<session_context>", "<system-reminder>", "<hook_context>")
USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class Handler(Protocol):
    """What this dialect needs of the server's request handler."""

    model: model_server.ModelServer

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None: ...

    def send_stream(self, data: bytes) -> None: ...


def is_gemini(route: str) -> bool:
    return route.endswith(GEMINI_ROUTES)


def gemini_items(body: dict[str, Any]) -> list[model_server.Item]:
    """Prompts and tool outputs of a request's `contents`, in order."""
    items: list[model_server.Item] = []
    for content in body.get("contents", []):
        if content.get("role", "user") != "user":
            continue
        texts = []
        for part in content.get("parts", []):
            if "functionResponse" in part:
                response = part["functionResponse"].get("response", {})
                items.append(("tool", tool_output(response)))
            elif isinstance(part.get("text"), str) and not part.get("thought"):
                text = part["text"]
                if model_server.is_prompt(text) and not text.lstrip().startswith(INJECTED):
                    texts.append(text)
        if texts:
            items.append(("prompt", "\n".join(texts)))
    return items


def tool_output(response: Any) -> str:
    """A `functionResponse.response`: `{"output": ...}` (or `{"error": ...}`), as text."""
    if isinstance(response, dict):
        for key in ("output", "error", "content"):
            if isinstance(response.get(key), str):
                return str(response[key])
    return json.dumps(response)


def gemini_chunk(model: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One GenerateContentResponse: a candidate with `parts`, finished, with usage."""
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": USAGE,
        "modelVersion": model,
        "responseId": model_server.wire.new_id("resp"),
    }


def gemini_stream(model: str, text: str | None, call: tuple[str, dict[str, Any]] | None) -> bytes:
    """The SSE body of `streamGenerateContent?alt=sse` for a text or a function call."""
    if call is not None:
        parts: list[dict[str, Any]] = [{"functionCall": {"name": call[0], "args": call[1]}}]
    else:
        parts = [{"text": text or ""}]
    return f"data: {json.dumps(gemini_chunk(model, parts))}\r\n\r\n".encode()


def gemini_error(status: int, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's error body, `fields` (e.g. `details`) merged into its error object."""
    error = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    return {"error": {**error, **(fields or {})}}


def daily_quota_turn(message: str, retry_delay: str = "3600s") -> dict[str, Any]:
    """An `error` turn that is a usage limit to the Gemini CLI: a 429 whose QuotaFailure
    names a per-day quota (the CLI retries any other 429 for minutes), with a RetryInfo."""
    violation = {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    ]
    return {"error": 429, "message": message, "fields": {"details": details}}


def side_answer(body: dict[str, Any]) -> str:
    """What a side request's JSON schema asks for: a low complexity score for the model
    router, "user" for the next-speaker check; plain text otherwise."""
    config = body.get("generationConfig") or {}
    schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
    properties = schema.get("properties") or {}
    if "complexity_score" in properties:
        return json.dumps({"complexity_reasoning": "Scripted.", "complexity_score": 10})
    if "next_speaker" in properties:
        return json.dumps({"reasoning": "The turn is over.", "next_speaker": "user"})
    if properties:
        return json.dumps({name: "Scripted" for name in properties})
    return "Scripted."


def answer(handler: Handler, route: str, body: dict[str, Any]) -> None:
    """Serve one Gemini API request (`route` is the path without its query)."""
    model = route.rpartition("/")[2].partition(":")[0] or "gemini"
    if route.endswith(":countTokens"):
        return handler.reply(200, {"totalTokens": 10})
    if route.endswith(":generateContent"):
        return handler.reply(200, gemini_chunk(model, [{"text": side_answer(body)}]))
    action = handler.model.answer(gemini_items(body))
    if "error" in action:
        error = gemini_error(action["error"], action.get("message", ""), action.get("fields"))
        return handler.reply(action["error"], error, action.get("headers", {}))
    if "run" in action:
        call = (SHELL_TOOL, {"command": action["run"], "description": "Run a scripted command"})
        return handler.send_stream(gemini_stream(model, None, call))
    if "say" not in action:  # a file tool: Claude's own
        error = gemini_error(400, f"no Gemini tool for the scripted {sorted(action)}")
        return handler.reply(400, error)
    handler.send_stream(gemini_stream(model, action["say"], None))
