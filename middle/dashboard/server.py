"""Serve the dashboard with uvicorn on a socket we bind ourselves, so `--port 0` works and
the printed URL carries the real port (tests and `serve --dashboard` rely on that)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import webbrowser
from collections.abc import Callable

import uvicorn

from middle.dashboard.app import create_app
from middle.errors import MiddleError, RemoteBindError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_host(host: str, allow_remote: bool) -> str | None:
    """None for loopback; the warning to print for anything else (if allowed)."""
    loopback = host in LOOPBACK
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if loopback:
        return None
    if not allow_remote:
        raise RemoteBindError(
            f"--host {host} would expose the dashboard beyond this machine; add "
            f"--allow-remote if you mean it (anyone with the URL can act on your agents)"
        )
    return (
        f"warning: the dashboard listens on {host}, beyond loopback; the URL's token is all "
        f"that protects it, and it travels unencrypted (no TLS)"
    )


def serve_dashboard(
    host: str, port: int, *, allow_remote: bool, open_browser: bool, say: Callable[[str], None]
) -> None:
    warning = check_host(host, allow_remote)
    if warning:
        say(warning)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MiddleError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
        ) from exc
    sock.listen(128)
    bound = sock.getsockname()[1]
    secret = secrets.token_urlsafe(24)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/?token={secret}"
    say(f"middle dashboard: {url}")
    if open_browser:
        webbrowser.open(url)
    config = uvicorn.Config(
        create_app(secret), log_level="warning", access_log=False, lifespan="on",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])
