"""An archived world's state is read-only, as its chats are (§3.5: put away, read and
exported): entities, relationships, memories, world facts, lore and chapters can be read,
and every edit of them is refused with a 409 naming the world and how to restore it,
nothing written; restoring the world makes them editable again (session 26's walk: the
state panel still edited them). Real app, real SQLite, the scripted backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.tests.api_support import (
    api_log_end,
    assert_error,
    make_bot,
    make_settings,
    running_app,
    say,
)
from chat.tests.test_chapters import LINES

pytestmark = pytest.mark.anyio

W = {"world": "saltmere"}


async def _saltmere(app: Any, client: httpx.AsyncClient) -> dict[str, Any]:
    """Saltmere with Ada, an entity, a memory, a fact, lore, and a chat long enough for a chapter."""
    assert (await client.post("/api/worlds", json={"name": "Saltmere", "id": "saltmere"})).status_code == 201
    await make_bot(client, id="ada", world_id="saltmere")
    entity = (await client.post("/api/entities", params=W, json={"name": "The Heron", "kind": "thing"})).json()
    memory = (await client.post("/api/memories", params=W, json={"owner": "ada", "text": "The Heron leaks."})).json()
    assert (await client.put("/api/world/weather", params=W, json={"value": "fog"})).status_code == 200
    lore = [{"keys": ["reef"], "content": "The Teeth are a reef.", "enabled": True}]
    assert (await client.put("/api/lore", params=W, json={"entries": lore})).status_code == 200
    chat = (await client.post("/api/chats", json={"bot_ids": ["ada"], "world_id": "saltmere"})).json()
    for n in range(14):
        assert (await say(app, client, chat["id"], f"{LINES[n % 6]} ({n})"))["status"] == "completed"
    chapters = (await client.get(f"/api/chats/{chat['id']}/chapters")).json()
    assert chapters, "the chat overflowed the prompt and got a chapter"
    return {"entity": entity["id"], "memory": memory["id"], "chapter": chapters[0]["id"], "chat": chat["id"]}


def _refused(response: httpx.Response, what: str) -> None:
    error = assert_error(response, 409, "world")
    message = error["message"]
    assert message.startswith(f"the world 'Saltmere' is archived, so its {what} are read-only"), message
    assert "/api/worlds/saltmere/restore" in message and "kith worlds restore saltmere" in message, message


async def test_every_edit_of_an_archived_worlds_state_is_refused_until_it_is_restored(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir, context_length=700)) as (app, client):
        ids = await _saltmere(app, client)
        read = {path: (await client.get(path, params=W)).json()
                for path in ("/api/entities", "/api/edges", "/api/memories", "/api/world", "/api/lore")}  # fmt: skip
        assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
        before = await api_log_end(client)
        entity, memory, chapter = ids["entity"], ids["memory"], ids["chapter"]
        _refused(await client.post("/api/entities", params=W, json={"name": "Gull", "kind": "thing"}), "entities")
        _refused(await client.patch(f"/api/entities/{entity}", params=W, json={"description": "a boat"}), "entities")
        _refused(await client.patch("/api/edges/ada/you", params=W, json={"affinity": 30}), "relationships")
        _refused(await client.post("/api/memories", params=W, json={"owner": "ada", "text": "Gulls."}), "memories")
        _refused(await client.patch(f"/api/memories/{memory}", params=W, json={"importance": 9}), "memories")
        _refused(await client.delete(f"/api/memories/{memory}", params=W), "memories")
        _refused(await client.put("/api/world/weather", params=W, json={"value": "clear"}), "world facts")
        _refused(await client.put("/api/world/tide", params=W, json={"value": "high"}), "world facts")
        _refused(await client.delete("/api/world/weather", params=W), "world facts")
        _refused(await client.put("/api/lore", params=W, json={"entries": []}), "lore")
        _refused(await client.put("/api/lore", params={**W, "bot": "ada"}, json={"entries": []}), "lore")
        _refused(await client.patch(f"/api/chapters/{chapter}", json={"text": "Ada sailed."}), "chapters")
        edit = {"target_type": "memory", "target_id": memory, "field": "text", "world_id": "saltmere"}
        _refused(await client.post("/api/edits", json={**edit, "value": "Gulls."}), "memories")
        _refused(await client.post("/api/edits", json={**edit, "action": "unpin"}), "memories")
        assert await api_log_end(client) == before, "nothing is written"
        for path, seen in read.items():  # and all of it can still be read
            assert (await client.get(path, params=W)).json() == seen, path

        assert (await client.post("/api/worlds/saltmere/restore")).status_code == 200
        assert (await client.patch(f"/api/memories/{memory}", params=W, json={"importance": 9})).status_code == 200
        assert (await client.put("/api/world/weather", params=W, json={"value": "clear"})).status_code == 200
        assert (await client.patch(f"/api/chapters/{chapter}", json={"text": "Ada sailed."})).status_code == 200


async def test_another_worlds_state_stays_editable_beside_an_archived_one(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_, client):
        for name in ("Saltmere", "Ashfall"):
            assert (await client.post("/api/worlds", json={"name": name, "id": name.lower()})).status_code == 201
        assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
        made = await client.post("/api/entities", params={"world": "ashfall"}, json={"name": "Ember", "kind": "place"})
        assert made.status_code == 201, made.text
        assert (await client.put("/api/world/weather", params={"world": "ashfall"}, json={"value": "ash"})).status_code == 200
        _refused(await client.put("/api/world/weather", params=W, json={"value": "fog"}), "world facts")
