"""The Starlette app: routes, the feed's lifespan, and the glue between requests, views and
actions. `create_app(secret)` builds one; `server.py` serves it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlite_utils import Database
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from middle.app.control import release, take_over
from middle.app.implement import clear_rate_limit
from middle.app.status import park_of
from middle.config import db_path, middle_home
from middle.errors import MiddleError
from middle.store import get_workflow, mark_comments_sent, open_db, recent_events
from middle.system import git
from middle.system.tmux import Tmux

from . import actions, comments, review, views
from .control import pause_from_form
from .feed import EventFeed
from .metrics import build_registry
from .security import CsrfError, TokenAuth, checked_form, csrf_token

STATIC = Path(__file__).parent / "static"


class Dashboard:
    """Per-app state: the secret, the feed, the jobs, per-thread database connections."""

    def __init__(self, secret: str, home: Path) -> None:
        self.secret = secret
        self.repos = _started_in()
        self.epic_cache: views.EpicCache = {}
        self.home = home
        self.feed = EventFeed(db_path(home))
        self.jobs = actions.Jobs(home)
        self.notices: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._local = threading.local()
        self.env = Environment(
            loader=PackageLoader("middle.dashboard", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.env.filters["one_line"] = views.one_line
        self.env.filters["subject"] = views.subject
        self.env.filters["pretty"] = _pretty
        self.env.filters["segments"] = review.segments

    def db(self) -> Database:
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_db(db_path(self.home))
        return db

    def notice(self, kind: str, text: str) -> str:
        key = secrets.token_urlsafe(6)
        self.notices[key] = (kind, text)
        while len(self.notices) > 200:
            self.notices.popitem(last=False)
        return key

    def render(
        self,
        request: Request,
        name: str,
        *,
        status_code: int = 200,
        notice: tuple[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        notice = notice or self.notices.get(request.query_params.get("notice", ""))
        template = self.env.get_template(name)
        html = template.render(
            request=request,
            csrf=csrf_token(self.secret),
            notice=notice,
            path=request.url.path,
            here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            jobs=list(self.jobs.recent)[:8],
            **context,
        )
        return HTMLResponse(html, status_code=status_code)


def _started_in() -> tuple[str, ...]:
    """The repository the dashboard was started in, if any: shown even before its first
    run, as `--repo` defaults to it on the command line."""
    try:
        return (str(git.repo_root(Path.cwd())),)
    except MiddleError:
        return ()


def _pretty(text: str | None) -> str:
    try:
        return json.dumps(json.loads(text or ""), indent=2, ensure_ascii=False)
    except ValueError:
        return text or ""


def _page(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _safe_back(value: object) -> str:
    """Where to return after a POST: a local path only (never `//host` or a URL)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value.split("#", 1)[0]
    return "/"


def _with_notice(back: str, key: str) -> str:
    base = back.split("?", 1)[0]
    query = [
        part
        for part in back.partition("?")[2].split("&")
        if part and not part.startswith("notice=")
    ]
    return base + "?" + "&".join([*query, f"notice={key}"])


def create_app(secret: str | None = None, home: Path | None = None) -> Starlette:
    dash = Dashboard(secret or secrets.token_urlsafe(24), home or middle_home())

    def review_of(request: Request, run: dict[str, Any], page: int = 1) -> dict[str, Any]:
        here = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        found = review.review_view(dash.db(), run, page)
        park = run.get("park") or park_of(dash.db(), run)
        commentable = run["state"] == "waiting-human" and park.get("reason") in views.REVIEWABLE
        return {**found, "csrf": csrf_token(dash.secret), "here": here, "commentable": commentable}

    def home_page(request: Request) -> Response:
        db = dash.db()
        needs = views.needs_you(db)
        return dash.render(
            request,
            "home.html",
            needs=needs,
            reviews={run["id"]: review_of(request, run) for run in needs.reviews},
            runs=views.runs_view(db, {}, 1)["runs"][:15],
            events=recent_events(db, 30),
        )

    def runs_page(request: Request) -> Response:
        filters = {k: request.query_params.get(k, "") for k in ("repo", "state", "adapter")}
        return dash.render(
            request, "runs.html", **views.runs_view(dash.db(), filters, _page(request))
        )

    def run_page(request: Request) -> Response:
        db = dash.db()
        try:
            row = get_workflow(db, request.path_params["workflow_id"])
        except MiddleError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        shown = views.inspector(db, row, Tmux())
        if row["kind"] == "implementation" and row["epic_ref"]:
            shown["review"] = review_of(request, row, _page(request))
        return dash.render(request, "run.html", **shown)

    def epics_page(request: Request) -> Response:
        return dash.render(
            request, "epics.html", repos=views.epics_view(dash.db(), dash.repos, dash.epic_cache)
        )

    def repos_page(request: Request) -> Response:
        return dash.render(request, "repos.html", repos=views.repos_view(dash.db(), dash.repos))

    def activity_page(request: Request) -> Response:
        return dash.render(request, "activity.html", events=recent_events(dash.db(), 200))

    async def events(request: Request) -> Response:
        header = request.headers.get("last-event-id", "")
        last_seen = int(header) if header.isdigit() else None

        async def stream() -> AsyncIterator[ServerSentEvent]:
            async for message in dash.feed.stream(last_seen):
                yield ServerSentEvent(
                    data=json.dumps(message.data),
                    event=message.kind,
                    id=None if message.id is None else str(message.id),
                )

        return EventSourceResponse(stream(), ping=15, send_timeout=30)

    def metrics(request: Request) -> Response:
        registry = build_registry(dash.db, lambda: len(dash.feed.subscribers))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def health(request: Request) -> Response:
        dash.db().execute("SELECT 1").fetchone()
        return PlainTextResponse("ok")

    def action(handler: Callable[[Any], str]) -> Callable[[Request], Any]:
        """A POST: check CSRF, run `handler(form)` (returns a notice), redirect back."""

        async def endpoint(request: Request) -> Response:
            try:
                form = await checked_form(request, dash.secret)
            except CsrfError as exc:
                return PlainTextResponse(f"403: {exc}; reload the page", status_code=403)
            values = {key: form.get(key) for key in form}
            values.update(request.path_params)
            back = _safe_back(values.get("back"))
            try:
                text = await asyncio.to_thread(handler, values)
                key = dash.notice("ok", text)
            except actions.BAD_REQUEST as exc:  # a form no page sends: say why, act on nothing
                notice = ("error", str(exc))
                return dash.render(
                    request, "refused.html", status_code=400, notice=notice, back=back
                )
            except MiddleError as exc:
                key = dash.notice("error", str(exc))
            return RedirectResponse(_with_notice(back, key), 303)

        return endpoint

    def wid(form: dict[str, Any]) -> str:
        return actions.form_field(form, "workflow_id", "run")

    def do_answer(form: dict[str, Any]) -> str:
        job = actions.answer(dash.jobs, dash.db(), wid(form), str(form.get("text") or ""))
        return f"answer sent to issue {job.ref}; the agent resumes (result below, live)"

    def do_review(form: dict[str, Any]) -> str:
        """Approve, or request changes with the summary and the run's draft line comments:
        on the pull request in GitHub mode (the poller starts the round from it), else
        through `middle review`. The drafts are marked sent once they went."""
        db, workflow_id = dash.db(), wid(form)
        verdict = "approve" if form.get("verdict") == "approve" else "request-changes"
        summary = str(form.get("feedback") or "")
        drafts = comments.drafts_of(db, workflow_id) if verdict == "request-changes" else []
        sent = [str(c["id"]) for c in drafts]
        if drafts:
            row = actions.expect(db, workflow_id, ("waiting-human",), views.REVIEWABLE)
            number = comments.github_pr(row)
            if number is not None:
                event = comments.post_review(row, number, summary, drafts)
                mark_comments_sent(db, workflow_id, sent)
                if event == "REQUEST_CHANGES":
                    return (
                        f"review with {len(drafts)} line comment(s) posted on PR #{number}; "
                        "middle's poller starts the next round from it"
                    )
        job = actions.review(
            dash.jobs, db, workflow_id, verdict, comments.feedback(summary, drafts)
        )
        mark_comments_sent(db, workflow_id, sent)
        said = f" with {len(drafts)} line comment(s)" if drafts else ""
        return f"{verdict} sent for issue {job.ref}{said}"

    def do_comment(form: dict[str, Any]) -> str:
        return comments.add_comment(dash.db(), form)

    def do_discard(form: dict[str, Any]) -> str:
        return comments.discard_comment(dash.db(), form)

    def do_cancel(form: dict[str, Any]) -> str:
        return f"cancelling issue {actions.cancel(dash.jobs, dash.db(), wid(form)).ref}"

    def do_resume(form: dict[str, Any]) -> str:
        return f"resuming issue {actions.resume(dash.jobs, dash.db(), wid(form)).ref}"

    def do_take_over(form: dict[str, Any]) -> str:
        control = take_over(wid(form), dash.db())
        return f"you control issue {control.ref} now; attach with: {control.attach}"

    def do_release(form: dict[str, Any]) -> str:
        control = release(wid(form), dash.db())
        return f"middle controls issue {control.ref} again"

    def do_clear(form: dict[str, Any]) -> str:
        adapter = actions.form_field(form, "adapter", "adapter")
        clear_rate_limit(adapter)
        return f"{adapter} is available for dispatch again"

    def do_dispatch(form: dict[str, Any]) -> str:
        repo = actions.form_field(form, "repo", "repository")
        job = actions.dispatch(dash.jobs, repo, actions.form_field(form, "ref", "issue"))
        return f"dispatching issue {job.ref}"

    def do_pause(form: dict[str, Any]) -> str:
        return pause_from_form(dash.db(), form)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(dash.feed.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    routes = [
        Route("/", home_page),
        Route("/runs", runs_page),
        Route("/runs/{workflow_id}", run_page),
        Route("/epics", epics_page),
        Route("/repos", repos_page),
        Route("/activity", activity_page),
        Route("/events", events),
        Route("/metrics", metrics),
        Route("/health", health),
        Route("/actions/answer", action(do_answer), methods=["POST"]),
        Route("/actions/review", action(do_review), methods=["POST"]),
        Route("/actions/comment", action(do_comment), methods=["POST"]),
        Route("/actions/comment-discard", action(do_discard), methods=["POST"]),
        Route("/actions/cancel", action(do_cancel), methods=["POST"]),
        Route("/actions/resume", action(do_resume), methods=["POST"]),
        Route("/actions/take-over", action(do_take_over), methods=["POST"]),
        Route("/actions/release", action(do_release), methods=["POST"]),
        Route("/actions/clear-rate-limit", action(do_clear), methods=["POST"]),
        Route("/actions/dispatch", action(do_dispatch), methods=["POST"]),
        Route("/actions/pause", action(do_pause), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TokenAuth, secret=dash.secret)],
        lifespan=lifespan,
    )
    app.state.dashboard = dash
    return app
