"""The tasks of the browser dashboard, and the per-repo pause it shares with the CLI."""

from __future__ import annotations

from invoke import Context

from middle.cli.helpers import REPO_HELP, middle_task, port_number
from middle.cli.helpers import console as _console


@middle_task(
    help={
        "host": "the address to listen on (default 127.0.0.1; others need --allow-remote)",
        "port": "the port (default 4120; 0 picks a free one)",
        "open": "open the URL in a browser",
        "allow-remote": "allow a --host beyond loopback (prints a warning)",
    },
    auto_shortflags=False,  # auto -h and -p would read as invoke's --help and --pty
)
def dashboard(
    c: Context,
    host: str = "127.0.0.1",
    port: str = "4120",
    open: bool = False,
    allow_remote: bool = False,
) -> None:
    """Serve the live browser dashboard and print its URL (with its access token)."""
    from middle.dashboard.server import serve_dashboard

    serve_dashboard(
        host, port_number(port), allow_remote=allow_remote, open_browser=open,
        say=lambda text: print(text, flush=True),
    )  # fmt: skip


@middle_task(help={"repo": REPO_HELP})
def pause(c: Context, repo: str = ".") -> None:
    """Pause dispatch for a repository: implement refuses, poll and serve skip it."""
    from middle.app.control import pause_repo

    _console().print(f"dispatch paused for {pause_repo(repo)}", markup=False)


@middle_task(help={"repo": REPO_HELP})
def unpause(c: Context, repo: str = ".") -> None:
    """Resume dispatch for a repository paused with `middle pause`."""
    from middle.app.control import unpause_repo

    _console().print(f"dispatch resumed for {unpause_repo(repo)}", markup=False)
