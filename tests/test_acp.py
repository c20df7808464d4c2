"""The acp adapter's parts that need no agent: the supervisor's terminal, its reading of
the agent's messages, options and errors, and the adapter's launch line. The real agents
are driven end to end by tests/real_agents/test_acp_real_agents.py."""

from __future__ import annotations

import os
import queue
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from middle.agents.acp import LOAD_WAIT, AcpAdapter
from middle.agents.acp.rpc import AcpPeer, Incoming, parse_message
from middle.agents.acp.supervisor import Supervisor, limit_message, pick_option
from middle.agents.acp.terminal import PASTE_END, PASTE_START, LineEditor
from middle.agents.opencode import OpenCodeAdapter
from middle.dashboard.transcript import read_transcript
from middle.system.hooks import Hook

# claude-code-acp 0.16.2's options for a Bash call, as sent.
OPTIONS = [
    {"kind": "allow_always", "name": "Always Allow", "optionId": "allow_always"},
    {"kind": "allow_once", "name": "Allow", "optionId": "allow"},
    {"kind": "reject_once", "name": "Reject", "optionId": "reject"},
]


def test_a_bracketed_paste_is_one_line_newlines_and_all_and_enter_ends_it() -> None:
    """tmux pastes with CR for each newline (`paste-buffer` without -r), then Enter."""
    editor = LineEditor()
    assert editor.feed(PASTE_START + b"first\rsecond \xc3\xa9\r" + PASTE_END) == []
    assert editor.feed(b"\r") == ["first\nsecond \u00e9\n"]


def test_a_paste_marker_cut_between_two_reads_is_still_a_marker() -> None:
    editor = LineEditor()
    assert editor.feed(PASTE_START[:3]) == []
    assert editor.feed(PASTE_START[3:] + b"a\rb" + PASTE_END[:2]) == []
    assert editor.feed(PASTE_END[2:] + b"\r") == ["a\nb"]


def test_a_20_kb_paste_arrives_whole() -> None:
    """A canonical-mode terminal cuts a line at 4095 bytes; the raw reader does not."""
    text = "\r".join(f"line {n:03} {'x' * 100}" for n in range(200)).encode()
    editor = LineEditor()
    lines = []
    for start in range(0, len(text), 4096):  # as os.read hands it over
        chunk = text[start : start + 4096]
        lines += editor.feed((PASTE_START if start == 0 else b"") + chunk)
    lines += editor.feed(PASTE_END + b"\r")
    assert lines == [text.decode().replace("\r", "\n")]


def test_typing_backspace_and_arrow_keys() -> None:
    editor = LineEditor()
    assert editor.feed(b"yex\x7fs\x1b[D\n") == ["yes"]


def test_an_answer_picks_the_agents_option_by_number_name_or_a_yes() -> None:
    assert pick_option(OPTIONS, "2") == ("allow", None)
    assert pick_option(OPTIONS, "always allow") == ("allow_always", None)
    assert pick_option(OPTIONS, "Yes.") == ("allow", None)
    assert pick_option(OPTIONS, "no") == ("reject", None)
    assert pick_option(OPTIONS, "4") == ("reject", "4")  # no such option: not a yes


def test_any_other_words_reject_the_call_and_are_passed_on() -> None:
    said = "Do not touch files; commit instead."
    assert pick_option(OPTIONS, said) == ("reject", said)
    assert pick_option(OPTIONS[:2], said) == (None, said)  # no reject offered: cancelled


def test_a_usage_limit_is_read_from_the_agents_error_not_from_prose() -> None:
    codex = {
        "code": -32603,
        "message": "Internal error",
        "data": {
            "message": "You've hit your usage limit. Try again at 12:40 PM.",
            "codex_error_info": "usage_limit_exceeded",
        },
    }
    claude = {
        "code": -32603,
        "message": 'Internal error: API Error: 429 {"type":"error","error":{"type":'
        '"rate_limit_error","message":"Claude AI usage limit reached|1796560842"}}',
    }
    assert limit_message(codex) == (True, "You've hit your usage limit. Try again at 12:40 PM.")
    assert limit_message(claude)[0] is True
    assert limit_message({"code": -32603, "message": "Internal error: boom"}) == (
        False,
        "Internal error: boom",
    )
    adapter = AcpAdapter({"argv": ["codex-acp"]})
    assert adapter.usage_limit(codex["data"]["message"]) == "12:40 PM"  # type: ignore[index]
    assert adapter.usage_limit(claude["message"]) == "1796560842"
    assert adapter.usage_limit("We discussed the usage limit of the API.") is None


def test_json_rpc_lines_are_read_as_what_they_are() -> None:
    request = parse_message('{"jsonrpc":"2.0","id":3,"method":"session/request_permission",'
                            '"params":{"options":[]}}')  # fmt: skip
    assert request is not None and (request.kind, request.id) == ("request", 3)
    update = parse_message('{"jsonrpc":"2.0","method":"session/update","params":{}}')
    assert update is not None and update.kind == "notification"
    answer = parse_message('{"jsonrpc":"2.0","id":1,"result":{"stopReason":"end_turn"}}')
    assert answer is not None and answer.result == {"stopReason": "end_turn"}
    assert parse_message("not json, a stray log line") is None
    # seen red: Python's json raised past these (ValueError, RecursionError), which
    # stopped the supervisor's reader on one line an agent printed
    assert parse_message("9" * 5000) is None
    assert parse_message("[" * 100_000) is None


def test_the_launch_runs_the_supervisor_with_the_agent_after_a_double_dash(
    tmp_path: Path,
) -> None:
    adapter = AcpAdapter({"argv": ["opencode", "acp"], "mode": "build"})
    assert adapter.launch_argv(tmp_path, resume_session="ses_1") == [
        sys.executable, "-m", "middle.agents.acp.supervisor",
        "--resume", "ses_1", "--mode", "build", "--", "opencode", "acp",
    ]  # fmt: skip
    assert adapter.tested_versions is None  # opencode over ACP: not one of tested_agents
    assert adapter.permission_keys("2") == ((), "2")  # typed, never sent as key names


def test_a_permission_hook_parks_and_an_exited_agent_fails_the_turn() -> None:
    adapter = AcpAdapter({"argv": ["codex-acp"]})
    asked = adapter.read_hook(Hook("PermissionRequest", {"tool_name": "touch x"}, None))
    assert asked is not None and asked.kind == "permission"
    gone = adapter.read_hook(Hook("StopFailure", {"error": "agent_exited", "message": "1"}, None))
    assert gone is not None and gone.kind == "failed"


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie no one reaped yet has ended


def test_stopping_the_agent_ends_what_it_started_too(tmp_path: Path) -> None:
    """codex-acp's npm launcher runs a native binary and does not pass a SIGTERM on. Seen
    red: the supervisor terminated the launcher only, and the binary lived on as an orphan
    (three were found after probing codex-acp by hand)."""
    pid_file = tmp_path / "grandchild.pid"
    native = tmp_path / "native.py"
    native.write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n"
    )
    launcher = f"{shlex.quote(sys.executable)} {shlex.quote(str(native))} & wait"
    inbox: queue.Queue[Incoming] = queue.Queue()
    peer = AcpPeer(["sh", "-c", launcher], tmp_path, dict(os.environ), inbox, tmp_path / "log")
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.02)
    grandchild = int(pid_file.read_text())
    peer.stop()
    assert not _running(grandchild)


def test_the_agents_messages_and_tool_calls_reach_the_dashboards_transcript(
    tmp_path: Path,
) -> None:
    """The supervisor writes ACP updates as Claude Code's transcript lines, which the
    dashboard reads: the prompt, a tool call with its result, the answer."""
    supervisor = Supervisor(tmp_path, ["agent"], None, None)
    supervisor.record("user", "Read .middle/prompt.md")
    supervisor.update({"sessionUpdate": "agent_message_chunk", "content": {"text": "On it"}})
    call = {"toolCallId": "c1", "title": "git status", "rawInput": {"command": "git status"}}
    supervisor.update({"sessionUpdate": "tool_call", **call})
    result = {"toolCallId": "c1", "status": "completed", "rawOutput": "clean"}
    supervisor.update({"sessionUpdate": "tool_call_update", **result})
    supervisor.update({"sessionUpdate": "agent_message_chunk", "content": {"text": "Done."}})
    supervisor.flush_message()
    transcript = read_transcript(supervisor.transcript)
    assert transcript is not None and transcript.skipped == 0
    said = [(entry.role, entry.text) for entry in transcript.entries]
    assert said == [
        ("user", "Read .middle/prompt.md"),
        ("assistant", "On it"),
        ("assistant", ""),
        ("assistant", "Done."),
    ]
    (tool,) = transcript.entries[2].tools
    assert (tool.name, tool.result) == ("git status", "clean")
    assert supervisor.last_message == "Done."


class StubPeer:
    """The agent's side, as far as the supervisor's answers go."""

    def __init__(self) -> None:
        self.responses: list[tuple[Any, Any]] = []

    def respond(self, number: Any, result: Any) -> None:
        self.responses.append((number, result))


def asks(number: int, title: str) -> Incoming:
    params = {"toolCall": {"toolCallId": f"c{number}", "title": title}, "options": OPTIONS}
    return Incoming("request", id=number, method="session/request_permission", params=params)


def test_two_permission_requests_at_once_are_asked_one_after_the_other(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path, ["agent"], None, None)
    peer = StubPeer()
    supervisor.peer = peer  # type: ignore[assignment]
    supervisor.session_id = "s1"
    supervisor.handle(asks(7, "touch a"))
    supervisor.handle(asks(8, "touch b"))
    supervisor.handle(Incoming("line", text="yes"))
    assert peer.responses == [(7, {"outcome": {"outcome": "selected", "optionId": "allow"}})]
    supervisor.handle(Incoming("line", text="no"))
    assert peer.responses[1] == (8, {"outcome": {"outcome": "selected", "optionId": "reject"}})
    assert supervisor.asking == [] and supervisor.queued == []


def test_a_tool_call_is_written_once_with_what_its_later_updates_said(tmp_path: Path) -> None:
    """OpenCode 1.18.33 starts a call as `bash` with only its cwd, then says the command."""
    supervisor = Supervisor(tmp_path, ["agent"], None, None)
    supervisor.update(
        {"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "bash",
         "status": "pending", "rawInput": {"cwd": "/w"}}
    )  # fmt: skip
    for _ in range(2):
        supervisor.update(
            {"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "in_progress",
             "title": "git status", "rawInput": {"command": "git status", "cwd": "/w"}}
        )  # fmt: skip
    supervisor.update(
        {"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed",
         "rawOutput": {"output": "clean"}}
    )  # fmt: skip
    transcript = read_transcript(supervisor.transcript)
    assert transcript is not None
    (entry,) = transcript.entries
    (tool,) = entry.tools
    assert tool.name == "git status" and '"command": "git status"' in tool.input
    assert tool.result is not None and "clean" in tool.result


def test_opencode_passes_the_variables_its_user_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A custom provider's key, `{"apiKey": "{env:MY_KEY}"}` in the user's config, passes
    the allow-list; a repository's own opencode.json chooses nothing."""
    config = tmp_path / "config" / "opencode"
    config.mkdir(parents=True)
    (config / "opencode.json").write_text(
        '{"provider": {"p": {"options": {"apiKey": "{env:MY_KEY}", "x": "{env:OTHER}"}}}}'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("OPENCODE_CONFIG", raising=False)
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (worktree / "opencode.json").write_text('{"x": "{env:AWS_SECRET_ACCESS_KEY}"}')
    monkeypatch.chdir(worktree)
    patterns = OpenCodeAdapter({"env_pass": ["EXTRA"]}).env_patterns()
    assert patterns == ("OPENCODE_*", "EXTRA", "MY_KEY", "OTHER")


class MinuteKeyedAgent:
    """Gemini CLI 0.61.0's sessions as `session/load` sees them: a session is saved in a
    file named by the minute it opened, and a load first starts a new recording of the
    same id, in a file named by the minute now, which resets a file of the same name."""

    pid = 0

    def __init__(self, inbox: queue.Queue[Incoming], saved: dict[tuple[int, str], list[str]],
                 now: list[float]) -> None:  # fmt: skip
        self.inbox, self.saved, self.now = inbox, saved, now
        self.number = 0

    def minute(self) -> int:
        return int(self.now[0] // 60)

    def request(self, method: str, params: dict[str, Any]) -> int:
        self.number += 1
        result: Any = {}
        error = None
        if method == "initialize":
            result = {
                "agentInfo": {"name": "gemini-cli", "version": "0.61.0"},
                "agentCapabilities": {"loadSession": True},
            }
        elif method == "session/new":
            session = f"session-{len(self.saved) + 1}"
            self.saved[(self.minute(), session)] = ["the first turn"]
            result = {"sessionId": session}
        elif method == "session/load":
            session = params["sessionId"]
            self.saved[(self.minute(), session)] = []
            if not any(said for (_, kept), said in self.saved.items() if kept == session):
                error = {"code": -32603, "message": "No previous sessions found for this project."}
        self.inbox.put(Incoming("response", id=self.number, result=result, error=error))
        return self.number

    def stop(self) -> None:
        pass


class GeminiSupervisor(Supervisor):
    def __init__(self, worktree: Path, resume: str | None, saved: dict[tuple[int, str], list[str]],
                 now: list[float]) -> None:  # fmt: skip
        super().__init__(worktree, ["gemini", "--acp"], resume, None)
        self.saved, self.now = saved, now
        self.shown: list[str] = []
        self.pane_at_load = ""

    def start_agent(self) -> AcpPeer:
        return MinuteKeyedAgent(self.inbox, self.saved, self.now)  # type: ignore[return-value]

    def clock(self) -> float:
        return self.now[0]

    def show(self, text: str) -> None:
        self.shown.append(text)

    def call(self, method: str, params: Mapping[str, Any]) -> Incoming:
        if method == "session/load":
            self.pane_at_load = "\n".join(self.shown)  # what the pane shows as it loads
        return super().call(method, params)

    def sleep(self, seconds: float) -> None:  # type: ignore[override]
        self.now[0] += seconds


def test_gemini_loads_a_session_once_the_minute_it_opened_in_has_passed(tmp_path: Path) -> None:
    """Gemini CLI's `session/load` of a session opened the same minute empties it and
    finds nothing (see `_SESSION_FILE_BY_MINUTE`), so the supervisor waits the minute out.
    Seen red: an answer three seconds after the question started a new conversation (the
    real `gemini --acp` in the conformance suite asked its question again). The wait's
    line is a `waiting` screen (the launch clock holds) only while it waits: a load that
    hangs after it runs out the launch timeout (seen red: the line stayed up)."""
    saved: dict[tuple[int, str], list[str]] = {}
    now = [60 * 29_000_000 + 50.0]  # ten seconds before a minute ends
    asked = GeminiSupervisor(tmp_path, None, saved, now)
    asked.open_session()
    now[0] += 3  # the human answers, and middle launches the agent again
    answered = GeminiSupervisor(tmp_path, asked.session_id, saved, now)
    answered.open_session()
    assert answered.session_id == asked.session_id
    assert now[0] == 60 * 29_000_001  # the wait ended as the next minute began
    assert any(LOAD_WAIT in line for line in answered.shown)
    adapter = AcpAdapter({"argv": ["gemini", "--acp"]})
    assert adapter.screen(answered.pane_at_load, False).kind == "starting"
    later = GeminiSupervisor(tmp_path, asked.session_id, saved, now)
    now[0] += 1
    later.open_session()  # opened a minute ago: no wait
    assert later.session_id == asked.session_id and now[0] == 60 * 29_000_001 + 1


def test_the_supervisors_wait_to_load_a_session_is_a_waiting_screen() -> None:
    """What the supervisor shows while it waits out Gemini's minute holds the launch's
    clock (`Screen("waiting")`), and only until the agent is ready."""
    adapter = AcpAdapter({"argv": ["gemini", "--acp"]})
    pane = f"ACP supervisor\n[gemini-cli {LOAD_WAIT}: 42s]\n\n"
    assert adapter.screen(pane, session_started=False).kind == "waiting"
    assert adapter.screen(pane, session_started=True).kind == "ready"
    assert adapter.screen("ACP supervisor\n", session_started=False).kind == "starting"
