"""The supervisor of an ACP agent: the process middle runs in the run's tmux session.

    python -m middle.agents.acp.supervisor [--resume ID] [--mode MODE] -- AGENT ARGV...

It starts the agent (any program that speaks the Agent Client Protocol on stdio) as its
child, opens a session (`session/new`, or `session/load` of ID to continue that
conversation), and then stands where an interactive CLI stands: it reads each prompt from
its terminal and reports to middle through the hook relay, in the vocabulary of the
`command` adapter (docs/command-adapter.md):

- `SessionStart` with the ACP session id and its transcript, once the session is open;
- `UserPromptSubmit` for each line it takes (a prompt, or the answer to a permission);
- `PreToolUse` for each tool call the agent starts, and before a permission request;
- `PermissionRequest` when the agent asks (`session/request_permission`): the options
  are the agent's own, printed numbered; the next line picks one (its number, its name,
  or a yes, which picks the agent's "allow once"); any other words reject the call and
  become the agent's next prompt;
- `Stop` when a `session/prompt` returns (its stop reason is the turn's end), or
  `StopFailure` when it fails (`rate_limit` when the agent says a usage limit).

The agent's messages and tool calls go to the transcript as it works, in Claude Code's
line format, which the dashboard reads. Because it runs in tmux, the agent outlives a
crash of middle exactly as a CLI in tmux does, and `middle resume` adopts it; if the agent
or the supervisor is lost, the next launch continues the conversation with `session/load`.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from middle.agents.acp import LOAD_WAIT
from middle.agents.acp.rpc import AcpPeer, Incoming, child_env
from middle.agents.acp.terminal import LineEditor, raw_terminal
from middle.errors import UNREADABLE_JSON

PROTOCOL_VERSION = 1
# Words that allow the call the agent asked about, with the agent's "allow once".
_ALLOW = re.compile(r"(?i)\s*(y|yes|allow|allowed|approve|approved|ok|okay|go ahead)[.!]?\s*")
_DENY = re.compile(r"(?i)\s*(n|no|deny|denied|reject|rejected)[.!]?\s*")
# How an agent says a prompt failed on a usage limit: Codex's error info, an API 429, the
# provider's words that OpenCode passes on ("Rate limit reached", "exceeded your quota").
_LIMIT = re.compile(
    r"usage_limit_exceeded|usage_limit_reached|rate_limit|usage limit|rate limit|quota|\b429\b",
    re.I,
)
# Agents (by their `initialize` answer's `agentInfo.name`) that cannot load a session in the
# minute they opened it. Gemini CLI 0.61.0 keeps a session in `chats/session-<UTC minute it
# opened>-<id[:8]>.jsonl`, and its `session/load` starts a new recording of that id before it
# reads the file (`AcpSessionManager.loadSession` -> `Config.initialize` ->
# `GeminiClient.startChat` -> `ChatRecordingService.initialize`, which names its file by the
# minute now): in that same minute the recording lands in the saved file and resets its
# messages, and the load finds "No previous sessions found for this project".
_SESSION_FILE_BY_MINUTE = frozenset({"gemini-cli"})


def load_wait(opened: float | None, now: float) -> float:
    """Seconds until a session opened at `opened` (epoch seconds) is out of the minute it
    opened in; 0 when it is already, or when the time it opened is not known."""
    if opened is None or now // 60 != opened // 60:
        return 0.0
    return (opened // 60 + 1) * 60 - now


def pick_option(options: Sequence[Mapping[str, Any]], text: str) -> tuple[str | None, str | None]:
    """The option a human's answer picks, and the words to send the agent instead (a
    rejection's reason). By its number, its id or name, a yes (the agent's allow once), a
    no (its reject once); anything else rejects it and is passed on as what to do instead.
    `(None, ...)` when the agent offered no option that fits (the request is cancelled)."""
    said = text.strip()
    if said.isdigit() and 1 <= int(said) <= len(options):
        return str(options[int(said) - 1].get("optionId")), None
    for option in options:
        if said.lower() in (str(option.get("optionId")).lower(), str(option.get("name")).lower()):
            return str(option.get("optionId")), None
    if _ALLOW.fullmatch(said):
        return _by_kind(options, "allow_once", "allow_always"), None
    rejected = _by_kind(options, "reject_once", "reject_always")
    return rejected, (None if _DENY.fullmatch(said) else said)


def _by_kind(options: Sequence[Mapping[str, Any]], *kinds: str) -> str | None:
    for kind in kinds:
        for option in options:
            if option.get("kind") == kind:
                return str(option.get("optionId"))
    return None


def describe_options(options: Sequence[Mapping[str, Any]]) -> str:
    return " · ".join(f"{n}. {o.get('name', o.get('optionId'))}" for n, o in enumerate(options, 1))


def limit_message(error: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a failed prompt's error is a usage limit, and the agent's message for it."""
    data = error.get("data")
    message = str(error.get("message", ""))
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        message = data["message"]
    return bool(_LIMIT.search(json.dumps(error))), message


class Supervisor:
    clock = staticmethod(time.time)
    sleep = staticmethod(time.sleep)

    def __init__(
        self, worktree: Path, argv: Sequence[str], resume: str | None, mode: str | None
    ) -> None:
        self.worktree = worktree
        self.argv = list(argv)
        self.resume = resume
        self.mode = mode
        self.state_dir = worktree / ".middle" / "agent"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.inbox: queue.Queue[Incoming] = queue.Queue()
        self.peer: AcpPeer | None = None
        self.session_id = ""
        self.transcript = self.state_dir / "acp-transcript.jsonl"
        self.opened = self.state_dir / "acp-session.json"  # the last session/new, and when
        self.prompting: int | None = None  # the id of the session/prompt under way
        self.queued: list[str] = []  # lines typed while a turn runs: the next prompts
        self.asking: list[Incoming] = []  # permission requests waiting for a human, in order
        self.calls: dict[str, dict[str, Any]] = {}  # tool calls seen: what they said so far
        self.said: list[str] = []  # the agent's message so far, in chunks
        self.last_message = ""
        self.replaying = False  # session/load replays the history: not new

    # -- talking to middle and to the screen --------------------------------------------

    def hook(self, event: str, payload: Mapping[str, Any]) -> None:
        script = self.worktree / ".middle" / "hooks" / "hook.sh"
        if script.exists():
            subprocess.run(
                [str(script), event], input=json.dumps(dict(payload)), text=True, check=False
            )

    def show(self, text: str) -> None:
        sys.stdout.write(text.replace("\n", "\r\n") + "\r\n")
        sys.stdout.flush()

    def record(self, role: str, content: Any) -> None:
        """One transcript line, as Claude Code writes them (the dashboard reads those)."""
        line = {"type": role, "message": {"role": role, "content": content}, "ts": time.time()}
        with self.transcript.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    def flush_message(self) -> None:
        text = "".join(self.said).strip()
        self.said = []
        if text:
            self.last_message = text
            self.record("assistant", [{"type": "text", "text": text}])
            self.show(text)

    # -- the agent ------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any]) -> Incoming:
        """A request whose answer the supervisor needs before anything else (start-up):
        what arrives meanwhile is handled as usual."""
        assert self.peer is not None
        number = self.peer.request(method, params)
        while True:
            incoming = self.inbox.get()
            if incoming.kind == "response" and incoming.id == number:
                return incoming
            if incoming.kind == "exit":
                raise SystemExit(f"the agent exited (code {incoming.code}) during {method}")
            self.handle(incoming)

    def start_agent(self) -> AcpPeer:
        return AcpPeer(
            self.argv, self.worktree, child_env(os.environ), self.inbox,
            self.state_dir / "acp-agent.log",
        )  # fmt: skip

    def open_session(self) -> None:
        self.peer = self.start_agent()
        hello = self.call(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {
                    "fs": {"readTextFile": False, "writeTextFile": False},
                    "terminal": False,
                },
                "clientInfo": {"name": "middle", "title": "middle", "version": "1"},
            },
        )
        if hello.error is not None:
            raise SystemExit(f"the agent refused to initialize: {hello.error}")
        capabilities = (hello.result or {}).get("agentCapabilities") or {}
        agent = str(((hello.result or {}).get("agentInfo") or {}).get("name", ""))
        where = {"cwd": str(self.worktree), "mcpServers": []}
        source = "startup"
        if self.resume and capabilities.get("loadSession"):
            if agent in _SESSION_FILE_BY_MINUTE:
                self.wait_out_the_minute_opened(self.resume, agent)
            self.replaying = True
            loaded = self.call("session/load", {"sessionId": self.resume, **where})
            self.replaying = False
            if loaded.error is None:
                self.session_id, source = self.resume, "resume"
            else:
                self.show(f"[the agent could not load session {self.resume}: {loaded.error}]")
        if not self.session_id:
            opened = self.call("session/new", where)
            if opened.error is not None or not isinstance(opened.result, dict):
                raise SystemExit(f"the agent refused a session: {opened.error}")
            self.session_id = str(opened.result["sessionId"])
            opened_at = {"sessionId": self.session_id, "opened": self.clock()}
            self.opened.write_text(json.dumps(opened_at), encoding="utf-8")
        if self.mode:
            changed = self.call(
                "session/set_mode", {"sessionId": self.session_id, "modeId": self.mode}
            )
            if changed.error is not None:
                self.show(f"[the agent refused mode {self.mode!r}: {changed.error}]")
        self.hook(
            "SessionStart",
            {
                "session_id": self.session_id,
                "transcript_path": str(self.transcript),
                "cwd": str(self.worktree),
                "source": source,
                "agent_pid": self.peer.pid,
            },
        )
        self.show(f"ACP agent ready: {' '.join(self.argv)} (session {self.session_id})")

    def wait_out_the_minute_opened(self, session: str, agent: str) -> None:
        """Wait until the minute in which this supervisor's last `session/new` opened
        `session` has passed (see `_SESSION_FILE_BY_MINUTE`)."""
        try:
            last = json.loads(self.opened.read_text(encoding="utf-8"))
        except (OSError, *UNREADABLE_JSON):
            return
        if not isinstance(last, dict) or last.get("sessionId") != session:
            return
        opened = last.get("opened")
        if not isinstance(opened, (int, float)):
            return
        left = load_wait(float(opened), self.clock())
        if left <= 0:
            return
        self.show(f"[{agent} {LOAD_WAIT}: {left:.0f}s]")
        while left > 0:
            self.sleep(left)
            left = load_wait(float(opened), self.clock())
        # no longer the wait's line: a load that hangs now runs out the launch timeout
        self.show(f"[loading session {session}]")

    def prompt(self, text: str) -> None:
        assert self.peer is not None
        self.record("user", text)
        self.show(f"> {text}")
        self.prompting = self.peer.request(
            "session/prompt",
            {"sessionId": self.session_id, "prompt": [{"type": "text", "text": text}]},
        )

    def take_line(self, text: str) -> None:
        if not text.strip():
            return
        self.hook("UserPromptSubmit", {"session_id": self.session_id, "prompt": text})
        if self.asking:
            return self.answer_permission(text)
        if self.prompting is None and self.session_id:
            return self.prompt(text)
        self.queued.append(text)
        self.show(f"[queued for after this turn] {text}")

    def answer_permission(self, text: str) -> None:
        assert self.peer is not None
        asked = self.asking.pop(0)
        options = asked.params.get("options") or []
        chosen, instead = pick_option(options, text)
        if chosen is None:
            outcome: dict[str, Any] = {"outcome": "cancelled"}
        else:
            outcome = {"outcome": "selected", "optionId": chosen}
        self.peer.respond(asked.id, {"outcome": outcome})
        self.show(f"[answered: {chosen or 'cancelled'}]")
        if instead:
            self.queued.append(instead)
        if self.asking:  # the agent asked more than one thing at once: the next one
            self.announce(self.asking[0])

    def handle(self, incoming: Incoming) -> None:
        if incoming.kind == "line":
            self.take_line(incoming.text)
        elif incoming.kind == "notification" and incoming.method == "session/update":
            self.update(incoming.params.get("update") or {})
        elif incoming.kind == "request":
            self.agent_request(incoming)
        elif incoming.kind == "response" and incoming.id == self.prompting:
            self.turn_ended(incoming)

    def update(self, update: Mapping[str, Any]) -> None:
        if self.replaying:
            return
        kind = update.get("sessionUpdate")
        content = update.get("content")
        if kind == "agent_message_chunk" and isinstance(content, Mapping):
            self.said.append(str(content.get("text", "")))
        elif kind in ("tool_call", "tool_call_update"):
            self.tool_call(update)

    def tool_call(self, update: Mapping[str, Any]) -> None:
        """A tool call goes to the transcript once it runs (the agents fill in its title
        and input over several updates while it is pending), its result once it ends."""
        number = str(update.get("toolCallId", ""))
        call = self.calls.setdefault(number, {"written": False})
        call.update({k: v for k, v in update.items() if v not in (None, {}, [], "")})
        status = call.get("status")
        if not call["written"] and status in ("in_progress", "completed", "failed"):
            call["written"] = True
            self.flush_message()
            title = str(call.get("title") or call.get("kind") or "a tool")
            raw = call.get("rawInput")
            raw = raw if isinstance(raw, Mapping) else {}
            self.record(
                "assistant",
                [{"type": "tool_use", "id": number, "name": title, "input": raw}],
            )
            self.show(f"\u25cf {title}")
            self.hook("PreToolUse", {"tool_name": title, "tool_input": raw})
        if status in ("completed", "failed") and not call.get("ended"):
            call["ended"] = True
            output = call.get("rawOutput", "")
            text = output if isinstance(output, str) else json.dumps(output)[:4000]
            self.record("user", [{"type": "tool_result", "tool_use_id": number, "content": text}])

    def agent_request(self, request: Incoming) -> None:
        assert self.peer is not None
        if request.method != "session/request_permission":
            self.peer.respond_error(request.id, -32601, f"middle does not offer {request.method}")
            return
        self.asking.append(request)
        if len(self.asking) == 1:
            self.announce(request)

    def announce(self, request: Incoming) -> None:
        """Show a permission request with the agent's options, and tell middle."""
        self.flush_message()
        tool = request.params.get("toolCall") or {}
        title = str(tool.get("title") or "a tool")
        options = request.params.get("options") or []
        listed = describe_options(options)
        self.show(f"The agent asks permission: {title}\r\n  {listed}\r\nAnswer with one:")
        said = f"{title} (the agent's options: {listed}; answer with one)"
        self.hook("PreToolUse", {"tool_name": said})
        self.hook(
            "PermissionRequest",
            {"tool_name": title, "tool_input": tool.get("rawInput") or {}, "options": options},
        )

    def turn_ended(self, response: Incoming) -> None:
        self.prompting = None
        self.asking = []
        self.flush_message()
        if response.error is not None:
            limited, message = limit_message(response.error)
            self.show(f"[the turn failed: {message}]")
            error = "rate_limit" if limited else "api_error"
            payload = {"error": error, "last_assistant_message": message}
            self.hook("StopFailure", {"session_id": self.session_id, **payload})
            return
        reason = str((response.result or {}).get("stopReason", "end_turn"))
        if self.queued:  # a line typed meanwhile is the next prompt: the turn goes on
            return self.prompt(self.queued.pop(0))
        self.show(f"[turn ended: {reason}]")
        self.hook(
            "Stop",
            {
                "session_id": self.session_id,
                "stop_reason": reason,
                "last_assistant_message": self.last_message,
            },
        )

    def run(self) -> int:
        self.open_session()
        if self.queued:  # typed before the session was open
            self.prompt(self.queued.pop(0))
        while True:
            incoming = self.inbox.get()
            if incoming.kind == "exit":
                self.flush_message()
                self.show(f"[the agent exited with code {incoming.code}]")
                if self.prompting is not None:
                    failed = {"error": "agent_exited", "message": f"code {incoming.code}"}
                    self.hook("StopFailure", {"session_id": self.session_id, **failed})
                self.hook("SessionEnd", {"reason": f"the agent exited ({incoming.code})"})
                return 1
            if incoming.kind == "closed":  # the terminal is gone
                return 0
            self.handle(incoming)

    def stop(self) -> None:
        if self.peer is not None:
            self.peer.stop()


def read_terminal(inbox: queue.Queue[Incoming]) -> None:
    """Each line typed or pasted into the terminal, onto the inbox; its end at EOF."""
    editor = LineEditor()
    while True:
        try:
            data = os.read(sys.stdin.fileno(), 65536)
        except OSError:
            data = b""
        if not data:
            inbox.put(Incoming("closed"))
            return
        for line in editor.feed(data):
            inbox.put(Incoming("line", text=line))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="middle-acp", description=__doc__.split("\n")[0])
    parser.add_argument("--resume", metavar="ID", help="continue this ACP session")
    parser.add_argument("--mode", help="the session mode to set (session/set_mode)")
    parser.add_argument("agent", nargs=argparse.REMAINDER, help="the agent's command")
    args = parser.parse_args(argv)
    agent = args.agent[1:] if args.agent[:1] == ["--"] else args.agent
    if not agent:
        parser.error("no agent command given (after --)")
    supervisor = Supervisor(Path.cwd(), agent, args.resume, args.mode)

    def end(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for number in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, end)
    with raw_terminal(sys.stdin):
        threading.Thread(target=read_terminal, args=(supervisor.inbox,), daemon=True).start()
        try:
            return supervisor.run()
        finally:
            supervisor.stop()


if __name__ == "__main__":
    sys.exit(main())
