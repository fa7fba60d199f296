"""The turn's recall query with an embedder (§7.6.1, §8.3), on the real runtime: the
message's query vector is started when it is posted and computed once, and the
background embedding of new memories waits for the running turn."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chat.config import Settings
from chat.llm.embeddings import QueryCache, normalised
from chat.llm.scripted import ScriptedBackend
from chat.runtime.runtime import Runtime
from chat.tests.turn_support import one_to_one, write_script

pytestmark = pytest.mark.anyio


class RecordingEmbedder:
    """Letter counts (a real if tiny embedder) with a query cache, logging each computation."""

    name = "letters-logged"

    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []
        self._cache = QueryCache()
        self._lock = threading.Lock()

    def _vectors(self, texts: list[str]) -> np.ndarray:
        return normalised([[float(t.lower().count(c)) + 1e-6 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        def compute(t: str) -> np.ndarray:
            with self._lock:
                self.log.append(("query", t, time.monotonic()))
                return self._vectors([t])[0]

        return self._cache.get(text, compute)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.log.extend(("document", t, time.monotonic()) for t in texts)
            return self._vectors(texts)


async def test_the_query_is_embedded_once_from_the_post_and_documents_wait_for_the_turn(
    data_dir: Path,
) -> None:
    script = write_script(data_dir.parent / "script.json", [{"match": "lamp", "reply": "It is lit.", "delay_ms": 300}])
    embedder = RecordingEmbedder()
    settings = Settings(data_dir=data_dir, backend="scripted")
    rt = Runtime(settings, backend=ScriptedBackend(ScriptedBackend.Options(script_path=script)), embedder=embedder)
    await rt.start()
    try:
        _, chat = await one_to_one(rt)
        await rt.wait_turns()
        await rt.vectors.settle()
        embedder.log.clear()
        _, turn_id = await rt.post_message(chat["id"], "Is the lighthouse lamp lit tonight?")
        await rt.wait_turns(chat["id"])
        ended = time.monotonic()
        assert rt.get_turn(turn_id)["status"] == "completed"
        await rt.vectors.settle()
    finally:
        await rt.stop()
    queries = [text for kind, text, _ in embedder.log if kind == "query"]
    assert queries == ["Is the lighthouse lamp lit tonight?"]  # once: the turn waited for the post's
    documents = [(text, at) for kind, text, at in embedder.log if kind == "document"]
    assert any("lighthouse lamp" in text for text, _ in documents)  # the observations got vectors
    assert all(at >= ended - 0.05 for _, at in documents)  # ... once the turn was over


async def test_posting_a_message_starts_its_query_vector(data_dir: Path) -> None:
    """A bot with no stored vectors yet: its turn's retrieval embeds nothing (there is
    nothing to compare with), so the query vector computed comes from the post."""
    embedder = RecordingEmbedder()
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted"), backend=ScriptedBackend(), embedder=embedder)
    await rt.start()
    try:
        _, chat = await one_to_one(rt)
        await rt.wait_turns()
        await rt.vectors.settle()
        assert not [kind for kind, _, _ in embedder.log if kind == "query"]
        await rt.post_message(chat["id"], "Where did the ferry go?")
        await rt.wait_turns(chat["id"])
    finally:
        await rt.stop()
    assert [text for kind, text, _ in embedder.log if kind == "query"] == ["Where did the ferry go?"]
