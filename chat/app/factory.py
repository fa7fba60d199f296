"""`create_app(settings)`: the FastAPI app, built from explicit settings, no import-time state.

The lifespan starts the runtime, which does the start of §10.6 in order: migrate
the database, bring the projections up to date by the fastest safe path (tail,
snapshot + tail, or full replay), create the backend, start the turn worker. The
path taken and how long it took are logged here and shown by ``/api/health``.
Then the app opens its reader connection. Stopping reverses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from chat.app.context import AppContext
from chat.app.errors import install_error_handlers
from chat.app.external import ExternalAppends
from chat.app.routes import (
    auth,
    bots,
    chapters,
    chat_files,
    chats,
    edges,
    edits,
    entities,
    events,
    health,
    items,
    lore,
    memories,
    messages,
    proposals,
    snapshots,
    turns,
    world,
    worlds,
)
from chat.app.routes import settings as settings_routes
from chat.app.security import SecurityMiddleware
from chat.app.static_files import add_docs_route, mount_ui
from chat.cards import MAX_CARD_BYTES
from chat.config import Settings
from chat.db.connection import connect
from chat.world.st_chat import MAX_CHAT_FILE_BYTES

if TYPE_CHECKING:
    from chat.runtime.runtime import Runtime
    from chat.snapshots.cold_load import ColdLoadReport

log = logging.getLogger("kith.app")

ROUTERS = (
    auth,
    health,
    bots,
    chat_files,
    chats,
    chapters,
    messages,
    turns,
    entities,
    edges,
    memories,
    world,
    worlds,
    lore,
    events,
    snapshots,
    settings_routes,
    items,
    edits,
    proposals,
)


def make_runtime(settings: Settings, *, rebuild: bool = False) -> Runtime:
    from chat.runtime.runtime import Runtime

    return Runtime(settings, force_rebuild=rebuild)


def log_cold_load(report: ColdLoadReport, seconds: float) -> None:
    log.info(
        "cold load by %s%s: replayed %d events to last_event_id %d in %.3f s%s; started in %.3f s",
        report.path,
        f" from snapshot {report.snapshot}" if report.snapshot else "",
        report.replayed,
        report.last_event_id,
        report.seconds,
        f"; quarantined {', '.join(report.quarantined)}" if report.quarantined else "",
        seconds,
    )


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    rebuild: bool = False,
    keepalive_s: float = 15.0,
) -> FastAPI:
    """The Kith web app. ``runtime`` defaults to a new `Runtime` built from ``settings`` at each
    start; ``rebuild`` forces the snapshot-or-replay path of the cold load (``kith serve
    --rebuild``); ``keepalive_s`` is the idle time before an SSE keep-alive comment."""
    ctx = AppContext(settings=settings, runtime=runtime, rebuild=rebuild, keepalive_s=keepalive_s)
    given_runtime = runtime

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.runtime = given_runtime or make_runtime(ctx.settings, rebuild=ctx.rebuild)
        started = time.perf_counter()
        ctx.cold_load = await ctx.runtime.start()
        log_cold_load(ctx.cold_load, time.perf_counter() - started)
        ctx.reader = connect(ctx.db_path)
        watcher = ExternalAppends(ctx.runtime)  # `kith chat` on the same data directory
        await watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            ctx.reader.close()
            ctx.reader = None
            await ctx.runtime.stop()

    app = FastAPI(
        title="Kith",
        version="0.1.0",
        summary="Long conversations with characters that remember, on a world you can see and fix.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.kith = ctx
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    add_docs_route(app)
    mount_ui(app)
    app.add_middleware(
        SecurityMiddleware,
        access_token=ctx.access_token,
        upload_paths=frozenset(
            {"/api/bots/import", "/api/bots/import/check", "/api/chats/import", "/api/worlds/import"}
        ),
        upload_limit=max(MAX_CARD_BYTES, MAX_CHAT_FILE_BYTES),  # each route checks its own
    )
    return app

