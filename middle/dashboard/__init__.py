"""The live browser dashboard: `middle dashboard`, or `middle serve --dashboard`.

A Starlette app served by uvicorn on loopback. Pages are rendered on the server (Jinja2,
autoescaped) and kept live by a few lines of vanilla JS listening to one SSE stream; every
asset ships in this package, so the page works with no network. Actions call the same
use cases as the CLI: quick ones in the request, long ones (a continuation runs the agent)
in a spawned `middle` process whose result lands in the event log.
"""

from middle.dashboard.app import create_app

__all__ = ["create_app"]
