"""Drafts (§13, retrieval with an embedder): what the composer holds when typing pauses is
embedded before it is sent, so the turn of a message sent as drafted embeds no query.
Only embedders on this machine see drafts, none while a turn runs, and a draft overtaken
by a newer one of the same chat is skipped."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chat.llm.embeddings import OpenAIEmbedder, QueryCache, embed_draft_soon, takes_drafts
from chat.llm.scripted import ScriptedBackend
from chat.runtime.runtime import Runtime
from chat.tests.api_support import make_settings, running_app, runtime_of
from chat.tests.test_query_embedding import RecordingEmbedder
from chat.tests.turn_support import one_to_one, write_script

pytestmark = pytest.mark.anyio


class LocalRecording(RecordingEmbedder):
    takes_drafts = True


async def _runtime(data_dir: Path, embedder: object, rules: list[dict[str, object]]) -> Runtime:
    script = write_script(data_dir.parent / "script.json", rules)
    backend = ScriptedBackend(ScriptedBackend.Options(script_path=script))
    rt = Runtime(make_settings(data_dir), backend=backend, embedder=embedder)  # type: ignore[arg-type]
    await rt.start()
    return rt


async def _settled(rt: Runtime) -> None:
    await rt.wait_turns()
    await rt.vectors.settle()


async def test_a_message_sent_as_drafted_is_not_embedded_again(data_dir: Path) -> None:
    embedder = LocalRecording()
    rt = await _runtime(data_dir, embedder, [{"match": "lamp", "reply": "It is lit."}])
    try:
        _, chat = await one_to_one(rt)
        await _settled(rt)
        embedder.log.clear()
        text = "Is the lighthouse lamp lit tonight?"
        assert rt.draft(chat["id"], "Is the lighthouse") is True
        assert rt.draft(chat["id"], text) is True
        deadline = time.monotonic() + 5
        while not any(t == text for _, t, _ in embedder.log) and time.monotonic() < deadline:
            time.sleep(0.01)
        posted_at = time.monotonic()
        _, turn_id = await rt.post_message(chat["id"], text)
        await _settled(rt)
        assert rt.get_turn(turn_id)["status"] == "completed"
    finally:
        await rt.stop()
    queries = [(t, at) for kind, t, at in embedder.log if kind == "query"]
    assert [t for t, _ in queries if t == text] == [text]  # once, from the draft
    assert all(at < posted_at for t, at in queries if t == text)
    assert len(queries) <= 2  # the earlier draft, if the thread reached it before the newer


async def test_no_draft_is_embedded_while_a_turn_runs(data_dir: Path) -> None:
    embedder = LocalRecording()
    rt = await _runtime(data_dir, embedder, [{"match": "slow", "reply": "Slowly.", "delay_ms": 800}])
    try:
        _, chat = await one_to_one(rt)
        await _settled(rt)
        await rt.post_message(chat["id"], "a slow question")
        assert rt.draft(chat["id"], "while it writes") is False  # the model has the cores
        await _settled(rt)
        assert rt.draft(chat["id"], "now it is idle") is True
    finally:
        await rt.stop()


def test_a_draft_overtaken_by_a_newer_one_is_skipped() -> None:
    gate, calls = threading.Event(), []

    class Gated:
        name = "gated"
        takes_drafts = True

        def __init__(self) -> None:
            self._cache = QueryCache()

        def embed_query(self, text: str) -> np.ndarray:
            def compute(t: str) -> np.ndarray:
                calls.append(t)
                gate.wait(5)
                return np.full(2, float(len(t)), dtype=np.float32)

            return self._cache.get(text, compute)

        def embed_documents(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("not used")

    embedder = Gated()
    first = embed_draft_soon(embedder, "chat-a", "Where")
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:  # the thread is inside the first
        time.sleep(0.005)
    second = embed_draft_soon(embedder, "chat-a", "Where is")
    third = embed_draft_soon(embedder, "chat-a", "Where is the key?")
    other = embed_draft_soon(embedder, "chat-b", "Hello")  # another chat's draft stands
    gate.set()
    assert first.result(5).tolist() == [5.0, 5.0]
    assert second.result(5) is None
    assert third.result(5).tolist() == [17.0, 17.0]
    assert other.result(5).tolist() == [5.0, 5.0]
    assert calls == ["Where", "Where is the key?", "Hello"]


def test_only_embedders_on_this_machine_take_drafts() -> None:
    assert takes_drafts(OpenAIEmbedder("http://127.0.0.1:8080/v1", "e5")) is True
    assert takes_drafts(OpenAIEmbedder("http://localhost:8080/v1", "e5")) is True
    assert takes_drafts(OpenAIEmbedder("https://api.openai.com/v1", "text-embedding-3-small")) is False
    assert takes_drafts(OpenAIEmbedder("http://192.168.1.20:8080/v1", "e5")) is False
    assert takes_drafts(RecordingEmbedder()) is False  # unknown embedders are not sent drafts
    assert takes_drafts(None) is False


async def test_the_draft_endpoint(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        bot = (await client.post("/api/bots", json={"name": "Ada", "persona": "An engineer."})).json()
        chat = (await client.post("/api/chats", json={"bot_ids": [bot["id"]]})).json()
        answer = await client.post(f"/api/chats/{chat['id']}/draft", json={"text": "Hello"})
        assert answer.status_code == 200
        assert answer.json() == {"embedding": False, "drafts": False}  # no embedder configured
        missing = await client.post("/api/chats/chat-none/draft", json={"text": "Hello"})
        assert missing.status_code == 404
        empty = await client.post(f"/api/chats/{chat['id']}/draft", json={"text": ""})
        assert empty.status_code == 422 and "text" in empty.text
        runtime_of(app).embedder = LocalRecording()
        answer = await client.post(f"/api/chats/{chat['id']}/draft", json={"text": "Hello there"})
        assert answer.json() == {"embedding": True, "drafts": True}
