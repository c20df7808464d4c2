"""A scripted model server for driving the real Claude Code and Codex CLIs offline.

It speaks the Anthropic Messages API (`POST /v1/messages`, SSE) and the OpenAI Responses API
(`POST /v1/responses`, SSE) on 127.0.0.1, and plays the model from a script:

    turns = [{"run": ["git status", "touch done"], "say": "Finished."},
             {"error": 429, "message": "usage limit reached"}]
    with ModelServer(turns) as server:
        ...point the CLI at server.url...

`turns[i]` is what the model does after the i-th user prompt of a conversation (counted in
the history each request carries: user text only, not tool results or the CLI's injected
context). A turn's tool calls are made one per response, each after the previous tool result
came back, then it answers `say` and ends the turn. In order:
- `write`: `[{"path", "content"}]`, Claude's `Write` tool per file (a relative path is taken
  in the CLI's working directory, as its system prompt names it);
- `edit`: `[{"path", "old", "new"}]`, Claude's `Read` then `Edit` per file (Edit refuses a
  file not read first);
- `run`: the CLI's shell tool per command (`Bash`, Codex's `exec_command`).
`write` and `edit` are Anthropic-only: Codex gets a 400 for them. An
`error` turn answers with that HTTP status and the API's own error body; optional keys:
`type` (the error type), `fields` (more keys for the error object, e.g. Codex's `resets_at`)
and `headers` (replacing NO_RETRY_HEADERS, e.g. `{}` to see the CLI's own retries).
Turns past the end answer "Done.". A new conversation (a history that does not extend an
earlier one) starts again at `turns[0]`.

Side requests are answered so they never count as turns: Claude's `HEAD /`, its permission
classifier (`<block>no</block>`: allow), its title request, `count_tokens`; Codex's title
request (no tools).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.fakes import model_chat, model_gemini
from tests.fakes import model_wire as wire

DEFAULT_TURN: dict[str, Any] = {"say": "Done."}
TITLE = json.dumps({"title": "Scripted task"})
# User text the CLIs inject into the history themselves; it is context, not a prompt.
INJECTED_PREFIXES = (
    "<system-reminder>",
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions",
    "[Request interrupted",
    "<local-command-",
    "<command-name>",
)
# Headers that make the CLIs give up on an error at once instead of retrying for minutes:
# Claude Code 2.1.197 honours `x-should-retry: false` (StopFailure 0.4 s after Enter, one
# request); Codex 0.171 does not retry a 429 of type `usage_limit_reached` anyway.
NO_RETRY_HEADERS = {"x-should-retry": "false", "retry-after": "0"}

# Claude Code's system prompt says where it runs: " - Primary working directory: /path".
_WORKING_DIRECTORY = re.compile(r"^ - Primary working directory: (.+)$", re.M)
# Copilot CLI 1.0.102 puts the time before each prompt, in its own tag: context, not prompt.
_COPILOT_DATETIME = re.compile(r"\A<current_datetime>[^<]*</current_datetime>\n\n")

Item = tuple[str, str]  # ("prompt" | "tool", text)


def is_prompt(text: str) -> bool:
    return bool(text.strip()) and not text.lstrip().startswith(INJECTED_PREFIXES)


def flatten(content: Any) -> str:
    """Text of a tool result or message content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def anthropic_items(body: dict[str, Any]) -> list[Item]:
    """Prompts and tool results of a Messages request, in order. Only `user` messages count:
    Claude Code can send a `system`-role message after the user's."""
    items: list[Item] = []
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts = []
        for block in blocks or []:
            if block.get("type") == "tool_result":
                items.append(("tool", flatten(block.get("content"))))
            elif block.get("type") == "text" and is_prompt(block.get("text", "")):
                texts.append(block["text"])
        if texts:
            items.append(("prompt", "\n".join(texts)))
    return items


def openai_items(body: dict[str, Any]) -> list[Item]:
    """Prompts and tool outputs of a Responses request, in order."""
    items: list[Item] = []
    for item in body.get("input", []):
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") == "user":
            texts = [
                _COPILOT_DATETIME.sub("", part.get("text", ""))
                for part in item.get("content", [])
                if part.get("type") == "input_text" and is_prompt(part.get("text", ""))
            ]
            if texts:
                items.append(("prompt", "\n".join(texts)))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            items.append(("tool", flatten(item.get("output"))))
    return items


def tool_calls(turn: dict[str, Any]) -> list[dict[str, Any]]:
    """A turn's tool calls in the order they are made: its writes, its edits (a read, then
    the edit), then its commands; each as {"write": file}, {"read": path}, {"edit": file}
    or {"run": command}."""
    calls: list[dict[str, Any]] = [{"write": file} for file in turn.get("write", [])]
    for file in turn.get("edit", []):
        calls += [{"read": file["path"]}, {"edit": file}]
    return calls + [{"run": command} for command in turn.get("run", [])]


def next_action(turns: list[dict[str, Any]], items: list[Item]) -> dict[str, Any]:
    """What the model does next: {"error": ...}, one of `tool_calls`, or {"say": text}."""
    prompts = [index for index, (kind, _) in enumerate(items) if kind == "prompt"]
    if not prompts:
        return {"say": DEFAULT_TURN["say"]}
    turn = turns[len(prompts) - 1] if len(prompts) <= len(turns) else DEFAULT_TURN
    calls_done = sum(1 for kind, _ in items[prompts[-1] :] if kind == "tool")
    if "error" in turn and calls_done == 0:
        return turn
    calls = tool_calls(turn)
    if calls_done < len(calls):
        return calls[calls_done]
    return {"say": turn.get("say", DEFAULT_TURN["say"])}


def working_directory(body: dict[str, Any]) -> str | None:
    """The CLI's working directory, as Claude Code's system prompt names it."""
    system = body.get("system")
    found = _WORKING_DIRECTORY.search(system if isinstance(system, str) else flatten(system))
    return found[1].strip() if found else None


def anthropic_tool(action: dict[str, Any], cwd: str | None) -> tuple[str, dict[str, Any]]:
    """Claude's tool call for one of `tool_calls` (paths made absolute in `cwd`)."""
    if "run" in action:
        return "Bash", {"command": action["run"], "description": "Run a scripted command"}
    if "read" in action:
        return "Read", {"file_path": absolute(action["read"], cwd)}
    if "write" in action:
        file = action["write"]
        return "Write", {"file_path": absolute(file["path"], cwd), "content": file["content"]}
    file = action["edit"]
    path = absolute(file["path"], cwd)
    return "Edit", {"file_path": path, "old_string": file["old"], "new_string": file["new"]}


def absolute(path: str, cwd: str | None) -> str:
    if path.startswith("/"):
        return path
    if cwd is None:
        raise ValueError(f"no working directory in the request to resolve {path!r} against")
    return f"{cwd.rstrip('/')}/{path}"


def asks_for_title(body: dict[str, Any]) -> bool:
    """A title request: a JSON schema with a `title` property (Claude: `output_config.format`,
    Codex: `text.format`), or a system prompt asking for a title (older Claude)."""
    for holder in ("output_config", "text"):
        schema = (body.get(holder) or {}).get("format", {}).get("schema", {})
        if "title" in schema.get("properties", {}):
            return True
    return "title" in json.dumps(body.get("system"))


class Ledger:
    """Everything the model was sent, once each: the CLIs re-send the whole history with
    every request, so a request adds only the items beyond the conversation it extends."""

    def __init__(self) -> None:
        self.conversations: list[list[Item]] = []
        self.seen: list[Item] = []
        self.arrived: list[list[float]] = []  # when each item of a conversation first came

    def record(self, items: list[Item]) -> None:
        now = time.monotonic()
        for history, arrived in zip(self.conversations, self.arrived, strict=True):
            if items[: len(history)] == history or history[: len(items)] == items:
                self.seen += items[len(history) :]
                arrived += [now] * max(0, len(items) - len(history))
                history[len(history) :] = items[len(history) :]
                return
        self.conversations.append(list(items))
        self.arrived.append([now] * len(items))
        self.seen += items


class ModelServer:
    """The scripted model on 127.0.0.1 (port 0), serving from a daemon thread while the
    `with` block lasts. `requests` holds every request as {"method", "path", "body"}."""

    def __init__(self, turns: list[dict[str, Any]]) -> None:
        self.turns = turns
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._ledger = Ledger()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> ModelServer:
        server = self

        class Handler(_Handler):
            model = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def prompts(self) -> list[str]:
        with self._lock:
            return [text for kind, text in self._ledger.seen if kind == "prompt"]

    def conversations(self) -> list[list[str]]:
        """The prompts of each conversation the model was sent, oldest first."""
        with self._lock:
            return [
                [text for kind, text in history if kind == "prompt"]
                for history in self._ledger.conversations
            ]

    def timelines(self) -> list[list[tuple[str, str, float]]]:
        """Each conversation's prompts and tool results with when each first reached the
        model (`time.monotonic()`), oldest conversation first: what shows two agents at
        work at once."""
        with self._lock:
            return [
                [(kind, text, at) for (kind, text), at in zip(history, arrived, strict=True)]
                for history, arrived in zip(
                    self._ledger.conversations, self._ledger.arrived, strict=True
                )
            ]

    def tool_outputs(self) -> list[str]:
        with self._lock:
            return [text for kind, text in self._ledger.seen if kind == "tool"]

    def answer(self, items: list[Item]) -> dict[str, Any]:
        """Record a main-model request's history and decide the model's next move."""
        with self._lock:
            self._ledger.record(items)
            return next_action(self.turns, items)


class _Handler(BaseHTTPRequestHandler):
    model: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests` instead."""

    def do_HEAD(self) -> None:
        self.model.requests.append({"method": "HEAD", "path": self.path, "body": None})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.model.requests.append({"method": "GET", "path": self.path, "body": None})
        self.reply(200, {})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw or b"{}")
        self.model.requests.append({"method": "POST", "path": self.path, "body": body})
        route = self.path.split("?")[0]
        if route.endswith("/messages/count_tokens"):
            self.reply(200, {"input_tokens": len(raw) // 4})
        elif route.endswith("/messages"):
            self.anthropic(body)
        elif route.endswith("/responses"):
            self.openai(body)
        elif route.endswith("/chat/completions"):
            model_chat.answer(self, self.model, body, is_prompt)
        elif model_gemini.is_gemini(route):
            model_gemini.answer(self, route, body)
        else:
            self.reply(404, wire.anthropic_error(404, f"no route {route}"))

    def anthropic(self, body: dict[str, Any]) -> None:
        model, stream = body.get("model", "claude"), bool(body.get("stream"))
        if not body.get("tools"):  # a side request: the title, or the permission classifier
            text = TITLE if asks_for_title(body) else "<block>no</block>"
            return self.anthropic_reply(wire.anthropic_message(model, text, None), stream)
        action = self.model.answer(anthropic_items(body))
        if "error" in action:
            error = wire.anthropic_error(
                action["error"], action.get("message", ""), action.get("type")
            )
            return self.error_reply(action, error)
        if "say" in action:
            message = wire.anthropic_message(model, action["say"], None)
            return self.anthropic_reply(message, stream)
        try:
            tool = anthropic_tool(action, working_directory(body))
        except ValueError as error:
            return self.reply(400, wire.anthropic_error(400, str(error)), NO_RETRY_HEADERS)
        self.anthropic_reply(wire.anthropic_message(model, None, tool), stream)

    def anthropic_reply(self, message: dict[str, Any], stream: bool) -> None:
        if stream:
            self.send_stream(wire.anthropic_stream(message))
        else:
            self.reply(200, message)

    def openai(self, body: dict[str, Any]) -> None:
        model = body.get("model", "gpt")
        if not body.get("tools") or asks_for_title(body):  # Codex's title request: tools=[]
            return self.send_stream(wire.openai_stream(model, TITLE, None))
        action = self.model.answer(openai_items(body))
        if "error" in action:
            error = wire.openai_error(
                action["error"], action.get("message", ""), action.get("type")
            )
            return self.error_reply(action, error)
        if "run" in action:
            name = shell_tool_name(body)  # Copilot's `bash` takes a `command`, Codex's a `cmd`
            args = {"command": action["run"], "description": "Run a scripted command"}
            call = (name, args if name == "bash" else {"cmd": action["run"]})
            return self.send_stream(wire.openai_stream(model, None, call))
        if "say" not in action:  # a file tool: Claude's own
            error = wire.openai_error(400, f"no Codex tool for the scripted {sorted(action)}")
            return self.reply(400, error, NO_RETRY_HEADERS)
        self.send_stream(wire.openai_stream(model, action["say"], None))

    def error_reply(self, turn: dict[str, Any], error: dict[str, Any]) -> None:
        error["error"].update(turn.get("fields", {}))
        self.reply(turn["error"], error, turn.get("headers", NO_RETRY_HEADERS))

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def shell_tool_name(body: dict[str, Any]) -> str:
    """Codex's shell tool as offered in this request's `tools` (`exec_command` in 0.171)."""
    names = [tool.get("name") for tool in body.get("tools", [])]
    for name in ("exec_command", "shell_command", "shell", "bash"):
        if name in names:
            return name
    return "exec_command"
