"""Who may use the dashboard: whoever holds the token printed in its URL.

- `GET ...?token=T` with the right token sets an HttpOnly, SameSite=Strict cookie and
  redirects to the same page without the token (so it leaves the address bar and history).
  The cookie is named by the port (`middle_dashboard_4120`): a browser keeps one cookie
  per name and host whatever the port, so two dashboards on one host need two names.
- Every other request needs that cookie (or `Authorization: Bearer T`, for scrapers of
  `/metrics`); without it: 401. `/health` alone is open: it says "ok" and nothing else.
- Every POST carries a CSRF token (an HMAC of the secret) in a hidden field, and a
  cross-origin `Origin` header is refused, on top of SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from starlette.datastructures import URL, FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "middle_dashboard"
OPEN_PATHS = ("/health",)


def cookie_name(scope: Scope) -> str:
    """The login cookie's name on the port this request came in on."""
    server = scope.get("server")
    port = server[1] if server else None
    return f"{COOKIE}_{port}" if port is not None else COOKIE


def csrf_token(secret: str) -> str:
    return hmac.new(secret.encode(), b"middle-dashboard-csrf", hashlib.sha256).hexdigest()


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class TokenAuth:
    """ASGI middleware: the token check in front of every route."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None and _same(given, self.secret) and request.method == "GET":
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = URL(scope=scope).replace(query=urlencode(kept)).path
            if kept:
                target += "?" + urlencode(kept)
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                cookie_name(scope), self.secret, httponly=True, samesite="strict", path="/"
            )
            await response(scope, receive, send)
            return
        bearer = request.headers.get("authorization", "")
        if _same(request.cookies.get(cookie_name(scope)), self.secret) or _same(
            bearer.removeprefix("Bearer ").strip() or None, self.secret
        ):
            await self.app(scope, receive, send)
            return
        text = "401: open the dashboard with the URL `middle dashboard` printed (it has the token)"
        await PlainTextResponse(text, status_code=401)(scope, receive, send)


class CsrfError(Exception):
    pass


async def checked_form(request: Request, secret: str) -> FormData:
    """The POSTed form, once its CSRF token and origin are checked; `CsrfError` if not."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise CsrfError(f"cross-origin POST from {origin}")
    form = await request.form()
    given = form.get("csrf")
    if not isinstance(given, str) or not _same(given, csrf_token(secret)):
        raise CsrfError("missing or wrong CSRF token")
    return form
