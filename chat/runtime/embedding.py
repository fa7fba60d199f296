"""Background embedding of memories (§7.6.1): each vector is computed once, off every
request path, and stored; retrieval only ever embeds the query.

`VectorFiller` listens on the runtime's bus: after a write that may have added or
changed memories (``memory_added``, ``message_posted``, edits, rebuilds) it reads the
memories that have no vector of this model yet (a reader connection), embeds them in
a worker thread and stores them through the writer, in batches, until none is left.
At start it loads the stored vectors into the process's search index (a restart
reads them back, never embeds them again; about a second at 100k memories, so the
first turn does not pay it) and catches up on whatever a previous process, a
rebuild or a snapshot restore left without a vector. A failing embedder is logged and retried on the next
write; turns never wait for it (a memory not embedded yet counts by its words).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from chat.memory.vectors import EMBED_BATCH, index_for, pending_memories, store_vectors

if TYPE_CHECKING:
    from chat.llm.embeddings import Embedder

log = logging.getLogger(__name__)
TURN_WAIT_S = 30.0
"""The longest the background embedding waits for running turns to end before a batch."""
TURN_POLL_S = 0.02
_TRIGGERS = frozenset({"memory_added", "message_posted", "message_edited", "manual_edit",
                       "alternative_chosen", "turns_reverted"})  # fmt: skip


class VectorFiller:
    """Keeps ``memory_vectors`` complete for the runtime's embedder (if it has one)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._listener: asyncio.Task[None] | None = None
        self._fill: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        self._again = False
        self.embedded = 0
        self.last_error: str | None = None

    @property
    def embedder(self) -> Embedder | None:
        return self.rt.embedder

    async def start(self) -> None:
        """Create the embedder the settings name (unless one was handed in) and catch up."""
        settings = self.rt.settings
        if self.rt.embedder is None and getattr(settings, "embedder", "none") != "none":
            from chat.llm.embeddings import create_embedder

            self.rt.embedder = await asyncio.to_thread(create_embedder, settings)
        self._begin()

    async def replace(self, embedder: Embedder | None) -> None:
        """Use ``embedder`` from now on (a Settings change, §7.7): the running work stops,
        the stored vectors of the new model are loaded and what has none is embedded in the
        background, as at start. ``None``: recall by words only. Vectors of the model left
        stay stored (switching back embeds nothing twice); vectors of two models are never
        compared, since every read names its model."""
        await self.stop()
        self.rt.embedder = embedder
        self.embedded = 0
        self.last_error = None
        self._begin()

    def _begin(self) -> None:
        if self.embedder is None:
            return
        subscription = self.rt.bus.subscribe()
        self._listener = asyncio.create_task(self._listen(subscription), name="vector-filler")
        self._warm = asyncio.create_task(self._load_index(self.embedder.name), name="vector-index")
        self.poke()

    async def stop(self) -> None:
        for task in (self._listener, self._fill, self._warm):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._listener = self._fill = self._warm = None

    async def _load_index(self, model: str) -> None:
        try:
            await self.rt.read(lambda conn: index_for(conn, model))
        except Exception as exc:  # noqa: BLE001 - the first retrieval loads it instead
            log.warning("loading the stored vectors failed: %s: %s", type(exc).__name__, exc)

    def poke(self) -> None:
        """Embed what is missing, now or right after the batch in progress."""
        if self.embedder is None:
            return
        if self._fill is not None and not self._fill.done():
            self._again = True
            return
        self._fill = asyncio.create_task(self._run(), name="vector-fill")

    async def settle(self) -> None:
        """Wait until every memory has a vector (for tests and the CLI)."""
        while self._fill is not None and not self._fill.done():
            await asyncio.gather(self._fill, return_exceptions=True)

    async def _listen(self, subscription: Any) -> None:
        async for item in subscription:
            if item.type == "state" and _TRIGGERS & set(item.data.get("kinds", [])):
                self.poke()

    async def _run(self) -> None:
        embedder = self.embedder
        if embedder is None:
            return
        while True:
            self._again = False
            await self._after_turns()
            try:
                done = await self._batch(embedder)
            except Exception as exc:  # noqa: BLE001 - logged; the next write tries again
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("embedding memories failed: %s", self.last_error)
                return
            if not done and not self._again:
                return

    async def _after_turns(self) -> None:
        """Wait while turns run (at most `TURN_WAIT_S`): a turn's own query embedding and
        prompt come first. Posting a message writes its observations and pokes this at
        once; embedding them then took the embedder's lock and the cores from the turn
        that had just started (measured in ``kith bench memory``, docs/benchmarks.md).
        They are embedded while the person reads the reply instead, and count by their
        words until then. Polled, not awaited: cancelling a wait on the turns' tasks
        would cancel the turns."""
        worker = getattr(self.rt, "_worker", None)
        deadline = time.monotonic() + TURN_WAIT_S
        while worker is not None and worker.busy() and time.monotonic() < deadline:
            await asyncio.sleep(TURN_POLL_S)

    async def _batch(self, embedder: Embedder) -> int:
        rows = await self.rt.read(lambda conn: pending_memories(conn, embedder.name, limit=EMBED_BATCH))
        if not rows:
            return 0
        vectors = await asyncio.to_thread(embedder.embed_documents, [text for _, _, text in rows])
        writer = self.rt._writer
        if writer is None:
            return 0
        await writer.call(lambda conn: store_vectors(conn, embedder.name, rows, vectors))
        self.embedded += len(rows)
        self.last_error = None
        return len(rows)
