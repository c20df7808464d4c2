"""The scripted server's Chat Completions dialect, driven with plain HTTP the way OpenCode's
`@ai-sdk/openai-compatible` provider calls it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.fakes.model_server import ModelServer

PATH = "/v1/chat/completions"
TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {}}}]


def post(
    server: ModelServer, path: str, body: dict[str, Any], key: str = "sk-test"
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    request = urllib.request.Request(
        server.url + path, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def chunks(data: bytes) -> list[Any]:
    """The `data:` frames of an SSE body, `[DONE]` as the string."""
    frames = [frame.removeprefix("data: ") for frame in data.decode().strip().split("\n\n")]
    return [frame if frame == "[DONE]" else json.loads(frame) for frame in frames]


def turn(server: ModelServer, messages: list[dict[str, Any]]) -> list[Any]:
    body = {"model": "m", "stream": True, "tools": TOOLS, "messages": messages}
    status, headers, data = post(server, PATH, body)
    assert (status, headers["Content-Type"]) == (200, "text/event-stream")
    return chunks(data)


def test_a_command_is_one_tool_call_then_the_result_gets_the_answer() -> None:
    with ModelServer([{"run": ["git status"], "say": "Clean."}]) as server:
        user = {"role": "system", "content": "You are opencode."}, {"role": "user", "content": "Go"}
        first = turn(server, list(user))
        assert first[-1] == "[DONE]"
        calls = [c["choices"][0]["delta"].get("tool_calls") for c in first[:-1]]
        named, arguments = (call[0] for call in calls if call)
        assert named["function"]["name"] == "bash" and named["id"].startswith("call_")
        assert json.loads(arguments["function"]["arguments"])["command"] == "git status"
        assert first[-2]["choices"][0]["finish_reason"] == "tool_calls"
        assert first[-2]["usage"]["total_tokens"] > 0

        call = {"id": named["id"], "type": "function", "function": named["function"]}
        history = [
            *user,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": named["id"], "content": "nothing to commit"},
        ]
        second = turn(server, history)
        texts = "".join(c["choices"][0]["delta"].get("content") or "" for c in second[:-1])
        assert texts == "Clean." and second[-2]["choices"][0]["finish_reason"] == "stop"
        assert server.prompts() == ["Go"] and server.tool_outputs() == ["nothing to commit"]


def test_a_request_without_tools_is_the_title_and_no_turn() -> None:
    with ModelServer([{"error": 429, "message": "Rate limit reached"}]) as server:
        status, _, data = post(
            server, PATH, {"model": "m", "messages": [{"role": "user", "content": "Go"}]}
        )
        assert status == 200 and "Scripted task" in data.decode()
        assert server.prompts() == []


def test_an_error_turn_is_the_openai_error_body_with_no_retry() -> None:
    with ModelServer([{"error": 429, "message": "Rate limit reached"}]) as server:
        body = {"model": "m", "tools": TOOLS, "messages": [{"role": "user", "content": "Go"}]}
        status, headers, data = post(server, PATH, body)
    assert (status, headers["x-should-retry"]) == (429, "false")
    error = json.loads(data)["error"]
    assert (error["type"], error["message"]) == ("rate_limit_exceeded", "Rate limit reached")


def test_user_content_as_parts_is_one_prompt() -> None:
    with ModelServer([{"say": "Hi."}]) as server:
        parts = [{"type": "text", "text": "Read "}, {"type": "text", "text": "the brief."}]
        turn(server, [{"role": "user", "content": parts}])
        assert server.prompts() == ["Read the brief."]


def test_a_request_without_an_api_key_is_refused_as_the_real_api_refuses_it() -> None:
    """OpenCode sends `Bearer ` and nothing else when its config's `{env:VAR}` is unset."""
    with ModelServer([{"say": "Hi."}]) as server:
        body = {"model": "m", "tools": TOOLS, "messages": [{"role": "user", "content": "Go"}]}
        status, _, data = post(server, PATH, body, key="")
        assert status == 401 and "API key" in json.loads(data)["error"]["message"]
        assert server.prompts() == []
