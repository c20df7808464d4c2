"""What every middle task shares: the error rule, the console, required flags and the
flag help texts. `middle.cli.tasks` and `middle.cli.ci` both build on it."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit, task
from invoke.tasks import Task

from middle.errors import MiddleError

if TYPE_CHECKING:
    from rich.console import Console

ISSUE_HELP = "the issue: a GitHub issue number, or an Epic's slug in file mode"
REPO_HELP = "the repository (default: the current directory)"


def one_line(message: str) -> str:
    """`message` as the one line a user mistake prints: a message that carries another
    program's words (gh's, git's) can hold several lines, joined here with "; "."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def middle_task(**options: Any) -> Callable[[Callable[..., Any]], Task[Any]]:
    """`invoke.task(**options)`, plus the one rule for errors: a `MiddleError` becomes one
    line on stderr and exit code 1; anything else is a bug and keeps its traceback."""

    def decorate(body: Callable[..., Any]) -> Task[Any]:
        @functools.wraps(body)
        def run(c: Context, *args: Any, **kwargs: Any) -> Any:
            try:
                return body(c, *args, **kwargs)
            except MiddleError as exc:
                raise Exit(f"middle: {one_line(str(exc))}", code=1) from exc
            except (_sqlite_error(), OSError) as exc:  # a full, read-only or damaged disk
                from middle.config import db_path, middle_home
                from middle.store import store_fault

                fault = store_fault(db_path(middle_home()), exc)
                if fault is None:
                    raise
                raise Exit(f"middle: {fault}", code=1) from exc

        return task(run, **options)  # type: ignore[return-value]  # invoke.task is untyped

    return decorate


def _sqlite_error() -> type[Exception]:
    """`sqlite3.Error`, imported only when an error is being matched (`--help` needs no
    sqlite3)."""
    import sqlite3

    return sqlite3.Error


def console() -> Console:
    from rich.console import Console  # rich loads only when something is printed

    # Piped or redirected output is for a program or a file: never cut a cell to fit.
    width = None if sys.stdout.isatty() else 10_000
    # No emoji codes: an agent's ":x:" is printed as it said it (and rich's table of
    # codes is never loaded).
    return Console(highlight=False, soft_wrap=True, width=width, emoji=False)


def require(task_name: str, **values: str) -> None:
    """Required flags are declared optional so `middle TASK --help` shows help instead of
    being taken as the flag's value; a missing one is still a one-line error."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        raise Exit(f"middle: {flags} is required; see: middle {task_name} --help", code=1)


def whole_number(flag: str, text: str, low: int, high: int | None, expected: str) -> int:
    """A flag's whole-number value (declared as text, so `abc` reaches us): one line and
    exit 1 if it is not one, or not from `low` to `high`."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise Exit(f"middle: {flag} {text!r}: expected {expected}", code=1)
    return value


def port_number(text: str) -> int:
    """`--port`: 0 (a free port) to 65535."""
    return whole_number("--port", text, 0, 65535, "a port number, 0 to 65535 (0: any free one)")
