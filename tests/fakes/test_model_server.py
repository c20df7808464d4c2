"""The scripted model server, driven with plain HTTP the way the real CLIs call it."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fakes.model_server import ModelServer

REMINDER = "<system-reminder>\ncontext\n</system-reminder>\n"
BASH = [{"name": "Bash", "input_schema": {"type": "object"}}]
CODEX_TOOLS = [{"type": "function", "name": "exec_command", "parameters": {}}]


def post(server: ModelServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body into (event name, data) pairs."""
    parsed = []
    for frame in data.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def claude_user(*texts: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text} for text in texts]}


def claude_turn(server: ModelServer, messages: list[dict[str, Any]]) -> list[Any]:
    status, _, data = post(
        server,
        "/v1/messages?beta=true",
        {"model": "m", "stream": True, "tools": BASH, "messages": messages},
    )
    assert status == 200
    return events(data)


def content_of(stream: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], str, str]:
    """(first content block as started, its streamed delta, the stop_reason)."""
    start = next(data for name, data in stream if name == "content_block_start")
    delta = next(data for name, data in stream if name == "content_block_delta")["delta"]
    stop = next(data for name, data in stream if name == "message_delta")["delta"]
    text = delta.get("text", delta.get("partial_json"))
    return start["content_block"], text, stop["stop_reason"]


def test_anthropic_run_turn_streams_one_bash_call_per_response_then_the_answer() -> None:
    with ModelServer([{"run": ["echo one", "echo two"], "say": "Finished."}]) as server:
        history: list[dict[str, Any]] = [claude_user(REMINDER, "Do it")]
        stream = claude_turn(server, history)
        assert [name for name, _ in stream] == [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        block, partial, stop = content_of(stream)
        assert (block["type"], block["name"], block["input"], stop) == (
            "tool_use",
            "Bash",
            {},
            "tool_use",
        )
        assert json.loads(partial)["command"] == "echo one"
        for output, expected in (("one", "echo two"), ("two", None)):
            history += [
                {"role": "assistant", "content": [{**block, "input": json.loads(partial)}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": block["id"], "content": output},
                        {"type": "text", "text": REMINDER},
                    ],
                },
            ]
            block, partial, stop = content_of(claude_turn(server, history))
            if expected:
                assert json.loads(partial)["command"] == expected
        assert (block["type"], partial, stop) == ("text", "Finished.", "end_turn")
        assert server.prompts() == ["Do it"]
        assert server.tool_outputs() == ["one", "two"]


def test_anthropic_counts_user_prompts_only_after_a_trailing_system_message() -> None:
    """Seen red: with `<system-reminder>` not filtered, the reminder-only message counted as
    a second prompt and the model answered from turns[1]."""
    with ModelServer([{"say": "first"}, {"say": "second"}]) as server:
        history = [claude_user(REMINDER, "One"), {"role": "system", "content": "agents..."}]
        assert content_of(claude_turn(server, history))[1] == "first"
        history += [
            {"role": "assistant", "content": [{"type": "text", "text": "first"}]},
            claude_user(REMINDER),
            claude_user("Two"),
        ]
        assert content_of(claude_turn(server, history))[1] == "second"
        history += [{"role": "assistant", "content": "second"}, {"role": "user", "content": "3"}]
        assert content_of(claude_turn(server, history))[1] == "Done."
        assert server.prompts() == ["One", "Two", "3"]


def test_anthropic_error_turn_uses_the_api_error_shape_and_no_retry_headers() -> None:
    with ModelServer([{"error": 429, "message": "Slow down"}]) as server:
        status, headers, data = post(
            server,
            "/v1/messages?beta=true",
            {"stream": True, "tools": BASH, "messages": [claude_user("x")]},
        )
    assert status == 429
    assert json.loads(data) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down"},
    }
    assert headers["x-should-retry"] == "false"


def test_anthropic_side_requests_never_count_as_turns() -> None:
    with ModelServer([{"say": "only"}]) as server:
        head = urllib.request.Request(server.url + "/", method="HEAD")
        with urllib.request.urlopen(head, timeout=10) as response:
            assert response.status == 200
        title_schema = {
            "format": {
                "type": "json_schema",
                "schema": {"properties": {"title": {"type": "string"}}},
            }
        }
        _, _, data = post(
            server,
            "/v1/messages?beta=true",
            {
                "stream": True,
                "output_config": title_schema,
                "messages": [claude_user("<session>\nDo it\n</session>")],
            },
        )
        assert json.loads(content_of(events(data))[1]) == {"title": "Scripted task"}
        _, _, data = post(
            server,
            "/v1/messages?beta=true",
            {"system": "classifier", "messages": [claude_user("Bash: ls")]},
        )
        assert json.loads(data)["content"][0]["text"].startswith("<block>no</block>")
        status, _, data = post(
            server, "/v1/messages/count_tokens?beta=true", {"messages": [claude_user("x")]}
        )
        assert status == 200 and "input_tokens" in json.loads(data)
        assert content_of(claude_turn(server, [claude_user("Do it")]))[1] == "only"
        assert server.prompts() == ["Do it"]


def codex_request(input_items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt", "stream": True, "tools": CODEX_TOOLS, "input": input_items, **extra}


def codex_user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def final_item(stream: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    done = [data["item"] for name, data in stream if name == "response.output_item.done"]
    completed = [data for name, data in stream if name == "response.completed"]
    assert len(done) == 1 and completed[0]["response"]["usage"]["total_tokens"] > 0
    return done[0]


def test_openai_run_turn_calls_exec_command_then_answers() -> None:
    with ModelServer([{"run": ["echo hi"], "say": "Finished."}]) as server:
        history = [
            codex_user("<environment_context>cwd</environment_context>"),
            codex_user("Do it"),
        ]
        status, _, data = post(server, "/v1/responses", codex_request(history))
        stream = events(data)
        assert status == 200
        assert [name for name, _ in stream] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
        call = final_item(stream)
        assert (call["type"], call["name"], json.loads(call["arguments"])) == (
            "function_call",
            "exec_command",
            {"cmd": "echo hi"},
        )
        history += [
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Output:\nhi\n"},
        ]
        message = final_item(events(post(server, "/v1/responses", codex_request(history))[2]))
        assert message["content"][0] == {
            "type": "output_text",
            "text": "Finished.",
            "annotations": [],
        }
        assert server.prompts() == ["Do it"]
        assert server.tool_outputs() == ["Output:\nhi\n"]


def test_openai_title_request_is_not_a_turn() -> None:
    """Codex 0.171 sends the title request with `tools: []` and a `text.format` schema."""
    title = {"format": {"type": "json_schema", "schema": {"properties": {"title": {}}}}}
    with ModelServer([{"say": "first"}]) as server:
        request = codex_request([codex_user("Generate a concise title\nDo it")], text=title)
        item = final_item(events(post(server, "/v1/responses", {**request, "tools": []})[2]))
        assert json.loads(item["content"][0]["text"]) == {"title": "Scripted task"}
        item = final_item(
            events(post(server, "/v1/responses", codex_request([codex_user("Do it")]))[2])
        )
        assert item["content"][0]["text"] == "first"
        assert server.prompts() == ["Do it"]


@pytest.mark.parametrize(
    ("turn", "error"),
    [
        (
            {"error": 429, "message": "Limit"},
            {
                "type": "usage_limit_reached",
                "code": "usage_limit_reached",
                "message": "Limit",
                "param": None,
            },
        ),
        (
            {
                "error": 429,
                "message": "Busy",
                "type": "rate_limit_exceeded",
                "fields": {"resets_at": 9},
            },
            {
                "type": "rate_limit_exceeded",
                "code": "rate_limit_exceeded",
                "message": "Busy",
                "param": None,
                "resets_at": 9,
            },
        ),
    ],
)
def test_openai_error_turn_uses_the_api_error_shape(
    turn: dict[str, Any], error: dict[str, Any]
) -> None:
    with ModelServer([turn]) as server:
        status, _, data = post(server, "/v1/responses", codex_request([codex_user("x")]))
    assert (status, json.loads(data)) == (429, {"error": error})


def test_a_new_conversation_starts_at_the_first_turn_and_keeps_the_ledger_in_order() -> None:
    """Seen red: with the ledger recording each request's whole history, the re-sent prompt
    "A" appeared twice."""
    with ModelServer([{"say": "first"}, {"say": "second"}]) as server:
        claude_turn(server, [claude_user("A")])
        done = [claude_user("A"), {"role": "assistant", "content": "first"}, claude_user("B")]
        assert content_of(claude_turn(server, done))[1] == "second"
        assert content_of(claude_turn(server, [claude_user("C")]))[1] == "first"
        assert server.prompts() == ["A", "B", "C"]


SYSTEM = [
    {"type": "text", "text": "You are Claude Code."},
    {"type": "text", "text": "# Environment\n - Primary working directory: /w/issue-1\n - Is a"},
]


def test_anthropic_write_and_edit_turns_call_claudes_file_tools_in_the_cwd_then_run() -> None:
    """Writes, then each edit as a Read and an Edit, then the commands: one call per
    response, a relative path made absolute in the working directory the system prompt
    names. Seen red: the server knew only `run`, and answered "Finished." at once."""
    turn = {
        "write": [{"path": "notes.txt", "content": "one\n"}],
        "edit": [{"path": "/abs/README.md", "old": "# demo", "new": "# demo!"}],
        "run": ["git add -A"],
        "say": "Finished.",
    }
    expected = [
        ("Write", {"file_path": "/w/issue-1/notes.txt", "content": "one\n"}),
        ("Read", {"file_path": "/abs/README.md"}),
        ("Edit", {"file_path": "/abs/README.md", "old_string": "# demo", "new_string": "# demo!"}),
        ("Bash", {"command": "git add -A", "description": "Run a scripted command"}),
    ]
    with ModelServer([turn]) as server:
        history: list[dict[str, Any]] = [claude_user(REMINDER, "Do it")]
        for number, (name, arguments) in enumerate(expected):
            status, _, data = post(
                server,
                "/v1/messages?beta=true",
                {"stream": True, "tools": BASH, "system": SYSTEM, "messages": history},
            )
            block, partial, stop = content_of(events(data))
            assert (status, block["name"], json.loads(partial), stop) == (
                200,
                name,
                arguments,
                "tool_use",
            )
            history += [
                {"role": "assistant", "content": [{**block, "input": json.loads(partial)}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": block["id"], "content": f"{number}"}
                    ],
                },
            ]
        assert content_of(claude_turn(server, history))[1] == "Finished."
        assert server.tool_outputs() == ["0", "1", "2", "3"]


def test_a_file_turn_with_no_working_directory_or_for_codex_is_a_400() -> None:
    """A relative path with nothing to resolve it against, and a file tool asked of Codex
    (which has none), fail loudly rather than turn into some other call."""
    with ModelServer([{"write": [{"path": "notes.txt", "content": "x"}]}]) as server:
        status, _, data = post(
            server,
            "/v1/messages?beta=true",
            {"stream": True, "tools": BASH, "messages": [claude_user("Do it")]},
        )
        assert (status, json.loads(data)["error"]["type"]) == (400, "invalid_request_error")
        assert "'notes.txt'" in json.loads(data)["error"]["message"]
        status, _, data = post(server, "/v1/responses", codex_request([codex_user("x")]))
        assert status == 400 and "write" in json.loads(data)["error"]["message"]


def test_requests_records_every_request_in_order_with_its_decoded_body() -> None:
    """What the real-agent tests read a CLI's skill listing from, a gzipped body decoded.
    Seen red: with the POST handler's append removed, `requests` held only the HEAD."""
    body = codex_request([codex_user("Do it")], instructions="You are Codex.")
    with ModelServer([{"say": "only"}]) as server:
        head = urllib.request.Request(server.url + "/", method="HEAD")
        with urllib.request.urlopen(head, timeout=10) as response:
            assert response.status == 200
        claude_turn(server, [claude_user("Do it")])
        zipped = urllib.request.Request(
            server.url + "/v1/responses",
            data=gzip.compress(json.dumps(body).encode()),
            method="POST",
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        with urllib.request.urlopen(zipped, timeout=10) as response:
            assert response.status == 200
    methods = [(r["method"], r["path"]) for r in server.requests]
    assert methods == [
        ("HEAD", "/"),
        ("POST", "/v1/messages?beta=true"),
        ("POST", "/v1/responses"),
    ]
    assert server.requests[1]["body"]["messages"] == [claude_user("Do it")]
    assert server.requests[2]["body"] == body
