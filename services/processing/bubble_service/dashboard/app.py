"""The items dashboard: a read-only ASGI app (Starlette) over the store the service reads.

Pages: items (filter by status and owner), an item (images, suggestions, runs), batches, a batch
with live progress (server-sent events from the batch's row). Every run links to its page in the
Temporal UI. Nothing here writes to the store or talks to Temporal.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bubble.processing.v1 import item_pb2
from bubble_service.auth import Authenticator
from bubble_service.dashboard.pages import STATUS_FILTERS, Pages
from bubble_service.dashboard.progress import progress_stream
from bubble_service.dashboard.settings import DashboardSettings
from bubble_service.dashboard.signin import SignIn, safe_next, to_sign_in
from bubble_service.dashboard.thumbnails import LIST_WIDTH, image_thumbnails, pick, read_thumbnail
from bubble_service.principals import Principal
from bubble_shared.store import (
    BatchStore,
    Browsing,
    InvalidPageTokenError,
    ItemNotFoundError,
    ItemStore,
)
from bubble_shared.store.database import create_engine

Endpoint = Callable[[Request], Awaitable[Response]]
SignedHandler = Callable[[Request, Principal], Awaitable[Response]]
log = logging.getLogger("bubble_dashboard")
BATCHES_SHOWN = 50
MEMBERS_SHOWN = 200
RUNS_SHOWN = 20
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Stores:
    items: ItemStore
    batches: BatchStore
    browsing: Browsing


class Dashboard:
    def __init__(self, settings: DashboardSettings, stores: Stores) -> None:
        self._settings = settings
        self._stores = stores
        self._signin = SignIn(Authenticator(settings.auth_tokens))
        self._pages = Pages(temporal_ui_url=settings.temporal_ui_url, namespace=settings.namespace)

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self._signed(self.items)),
            Route("/items/{item_id:str}", self._signed(self.item)),
            Route(
                "/items/{item_id:str}/images/{image_id:str}/thumbnail",
                self._signed(self.thumbnail, page=False),
            ),
            Route("/batches", self._signed(self.batches)),
            Route("/batches/{batch_id:str}", self._signed(self.batch)),
            Route("/batches/{batch_id:str}/progress", self._signed(self.progress, page=False)),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/healthz", self.healthz),
            Mount("/static", StaticFiles(packages=[("bubble_service.dashboard", "static")])),
        ]

    def _signed(self, handler: SignedHandler, *, page: bool = True) -> Endpoint:
        """``handler`` with the request's principal; without one, the sign-in form (a page) or
        401 (anything else)."""

        async def endpoint(request: Request) -> Response:
            principal = self._signin.principal(request)
            if principal is None:
                if page:
                    return to_sign_in(request)
                return PlainTextResponse("sign in first", status_code=401)
            return await handler(request, principal)

        return endpoint

    def _page(
        self, request: Request, template: str, status_code: int = 200, **context: object
    ) -> Response:
        context.update(signed_in=self._signin.enabled, path=request.url.path)
        return self._pages.render(template, context, status_code=status_code)

    def _not_found(self, request: Request, what: str) -> Response:
        return self._page(
            request, "message.html", 404, title="Not found", message=f"{what} does not exist."
        )

    async def items(self, request: Request, principal: Principal) -> Response:
        status = request.query_params.get("status", "")
        owner = request.query_params.get("owner", "").strip()
        token = request.query_params.get("page", "")
        if status and status not in STATUS_FILTERS:
            return self._page(
                request,
                "message.html",
                400,
                title="Unknown status",
                message=f"There is no item status {status!r}: choose one of "
                f"{', '.join(STATUS_FILTERS)}.",
            )
        if owner and not principal.may_act_for(owner):
            return self._page(
                request,
                "message.html",
                403,
                title="Not allowed",
                message=f"Your token may not see the items of owner {owner!r}.",
            )
        statuses = [item_pb2.ItemStatus.Value(f"ITEM_STATUS_{status}")] if status else []
        try:
            items, next_token = await run_in_threadpool(
                self._stores.items.list_items,
                page_size=self._settings.page_size,
                page_token=token,
                owner_id=owner,
                statuses=statuses,
                owner_ids=principal.owners,
            )
        except InvalidPageTokenError:
            return self._page(
                request,
                "message.html",
                400,
                title="Stale page link",
                message="This page link belongs to other filters or is damaged: start from the "
                "first page.",
            )
        next_link = ""
        if next_token:
            next_link = "/?" + urllib.parse.urlencode(
                {
                    key: value
                    for key, value in (("status", status), ("owner", owner), ("page", next_token))
                    if value
                }
            )
        return self._page(
            request,
            "items.html",
            items=items,
            status=status,
            owner=owner,
            next_link=next_link,
            list_width=LIST_WIDTH,
        )

    async def item(self, request: Request, principal: Principal) -> Response:
        item_id = request.path_params["item_id"]
        item = await self._visible_item(principal, item_id)
        if item is None:
            return self._not_found(request, f"Item {item_id!r}")
        runs = await run_in_threadpool(self._stores.browsing.item_runs, item_id, RUNS_SHOWN)
        return self._page(request, "item.html", item=item, runs=runs)

    async def thumbnail(self, request: Request, principal: Principal) -> Response:
        item = await self._visible_item(principal, request.path_params["item_id"])
        thumbnails = [] if item is None else image_thumbnails(item, request.path_params["image_id"])
        width = request.query_params.get("width", "")
        chosen = pick(thumbnails, int(width) if width.isdigit() else LIST_WIDTH)
        found = (
            None
            if chosen is None
            else await run_in_threadpool(
                read_thumbnail, self._settings.store.media_root, chosen.uri
            )
        )
        if found is None:
            return PlainTextResponse("no such thumbnail", status_code=404)
        content, content_type = found
        return Response(
            content, media_type=content_type, headers={"cache-control": "private, max-age=3600"}
        )

    async def batches(self, request: Request, principal: Principal) -> Response:
        batches = await run_in_threadpool(
            self._stores.browsing.recent_batches, BATCHES_SHOWN, owner_ids=principal.owners
        )
        return self._page(request, "batches.html", batches=batches)

    async def batch(self, request: Request, principal: Principal) -> Response:
        batch_id = request.path_params["batch_id"]
        if not await self._may_see_batch(principal, batch_id):
            return self._not_found(request, f"Batch {batch_id!r}")
        status = await run_in_threadpool(self._stores.batches.get, batch_id)
        if status is None:
            return self._not_found(request, f"Batch {batch_id!r}")
        members = await run_in_threadpool(
            self._stores.browsing.batch_members, batch_id, MEMBERS_SHOWN
        )
        return self._page(
            request, "batch.html", batch=status, members=members, members_shown=MEMBERS_SHOWN
        )

    async def progress(self, request: Request, principal: Principal) -> Response:
        batch_id = request.path_params["batch_id"]
        if not await self._may_see_batch(principal, batch_id):
            return PlainTextResponse("no such batch", status_code=404)
        return progress_stream(self._stores.batches, batch_id, self._settings.progress_poll_seconds)

    async def login(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/"))
        if not self._signin.enabled:
            return RedirectResponse(target, status_code=303)
        if request.method == "GET":
            return self._page(request, "login.html", target=target, problem="")
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token = form.get("token", [""])[0]
        target = safe_next(form.get("next", [target])[0])
        if not self._signin.accepts(token):
            return self._page(
                request, "login.html", 401, target=target, problem="That token is not valid."
            )
        response = RedirectResponse(target, status_code=303)
        self._signin.remember(response, request, token)
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login" if self._signin.enabled else "/", status_code=303)
        self._signin.forget(response)
        return response

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def database_unreachable(self, request: Request, error: Exception) -> Response:
        """A database fault is the page's, not the operator's: say so, and that a reload will
        do once it is back."""
        log.warning("the dashboard could not read the database: %s", error)
        return self._page(
            request,
            "message.html",
            503,
            title="Database unreachable",
            message="The item database cannot be reached right now. Reload this page in a moment.",
        )

    async def _visible_item(self, principal: Principal, item_id: str) -> item_pb2.Item | None:
        try:
            item = await run_in_threadpool(
                self._stores.items.get_item, item_id, view=item_pb2.ITEM_VIEW_FULL
            )
        except ItemNotFoundError:
            return None
        return item if principal.may_act_for(item.owner_id) else None

    async def _may_see_batch(self, principal: Principal, batch_id: str) -> bool:
        """Whether the batch exists and, as in the API, the token may act for all of its
        owners; one it may not see reads as one that does not exist."""
        scope = await run_in_threadpool(self._stores.batches.owners, batch_id)
        return scope is not None and principal.covers(scope.owner_ids)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response: pages run only this dashboard's own scripts and
    styles, load images only from it, and cannot be framed."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, send_with_headers)


def create_app(settings: DashboardSettings, stores: Stores | None = None) -> ASGIApp:
    """The dashboard over ``stores`` (by default, on settings.store.database_url)."""
    if stores is None:
        engine = create_engine(settings.store.database_url)
        stores = Stores(ItemStore(engine), BatchStore(engine), Browsing(engine))
    dashboard = Dashboard(settings, stores)
    return SecurityHeaders(
        Starlette(
            routes=dashboard.routes(),
            exception_handlers={DBAPIError: dashboard.database_unreachable},
        )
    )
