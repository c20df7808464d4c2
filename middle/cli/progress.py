"""What a person watching a foreground run sees: on a TTY a live status line (step,
attempt, the agent's last hook event, elapsed time); elsewhere (CI) plain lines."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.status import Status


class Progress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal
        self.started = time.monotonic()
        self.current = "starting"
        self.last_hook = "-"
        self._status: Status | None = None

    def __enter__(self) -> Progress:
        if self.live:
            self._status = self.console.status(self._line())
            self._status.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _line(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        return f"{self.current} · last hook: {self.last_hook} · {elapsed}s"

    def _refresh(self) -> None:
        if self._status is not None:
            self._status.update(self._line())

    def step(self, name: str, attempt: int) -> None:
        self.current = f"{name} (attempt {attempt})"
        if self.live:
            self._refresh()
        else:
            self.console.print(f"· {self.current}", soft_wrap=True)

    def hook(self, event: str) -> None:
        self.last_hook = event
        if self.live:
            self._refresh()
        else:
            self.console.print(f"  hook {event}", soft_wrap=True)

    def note(self, text: str) -> None:
        # soft_wrap: a log line keeps a session name or a path whole, for copy and grep
        self.console.print(f"  {text}", markup=False, soft_wrap=True)
        self._refresh()
