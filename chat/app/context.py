"""What the routes share, built by `create_app` and kept on ``app.state.kith`` (no globals).

Reads use one reader connection that only the event loop touches (every route is
``async``), so it needs no lock; WAL lets it read while the runtime's writer
appends. Every write goes through the runtime, the one writer (§10.1).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query, Request

from chat.config import Settings
from chat.db.connection import database_path
from chat.errors import NotFound

if TYPE_CHECKING:
    from chat.runtime.runtime import Runtime
    from chat.snapshots.cold_load import ColdLoadReport

def db_path_for(settings: Settings) -> Path:
    return database_path(settings.data_dir)


@dataclass
class AppContext:
    settings: Settings
    runtime: Runtime | None = None
    rebuild: bool = False
    keepalive_s: float = 15.0
    reader: sqlite3.Connection | None = None
    cold_load: ColdLoadReport | None = None

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def db_path(self) -> Path:
        return db_path_for(self.settings)

    def access_token(self) -> str | None:
        token = self.settings.access_token
        return token.get_secret_value() if token is not None else None


def context(request: Request) -> AppContext:
    return request.app.state.kith


def reader(request: Request) -> sqlite3.Connection:
    conn = context(request).reader
    if conn is None:  # only between create_app and the lifespan start
        raise RuntimeError("the app has not started; run it with its lifespan")
    return conn


def runtime(request: Request) -> Runtime:
    rt = context(request).runtime
    if rt is None:
        raise RuntimeError("the app has not started; run it with its lifespan")
    return rt


def found(item: Any, what: str, ident: str, field_name: str = "id") -> Any:
    """``item`` or NotFound naming what was asked for."""
    if item is None:
        raise NotFound(f"no {what} with id {ident!r}", field=field_name)
    return item


WorldParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="the world (default: the chat's; else the only world; else the live world"
        " with the latest activity: its newest chat message, a new chat, or its creation)",
    ),
]


def scoped_world(request: Request, world: str | None, chat_id: str | None = None) -> str:
    """The world a state request means (§3.5): ``?world=ID`` (404 naming ``world`` when
    unknown), else the chat's, else the only world, else the live world with the latest
    activity. See `chat.world.worlds.resolve_world` and `default_world`."""
    from chat.world.worlds import resolve_world

    return resolve_world(reader(request), world, chat_id=chat_id)
