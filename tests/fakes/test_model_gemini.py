"""The scripted model server's Gemini API dialect, driven with plain HTTP the way the real
Gemini CLI 0.61.0 calls it (bodies shaped as it sends them)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.model_gemini import daily_quota_turn
from tests.fakes.model_server import ModelServer
from tests.fakes.test_model_server import post

STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
CONTEXT = "<session_context>\nThis is the Gemini CLI.\n</session_context>"
SHELL = [{"functionDeclarations": [{"name": "run_shell_command", "parameters": {}}]}]


def user(*texts: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text} for text in texts]}


def frames(data: bytes) -> list[dict[str, Any]]:
    """The `data:` frames of an SSE body, each a GenerateContentResponse."""
    text = data.decode()
    assert text.endswith("\r\n\r\n")
    return [json.loads(frame.removeprefix("data: ")) for frame in text.split("\r\n\r\n") if frame]


def turn(server: ModelServer, contents: list[dict[str, Any]]) -> dict[str, Any]:
    status, headers, data = post(server, STREAM, {"contents": contents, "tools": SHELL})
    assert (status, headers["Content-Type"]) == (200, "text/event-stream")
    (frame,) = frames(data)
    (candidate,) = frame["candidates"]
    assert candidate["finishReason"] == "STOP" and frame["usageMetadata"]["totalTokenCount"]
    (part,) = candidate["content"]["parts"]
    return dict(part)


def test_a_run_turn_calls_the_shell_tool_per_response_then_answers() -> None:
    with ModelServer([{"run": ["echo one", "echo two"], "say": "Finished."}]) as server:
        history = [user(CONTEXT), user("Do it")]
        call = turn(server, history)
        assert call == {
            "functionCall": {
                "name": "run_shell_command",
                "args": {"command": "echo one", "description": "Run a scripted command"},
            }
        }
        for output in ("one", "two"):
            response = {"name": "run_shell_command", "response": {"output": output}}
            history += [
                {"role": "model", "parts": [call]},
                {"role": "user", "parts": [{"functionResponse": response}]},
            ]
            call = turn(server, history)
        assert call == {"text": "Finished."}
        assert server.prompts() == ["Do it"]  # the session context is not a prompt
        assert server.tool_outputs() == ["one", "two"]


def test_the_next_prompt_is_the_next_turn_of_the_conversation() -> None:
    with ModelServer([{"say": "first"}, {"say": "second"}]) as server:
        history = [user(CONTEXT), user("One")]
        assert turn(server, history) == {"text": "first"}
        history += [{"role": "model", "parts": [{"text": "first"}]}, user("Two")]
        assert turn(server, history) == {"text": "second"}
        assert server.prompts() == ["One", "Two"]


def test_a_daily_quota_turn_is_the_apis_429_with_its_details() -> None:
    with ModelServer([daily_quota_turn("Quota exceeded", "60s")]) as server:
        status, _, data = post(server, STREAM, {"contents": [user("x")], "tools": SHELL})
    assert status == 429
    error = json.loads(data)["error"]
    assert (error["code"], error["status"], error["message"]) == (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded",
    )
    kinds = {detail["@type"].rpartition(".")[2]: detail for detail in error["details"]}
    assert "PerDay" in kinds["QuotaFailure"]["violations"][0]["quotaId"]
    assert kinds["RetryInfo"]["retryDelay"] == "60s"


def test_side_requests_get_the_json_their_schema_asks_for_and_are_no_turns() -> None:
    """The model router's complexity score and the next-speaker check, as Gemini asks."""
    router = {"properties": {"complexity_reasoning": {}, "complexity_score": {}}}
    speaker = {"properties": {"reasoning": {}, "next_speaker": {}}}
    with ModelServer([{"say": "only"}]) as server:
        answers = []
        for schema in (router, speaker):
            body = {"contents": [user("x")], "generationConfig": {"responseJsonSchema": schema}}
            path = "/v1beta/models/gemini-3.5-flash-lite:generateContent"
            status, _, data = post(server, path, body)
            assert status == 200
            answers.append(json.loads(data)["candidates"][0]["content"]["parts"][0]["text"])
        counted = post(server, "/v1beta/models/m:countTokens", {"contents": [user("x")]})
        assert server.prompts() == []
    assert json.loads(answers[0])["complexity_score"] == 10
    assert json.loads(answers[1])["next_speaker"] == "user"
    assert json.loads(counted[2]) == {"totalTokens": 10}
