"""Appends the server did not make (§11.1, §11.3): `kith chat` in a terminal on the same
data directory writes to the same SQLite log (SQLite serialises the two writers), and
its turns are projected by that process. What the server's clients miss is the news:
this watcher polls the log's last id and publishes, for events another process
appended, the same bus events the server's own writes do, so an open browser shows a
terminal conversation as it happens (at the end of each reply; tokens stay in the
process that streams them).

The server's own events are told apart by the ``state`` events its commits publish
(a bus tap);
an id is only judged once a whole poll has passed since it was first seen, so the
publish of an own commit (a moment after it lands) is never mistaken for news.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any

from chat.runtime.runtime import Runtime
from chat.state.chats import get_turn

log = logging.getLogger("kith.app")

POLL_S = 1.0
MESSAGE_KINDS = {"message_posted", "message_edited", "message_deleted", "alternative_chosen"}
TURN_KINDS = {"turn_queued", "turn_started", "turn_completed", "turn_failed"}


def _last_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


def _events_between(conn: sqlite3.Connection, after: int, upto: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, kind, chat_id, turn_id FROM events WHERE id > ? AND id <= ? ORDER BY id",
        (after, upto),
    ).fetchall()


class ExternalAppends:
    """Publishes what other processes appended; `start` at app start, `stop` at its end."""

    def __init__(self, rt: Runtime, poll_s: float = POLL_S) -> None:
        self.rt = rt
        self.poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._own: set[int] = set()
        self._untap = self.rt.bus.tap(self._note)  # before the first read: no own commit is missed
        seen = await self.rt.read(_last_id)
        self._task = asyncio.create_task(self._run(seen), name="external-appends")

    def _note(self, event: Any) -> None:
        """Remember the ids of the server's own commits (their ``state`` events)."""
        if event.type == "state" and not event.data.get("external"):
            self._own.update(event.data.get("event_ids") or [])

    async def stop(self) -> None:
        self._untap()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, seen: int) -> None:
        horizon = seen
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                if horizon > seen:
                    rows = await self.rt.read(lambda conn, a=seen, b=horizon: _events_between(conn, a, b))
                    own = self._own
                    await self._publish([row for row in rows if row[0] not in own])
                    self._own = {i for i in own if i > horizon}
                    seen = horizon
                horizon = await self.rt.read(_last_id)
            except Exception:  # noqa: BLE001 - a missed notice must never stop the server
                log.exception("checking the log for appends by other processes failed")

    async def _publish(self, rows: list[tuple[Any, ...]]) -> None:
        bus = self.rt.bus
        by_chat: dict[str | None, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_chat.setdefault(row[2], []).append(row)
        for chat_id, events in by_chat.items():
            kinds = [e[1] for e in events]
            bus.publish("state", {"event_ids": [e[0] for e in events], "kinds": kinds, "external": True}, chat_id)
            turn_ids = list(dict.fromkeys(e[3] for e in events if e[1] in TURN_KINDS and e[3]))
            for turn_id in turn_ids:
                turn = await self.rt.read(lambda conn, t=turn_id: get_turn(conn, t))
                if turn is not None:
                    bus.publish("turn", turn, chat_id)
            if chat_id is not None and MESSAGE_KINDS & set(kinds):
                bus.publish("message", {"chat_id": chat_id, "external": True}, chat_id)
