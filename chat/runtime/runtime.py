"""The Kith runtime: one per process, the one writer, and the turn worker (§4, §10.1).

The web app and the CLI talk to Kith only through `Runtime`. It owns the single
writer connection (used from one dedicated thread, so writes are serial and never
block the event loop), hands out reader connections, runs turns in the background
(one at a time per chat, chats in parallel, §4.7) and publishes what happens on an
in-process bus (`Runtime.bus`) that the web app turns into server-sent events.

Every method that changes state appends validated events and projects them in the
same transaction, so when a method returns its change is durable and visible to
readers. Errors are `chat.errors` classes (ValidationFailed 422, NotFound 404,
Conflict 409) and nothing is appended when one is raised.

Bus events (`chat.bus.BusEvent`, ``type`` / ``chat_id`` / ``data``):

* ``token``   {turn_id, message_id (the id the reply will be stored under), bot_id, text}
* ``message`` the stored (or edited, deleted, chosen) message, shaped as in `transcript`
* ``turn``    {id, chat_id, status, error, message_ids, ...} as `get_turn`
* ``state``   {event_ids, kinds} after every write
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from chat.bus import EventBus
from chat.config import Settings
from chat.db.connection import database_path
from chat.db.migrate import apply_migrations
from chat.eventlog.log import NewEvent
from chat.eventlog.writer import Build, ReaderPool, Writer, Written
from chat.runtime import recovery
from chat.runtime.backend_slot import BackendSlot
from chat.runtime.embedding import VectorFiller
from chat.runtime.heap import freeze_startup_heap
from chat.runtime.periodic import PeriodicSnapshots
from chat.runtime.snapshot_child import SnapshotChildren
from chat.runtime.turn_api import TurnControls
from chat.runtime.world_api import WorldControls
from chat.runtime.worlds_api import WorldsControls
from chat.snapshots import api as snapshots
from chat.snapshots import cold_load as cold
from chat.state import chats as chat_state
from chat.state import entities as entity_state
from chat.turns.worker import TurnWorker
from chat.world import bots as bot_service
from chat.world import chats as chat_service
from chat.world.ids import new_id

if TYPE_CHECKING:
    from chat.llm.base import Backend
    from chat.memory.retrieval import Embedder
    from chat.snapshots.cold_load import ColdLoadReport

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime(TurnControls, WorldControls, WorldsControls):
    """One per process. Construct, ``await start()``, use, ``await stop()``.

    ``backend`` replaces the one `settings.backend` names (tests pass a scripted one);
    ``clock`` is the UTC clock the snapshot policy and retrieval read; ``embedder``
    adds cosine similarity to memory retrieval (§8.3); ``snapshot_process`` writes
    periodic snapshots in a child process (see `chat.snapshots.worker`), else in a thread.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend | None = None,
        clock: Callable[[], datetime] | None = None,
        embedder: Embedder | None = None,
        force_rebuild: bool = False,
        snapshot_process: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock or snapshots.utc_now
        self.embedder = embedder
        self.vectors = VectorFiller(self)  # stored memory vectors, filled in the background
        self.force_rebuild = force_rebuild
        self._backends = BackendSlot(backend, owned=backend is None)
        self._bus = EventBus()
        self._writer: Writer | None = None
        self._readers: ReaderPool | None = None
        self._children: SnapshotChildren | None = None
        self._turns_lock: IO[bytes] | None = None
        """Held while this process owns the data directory's turns (`own_turns`)."""
        self._worker = TurnWorker(self)
        self._snapshots = PeriodicSnapshots(
            read=self.read,
            take=lambda reading: self.take_snapshot(
                "periodic", isolated=snapshot_process, reading=reading
            ),
            settings=lambda: self.settings,
            clock=lambda: self.clock(),
            ready=lambda: not snapshot_process or bool(self._children and self._children.ready),
        )
        self.started = False
        self._snapshot_process = snapshot_process

    # --- life cycle ---------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        """The SQLite file of this data directory."""
        return database_path(self.settings.data_dir)

    @property
    def backend(self) -> Backend:
        """The model backend new turns use (available after `start`)."""
        if self._backends.current is None:
            raise RuntimeError("the runtime has not started")
        return self._backends.current

    def acquire_backend(self) -> Backend:
        """The backend for a turn that starts now; it stays open until `release_backend`,
        even when the settings swap in another meanwhile."""
        return self._backends.acquire()

    async def release_backend(self, backend: Backend) -> None:
        await self._backends.release(backend)

    @property
    def bus(self) -> EventBus:
        """Pub/sub of token, message, turn and state events (`bus.subscribe(chat_id=None)`)."""
        return self._bus

    def now(self) -> datetime:
        return self.clock()

    async def start(self, *, recover_turns: bool = True) -> ColdLoadReport:
        """Migrate, cold-load the projections (§10.6), create the backend, start the worker.

        Then, unless told not to (``kith init``, which makes no model calls), the turns a
        previous process left unfinished are queued, run again or failed (`recover_turns`),
        when no other process runs this data directory's turns now.
        """
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(apply_migrations, self.db_path)
        self._writer = Writer(
            self.db_path, snapshots.snapshot_checkpoints(self.settings.data_dir)
        )
        self._readers = ReaderPool(self.db_path)
        report = await self._writer.call(
            lambda conn: cold.cold_load(
                conn, self.settings.data_dir, force_rebuild=self.force_rebuild
            )
        )
        if self._backends.current is None:
            from chat.llm.registry import create_backend

            self._backends.current = await asyncio.to_thread(create_backend, self.settings)
        self._children = SnapshotChildren(self.db_path, Path(self.settings.data_dir))
        if self._snapshot_process and report.last_event_id > 0:
            self._children.prepare()  # a world with a history: its next snapshot need not wait
        self.started = True
        await self.vectors.start()
        freeze_startup_heap()  # before recovery starts turns: their garbage stays collectable
        if recover_turns:
            self._turns_lock = recovery.own_turns(Path(self.settings.data_dir))
            if self._turns_lock is not None:
                await recovery.recover_turns(self.read, self.commit, self._worker)
        return report

    async def stop(self) -> None:
        """Cancel running turns (they end failed, cancelled), wait for them, close everything.

        Safe to call twice, or after a `start` that failed part way."""
        if self.started:
            self.started = False
            await self._worker.stop()
            await self.vectors.stop()
            await self._snapshots.settle()
            self._bus.close()
        if self._children is not None:
            await self._children.close()
            self._children = None
        await self._backends.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._readers is not None:
            self._readers.close()
            self._readers = None
        if self._turns_lock is not None:
            self._turns_lock.close()
            self._turns_lock = None

    async def set_backend(self, backend: Backend) -> None:
        """Swap the backend (settings page). Turns that start from now on use ``backend``;
        running turns finish on the old one, which is closed when the last of them ends
        (at once when none is running)."""
        await self._backends.replace(backend)

    def update_settings(self, settings: Settings) -> None:
        """Use new settings from now on (the data directory cannot change)."""
        self.settings = settings

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read connection from a small pool; never use it to write."""
        if self._readers is None:
            raise RuntimeError("the runtime has not started")
        with self._readers.connection() as conn:
            yield conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with a reader connection off the event loop."""

        def run() -> T:
            with self.reader() as conn:
                return fn(conn)

        return await asyncio.to_thread(run)

    def _read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self.reader() as conn:
            return fn(conn)

    async def commit(
        self,
        build: Build,
        chat_id: str | None = None,
        *,
        turn_id: str | None = None,
        after: Callable[[sqlite3.Connection], Any] | None = None,
    ) -> Written:
        """Append what ``build(conn)`` returns and project it, atomically, on the writer thread.

        Publishes ``state``, and with ``turn_id`` the turn as it now stands (``turn``, also
        `Written.turn`).
        ``after(conn)`` is read back on the writer thread once committed; its result is
        the returned `Written.extra`."""
        if self._writer is None:
            raise RuntimeError("the runtime has not started")

        def read_back(conn: sqlite3.Connection) -> tuple[Any, Any]:
            turn = chat_state.get_turn(conn, turn_id) if turn_id is not None else None
            return turn, (after(conn) if after is not None else None)

        written = await self._writer.commit(build, read_back)
        turn, extra = written.extra
        if written.ids:
            self._bus.publish("state", {"event_ids": written.ids, "kinds": written.kinds}, chat_id)
        if turn is not None:
            self._bus.publish("turn", turn, turn["chat_id"])
        return Written(written.ids, written.kinds, extra, turn)

    async def wait_idle(self, chat_id: str | None = None, timeout: float = 30.0) -> None:
        """Wait until no turn is queued or running (in ``chat_id``, or anywhere) and the
        periodic snapshot, if one is due, is written. For tests and the CLI."""

        async def settle() -> None:
            await self._worker.wait_idle(chat_id)
            await self._snapshots.settle()

        await asyncio.wait_for(settle(), timeout)

    async def wait_turns(self, chat_id: str | None = None) -> None:
        """Wait until no turn is queued or running (in ``chat_id``, or anywhere), without
        forcing a due snapshot: what a person sees before they type the next message."""
        await self._worker.wait_idle(chat_id)

    # --- bots (§3) ----------------------------------------------------------------------

    async def author_bot(self, fields: dict[str, Any], world_id: str | None = None) -> dict[str, Any]:
        """Append ``bot_authored`` (id slugged from the name when absent) in ``world_id``;
        return the bot. ValidationFailed names the field, Conflict when the id is taken."""
        chosen: list[str] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            events = bot_service.author_events(conn, fields, world_id)
            chosen.append(events[0].payload["id"])
            return events

        await self.commit(build)
        return self.get_bot(chosen[0])

    async def revise_bot(self, bot_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Append ``bot_revised``; return the bot. NotFound, ValidationFailed."""
        await self.commit(lambda conn: bot_service.revise_events(conn, bot_id, changes))
        return self.get_bot(bot_id)

    async def retire_bot(self, bot_id: str) -> None:
        """Append ``bot_retired``; its history stays. NotFound when unknown, Conflict when
        already retired."""
        await self.commit(lambda conn: bot_service.retire_events(conn, bot_id))

    def get_bot(self, bot_id: str) -> dict[str, Any]:
        """The bot (retired ones too, with ``retired: true``), or NotFound."""
        return self._read_now(lambda conn: bot_service.require_bot(conn, bot_id))

    def list_bots(self, *, include_retired: bool = False) -> list[dict[str, Any]]:
        return self._read_now(lambda conn: entity_state.list_bots(conn, include_retired=include_retired))

    # --- chats (§4.1) -------------------------------------------------------------------

    async def create_chat(
        self, bot_ids: list[str], title: str | None = None, world_id: str | None = None
    ) -> dict[str, Any]:
        """Append ``chat_created`` (in ``world_id``) and each bot's kickoff prose; return
        {id, title, bot_ids, world_id}. NotFound for an unknown or retired bot or world."""
        chat_id = new_id("chat")
        await self.commit(
            lambda conn: chat_service.create_events(conn, chat_id, bot_ids, title, world_id), chat_id
        )
        chat = self.get_chat(chat_id)
        return {k: chat[k] for k in ("id", "title", "bot_ids", "world_id")}

    def get_chat(self, chat_id: str) -> dict[str, Any]:
        """{id, title, bot_ids, created_at}, or NotFound."""
        return self._read_now(lambda conn: chat_service.require_chat(conn, chat_id))

    def list_chats(self, world_id: str | None = None) -> list[dict[str, Any]]:
        return self._read_now(lambda conn: chat_state.list_chats(conn, world_id=world_id))

    def transcript(self, chat_id: str, *, include_hidden: bool = False) -> list[dict[str, Any]]:
        """Messages oldest first: {id, chat_id, author, text, created_at, turn_id, event_id,
        alt_group, chosen, edited, deleted, alternatives: [ids], alt_index}. NotFound for an
        unknown chat. ``include_hidden`` adds unchosen alternatives and deleted messages."""

        def load(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            chat_service.require_chat(conn, chat_id)
            messages = chat_state.transcript(conn, chat_id, include_hidden=include_hidden)
            return chat_service.with_alternatives(conn, messages)

        return self._read_now(load)

    def get_message(self, message_id: str) -> dict[str, Any]:
        """One message shaped as in `transcript`, or NotFound."""
        return self._read_now(lambda conn: self.message_view(conn, message_id))

    @staticmethod
    def message_view(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
        message = chat_service.require_message(conn, message_id)
        return chat_service.with_alternatives(conn, [message])[0]

    # --- snapshots (§10.4–§10.5) --------------------------------------------------------

    async def take_snapshot(
        self,
        kind: str = "manual",
        *,
        isolated: bool = False,
        reading: Callable[[int], None] | None = None,
    ) -> Path:
        """Write a snapshot of the projections now (from one consistent read).

        ``isolated`` writes it in a child process (`chat.snapshots.worker`), so a big world's
        snapshot never holds this process's GIL while turns stream; ``reading(last_event_id)``
        is called once the snapshot's read transaction has begun (from then on, appends do
        not change what it holds)."""
        settings = self.settings
        if not isolated:
            path = await self.read(
                lambda conn: snapshots.take_snapshot(
                    conn, data_dir=settings.data_dir, kind=kind, clock=self.clock,
                    keep=settings.snapshot_keep,
                )
            )  # fmt: skip
            if reading is not None:
                reading(snapshots.snapshot_position(path)[1])
            return path
        if self._children is None:
            raise RuntimeError("the runtime has not started")
        return await self._children.take(kind, settings.snapshot_keep, self.clock(), reading)

    async def snapshot_check(self) -> None:
        """The periodic snapshot check at the end of a turn (§10.4): a due snapshot starts
        now, and this returns once its read has begun (see `chat.runtime.periodic`)."""
        await self._snapshots.after_turn()
