"""The dashboard's ASGI application: routes, rendering, actions.

Pages are rendered on the server by Jinja (autoescape on), the flow graph
and the timeline are SVG written by templates, and the one script is served
by the app itself. Nothing here runs on the engine's path: every page is a
read of the store, and live updates poll it (see :mod:`._live`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from steadyflow.dashboard._jobs import JobSource, can_repost, job_rows, repost
from steadyflow.dashboard._live import flow_events
from steadyflow.dashboard._security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    TokenGate,
    new_csrf_token,
    same_origin,
    valid_csrf,
)
from steadyflow.dashboard._views import flow_page
from steadyflow.errors import NotFoundError
from steadyflow.persistence.base import Backend
from steadyflow.persistence.models import FlowDetail, is_valid_id
from steadyflow.states import FlowState

__all__ = ["DEFAULT_POLL", "PAGE_SIZE", "create_app"]

log = logging.getLogger("steadyflow.dashboard")

PAGE_SIZE = 50
"""Flows per page of the listing."""

DEFAULT_POLL = 0.25
"""Seconds between two reads of a shown flow for live updates (well under the 1 s promise)."""

NOTICES = {
    "reposted": "The job was posted again; a conductor will resume its flow.",
    "resume-started": "Resuming the flow in the dashboard's process; this page follows it.",
    "revoke-started": "Revoking the flow; this page follows it.",
}
"""The messages an action may leave on the next page (never text from the request)."""


def _when(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("steadyflow.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


class _Dashboard:
    """The state one app holds: the store, the optional board, settings, workers."""

    def __init__(
        self,
        backend: Backend,
        *,
        board: JobSource | None,
        allow_actions: bool,
        poll: float,
        page_size: int,
    ) -> None:
        self.backend = backend
        self.board = board
        self.allow_actions = allow_actions
        self.poll = poll
        self.page_size = page_size
        self.env = _environment()
        # Actions (a resume, a revert) can run for long: never on a request's thread.
        self.workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="steadyflow-dash")
        self.streams_stop = threading.Event()

    # -- rendering --------------------------------------------------------------------

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE)
        fresh = not csrf
        if not csrf:
            csrf = new_csrf_token()
        html = self.env.get_template(template).render(
            csrf_field=CSRF_FIELD,
            csrf_token=csrf,
            allow_actions=self.allow_actions,
            has_board=self.board is not None,
            states=[s.value for s in FlowState],
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        if fresh:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/")
        return response

    def problem(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "problem.html", status=status, message=message)

    def fragments(self, detail: FlowDetail) -> dict[str, str]:
        """The parts of a flow page that live updates replace (element id -> HTML)."""
        view = flow_page(detail)
        parts = self.env.get_template("_flow_parts.html").make_module({"view": view})
        return {
            "flow-state": str(parts.state_badge()),  # type: ignore[attr-defined]
            "graph": str(parts.graph()),  # type: ignore[attr-defined]
            "timeline-body": str(parts.timeline()),  # type: ignore[attr-defined]
            "atoms": str(parts.atoms()),  # type: ignore[attr-defined]
        }

    # -- pages ------------------------------------------------------------------------

    def flows_page(self, request: Request) -> Response:
        from steadyflow.persistence.query import count_flows, list_flows

        query = request.query_params
        wanted = [s for s in query.getlist("state") if s]
        unknown = [s for s in wanted if s not in FlowState.__members__]
        if unknown:
            return self.problem(request, 400, f"unknown flow state {unknown[0]!r}")
        name = query.get("name", "").strip() or None
        flow_id = query.get("id", "").strip() or None
        if flow_id is not None and is_valid_id(flow_id):
            try:
                self.backend.get_flow_detail(flow_id)
            except NotFoundError:
                pass
            else:
                return RedirectResponse(f"/flows/{flow_id}", status_code=303)
        cursor = query.get("cursor") or None
        try:
            page = list_flows(
                self.backend,
                states=wanted,
                name=name,
                id_prefix=flow_id,
                limit=self.page_size,
                cursor=cursor,
            )
        except ValueError as exc:
            return self.problem(request, 400, str(exc))
        # Counts are of the whole store: a count under a name filter scans every row
        # (a substring has no index), which alone would blow the page's time budget.
        counts = count_flows(self.backend)
        kept = [("state", s) for s in wanted]
        kept += [(k, v) for k, v in (("name", name), ("id", flow_id)) if v]
        next_url = None
        if page.next_cursor is not None:
            next_url = "/?" + urlencode([*kept, ("cursor", page.next_cursor)])
        return self.render(
            request,
            "flows.html",
            flows=page.flows,
            counts={state.value: n for state, n in counts.items()},
            total=sum(counts.values()),
            selected=set(wanted),
            name=name or "",
            flow_id=flow_id or "",
            next_url=next_url,
            first_url=("/?" + urlencode(kept)) if cursor else None,
            filter_query=urlencode([(k, v) for k, v in kept if k != "state"]),
        )

    def one_flow_page(self, request: Request) -> Response:
        flow_id = request.path_params["flow_id"]
        try:
            detail = self.backend.get_flow_detail(flow_id)
        except NotFoundError:
            return self.problem(request, 404, f"no flow {flow_id} in this store")
        notice = NOTICES.get(request.query_params.get("notice", ""))
        view = flow_page(detail)
        return self.render(request, "flow.html", view=view, notice=notice, poll=self.poll)

    def events(self, request: Request) -> Response:
        flow_id = request.path_params["flow_id"]
        stream = flow_events(
            request, self.backend, flow_id, self.fragments, self.poll, self.streams_stop
        )
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    def jobs_page(self, request: Request) -> Response:
        if self.board is None:
            return self.problem(request, 404, "no job board: start the dashboard with --board URL")
        state = request.query_params.get("state", "").strip() or None
        try:
            rows, more = job_rows(self.board, state)
        except ValueError as exc:
            return self.problem(request, 400, str(exc))
        return self.render(
            request,
            "jobs.html",
            jobs=rows,
            more=more,
            state=state or "",
            can_repost=self.allow_actions and can_repost(self.board),
            notice=NOTICES.get(request.query_params.get("notice", "")),
        )

    async def repost_job(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        if self.board is None or not can_repost(self.board):
            return self.problem(request, 404, "no job board that jobs can be posted to")
        job_id = request.path_params["job_id"]
        try:
            await run_in_threadpool(repost, self.board, job_id)
        except LookupError:
            return self.problem(request, 404, f"no job {job_id} on the board")
        except ValueError as exc:
            return self.problem(request, 409, str(exc))
        return RedirectResponse("/jobs?notice=reposted", status_code=303)

    # -- actions ----------------------------------------------------------------------

    async def _checked_form(self, request: Request) -> dict[str, str] | Response:
        """The posted form, or the response refusing the action."""
        if not self.allow_actions:
            return self.problem(
                request, 403, "actions are disabled: start the dashboard with --allow-actions"
            )
        form = await _form(request)
        if form is None:
            return self.problem(request, 415, "actions take an urlencoded form")
        if not same_origin(request.headers) or not valid_csrf(
            request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)
        ):
            return self.problem(request, 403, "refused: the form's CSRF token is missing or stale")
        return form

    def confirm_revoke(self, request: Request) -> Response:
        if not self.allow_actions:
            return self.problem(
                request, 403, "actions are disabled: start the dashboard with --allow-actions"
            )
        flow_id = request.path_params["flow_id"]
        try:
            detail = self.backend.get_flow_detail(flow_id)
        except NotFoundError:
            return self.problem(request, 404, f"no flow {flow_id} in this store")
        return self.render(request, "revoke.html", flow=detail)

    async def revoke(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        flow_id = request.path_params["flow_id"]
        reason = checked.get("reason", "").strip() or "revoked from the dashboard"
        if checked.get("confirm") != "yes":
            return self.problem(request, 400, "a revoke must be confirmed")
        if not await self._exists(flow_id):
            return self.problem(request, 404, f"no flow {flow_id} in this store")
        self.workers.submit(self._run_revoke, flow_id, reason)
        return RedirectResponse(f"/flows/{flow_id}?notice=revoke-started", status_code=303)

    async def resume(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        flow_id = request.path_params["flow_id"]
        try:
            detail = await run_in_threadpool(self.backend.get_flow_detail, flow_id)
        except NotFoundError:
            return self.problem(request, 404, f"no flow {flow_id} in this store")
        if detail.state not in (FlowState.SUSPENDED, FlowState.FAILURE):
            message = f"only a suspended or failed flow is resumed; {flow_id} is {detail.state}"
            return self.problem(request, 409, message)
        self.workers.submit(self._run_resume, flow_id)
        return RedirectResponse(f"/flows/{flow_id}?notice=resume-started", status_code=303)

    async def _exists(self, flow_id: str) -> bool:
        # Store reads block: never on the event loop, which serves every live page.
        try:
            await run_in_threadpool(self.backend.get_flow_detail, flow_id)
        except NotFoundError:
            return False
        return True

    def _run_revoke(self, flow_id: str, reason: str) -> None:
        from steadyflow._api import revoke

        try:
            revoke(self.backend, flow_id, reason=reason, requested_by="steadyflow dashboard")
        except Exception:
            log.exception("revoking flow %s from the dashboard failed", flow_id)

    def _run_resume(self, flow_id: str) -> None:
        from steadyflow._api import load_from_backend

        try:
            with load_from_backend(self.backend, flow_id) as engine:
                engine.run()
        except Exception:
            # The store records how the run ended; the log keeps why for the operator.
            log.exception("resuming flow %s from the dashboard failed", flow_id)


FORM_BYTES = 16_384
"""The largest action form read (a reason and two tokens)."""


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form posted, or None when it is something else.

    Parsed here with the standard library: the forms are tiny, and Starlette's
    own parser would need python-multipart for nothing more.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > FORM_BYTES:
        return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class _ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` (time to the response's first byte)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


def create_app(
    backend: Backend,
    *,
    board: JobSource | None = None,
    allow_actions: bool = False,
    token: str | None = None,
    poll: float = DEFAULT_POLL,
    page_size: int = PAGE_SIZE,
) -> Starlette:
    """The dashboard as an ASGI app over ``backend`` (run it with any ASGI server).

    Args:
        backend: the store to show; the app does not close it.
        board: a job board (anything with ``iter_jobs(state=...)``) for the jobs page.
        allow_actions: enable resume, revoke and re-posting trashed jobs (off: the
            dashboard only reads).
        token: when given, every request must carry it (see :mod:`._security`).
        poll: seconds between two reads of a shown flow for live updates.
        page_size: flows per listing page.

    Raises:
        TypeError: ``backend`` is not a Backend.
        ValueError: ``poll`` or ``page_size`` is not positive, or ``token`` is empty.
    """
    if not isinstance(backend, Backend):
        raise TypeError(f"the dashboard needs a steadyflow Backend, not {backend!r}")
    if not poll > 0:
        raise ValueError(f"poll must be a positive number of seconds, not {poll!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be a positive int, not {page_size!r}")
    if token is not None and not token:
        raise ValueError("an empty token would let everyone in; pass None for no token")
    dash = _Dashboard(
        backend, board=board, allow_actions=allow_actions, poll=poll, page_size=page_size
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        dash.workers.shutdown(wait=True, cancel_futures=False)

    static = resources.files("steadyflow.dashboard").joinpath("static")
    routes = [
        Route("/", dash.flows_page),
        Route("/flows/{flow_id}", dash.one_flow_page),
        Route("/flows/{flow_id}/events", dash.events),
        Route("/flows/{flow_id}/revoke", dash.confirm_revoke, methods=["GET"]),
        Route("/flows/{flow_id}/revoke", dash.revoke, methods=["POST"]),
        Route("/flows/{flow_id}/resume", dash.resume, methods=["POST"]),
        Route("/jobs", dash.jobs_page),
        Route("/jobs/{job_id}/repost", dash.repost_job, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = dash
    # A server shutting down calls this first: open event streams end at their next poll.
    app.state.stop_streams = dash.streams_stop.set
    app.add_middleware(_ServerTiming)
    if token is not None:
        app.add_middleware(TokenGate, token=token)
    return app
