"""JSON-RPC 2.0 over an agent's stdio, as the Agent Client Protocol speaks it.

One message per line, both ways (ACP's stdio transport). `AcpPeer` starts the agent,
writes requests and responses, and turns everything the agent sends into `Incoming`
items on one queue, read by one loop (the supervisor's), so nothing here decides what a
message means. The agent's stderr goes to a log file: it is the agent's diagnostics, not
the protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from middle.errors import UNREADABLE_JSON


@dataclass(frozen=True)
class Incoming:
    """What arrived: a `response` to one of our requests (`id`, `result` or `error`), a
    `request` from the agent (`id`, `method`, `params`), a `notification` (`method`,
    `params`), a `line` the user typed (`text`), the terminal `closed`, or the agent's
    `exit` (`code`)."""

    kind: Literal["response", "request", "notification", "line", "closed", "exit"]
    id: Any = None
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: dict[str, Any] | None = None
    text: str = ""
    code: int | None = None


class AcpPeer:
    """The agent process and its side of the conversation."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        inbox: queue.Queue[Incoming],
        stderr_log: Path,
    ) -> None:
        stderr_log.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = stderr_log.open("ab")
        self.process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group: `stop` ends all of it
        )
        self.inbox = inbox
        self._next_id = 0
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def request(self, method: str, params: Mapping[str, Any]) -> int:
        """Send a request; its response arrives on the inbox with this id."""
        with self._lock:
            self._next_id += 1
            number = self._next_id
        self._send({"jsonrpc": "2.0", "id": number, "method": method, "params": dict(params)})
        return number

    def notify(self, method: str, params: Mapping[str, Any]) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": dict(params)})

    def respond(self, number: Any, result: Any) -> None:
        self._send({"jsonrpc": "2.0", "id": number, "result": result})

    def respond_error(self, number: Any, code: int, message: str) -> None:
        error = {"code": code, "message": message}
        self._send({"jsonrpc": "2.0", "id": number, "error": error})

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        if stdin is None:
            return
        with self._lock:
            try:
                stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
                stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the agent is gone; its exit arrives on the inbox

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        for line in stdout:
            incoming = parse_message(line)
            if incoming is not None:
                self.inbox.put(incoming)
        self.inbox.put(Incoming("exit", code=self.process.wait()))

    def stop(self) -> None:
        """End the agent and everything it started: close its stdin (ACP agents may exit
        on EOF), then terminate its process group. An npm launcher (codex-acp's) does not
        pass a SIGTERM on to the native binary it runs, which would live on as an orphan."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        for sig, grace in ((0, 2.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not self._signal_group(sig):
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self._signal_group(0):
                time.sleep(0.05)
        self._reader.join(timeout=3)  # it reads to the end of the agent's output
        if not self._reader.is_alive() and self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def _signal_group(self, sig: int) -> bool:
        """Send `sig` to the agent's process group (0: none, only look); False when no
        process of it is left. The agent itself is reaped first, so that it is not
        counted as a zombie."""
        self.process.poll()
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


def parse_message(line: str) -> Incoming | None:
    """One line from the agent as an `Incoming`; None for a line that is not JSON-RPC (an
    agent that logs to stdout by mistake must not stop the conversation)."""
    try:
        message = json.loads(line)
    except UNREADABLE_JSON:
        return None
    if not isinstance(message, dict):
        return None
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    if "method" in message:
        method = str(message["method"])
        if "id" in message:
            return Incoming("request", id=message["id"], method=method, params=params)
        return Incoming("notification", method=method, params=params)
    if "id" in message:
        error = message.get("error")
        return Incoming(
            "response",
            id=message["id"],
            result=message.get("result"),
            error=error if isinstance(error, dict) else None,
        )
    return None


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment: the supervisor's own (middle's launcher already reduced it
    to the allow-list), without the terminal's: the agent speaks JSON, not to a screen."""
    return {k: v for k, v in environ.items() if k not in ("TERM", "COLORTERM")} | {"NO_COLOR": "1"}
