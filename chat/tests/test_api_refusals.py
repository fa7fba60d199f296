"""Requests the API used to take and should not (each a clear 4xx naming the field, with
nothing written): an empty world fact value, a lore entry without content, a second world
of one name, and writing in a chat of an archived world. Real app, real SQLite, the
scripted backend."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chat.tests.api_support import (
    UPLOAD,
    api_log_end,
    assert_error,
    make_bot,
    make_settings,
    running_app,
    runtime_of,
)
from chat.tests.test_cards import dumps, v2_card

pytestmark = pytest.mark.anyio


async def _saltmere(client: httpx.AsyncClient) -> None:
    made = await client.post("/api/worlds", json={"name": "Saltmere", "id": "saltmere"})
    assert made.status_code == 201, made.text
    pinned = await client.put("/api/world/weather?world=saltmere", json={"value": "clear skies"})
    assert pinned.status_code == 200, pinned.text


async def test_an_empty_fact_value_is_refused_and_delete_removes(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await _saltmere(client)
        before = await api_log_end(client)
        for blank in ("", "   "):
            error = assert_error(await client.put("/api/world/weather?world=saltmere", json={"value": blank}), 422, "value")
            assert "DELETE" in error["message"]
        edit = {"target_type": "world", "target_id": "weather", "field": "value", "value": "", "action": "set"}
        assert_error(await client.post("/api/edits?world=saltmere", json=edit), 422, "value")  # same rule
        assert await api_log_end(client) == before
        facts = (await client.get("/api/world?world=saltmere")).json()["facts"]
        assert facts["weather"] == "clear skies"
        assert (await client.delete("/api/world/weather?world=saltmere")).status_code == 200
        assert "weather" not in (await client.get("/api/world?world=saltmere")).json()["facts"]


async def test_a_lore_entry_needs_content(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await _saltmere(client)
        before = await api_log_end(client)
        good = {"keys": ["harbour"], "content": "The harbour freezes in winter."}
        empty = {"keys": [], "content": "  "}
        response = await client.put("/api/lore?world=saltmere", json={"entries": [good, empty]})
        error = assert_error(response, 422, "entries[1].content")
        assert "content" in error["message"]
        assert await api_log_end(client) == before
        assert (await client.get("/api/lore?world=saltmere")).json()["entries"] == []
        assert (await client.put("/api/lore?world=saltmere", json={"entries": [good]})).status_code == 200


async def test_a_cards_empty_entry_does_not_block_saving_its_book(data_dir: Path) -> None:
    card = v2_card()
    card["data"]["character_book"]["entries"][0]["content"] = ""  # as some cards carry
    async with running_app(make_settings(data_dir)) as (_app, client):
        made = await client.post("/api/bots/import", files={"file": ("iris.json", dumps(card))}, headers=UPLOAD)
        assert made.status_code == 201, made.text
        bot, world = made.json()["id"], made.json()["world_id"]
        book = (await client.get(f"/api/lore?world={world}&bot={bot}")).json()["entries"]
        assert not book[0]["content"]
        added = [*book, {"keys": ["quay"], "content": "The quay floods at spring tide."}]
        saved = await client.put(f"/api/lore?world={world}&bot={bot}", json={"entries": added})
        assert saved.status_code == 200, saved.text
        changed = [{**book[0], "keys": ["moved"]}, *book[1:]]  # a changed entry needs content
        response = await client.put(f"/api/lore?world={world}&bot={bot}", json={"entries": changed})
        assert_error(response, 422, "entries[0].content")


async def test_a_second_world_of_one_name_is_refused(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await _saltmere(client)
        before = await api_log_end(client)
        for name in ("Saltmere", "  saltMERE "):
            error = assert_error(await client.post("/api/worlds", json={"name": name}), 409, "name")
            assert "Saltmere" in error["message"]
        other = await client.post("/api/worlds", json={"name": "Brinegate"})
        assert other.status_code == 201, other.text
        assert await api_log_end(client) == before + 1
        renamed = await client.patch(f"/api/worlds/{other.json()['id']}", json={"name": "SALTMERE"})
        assert_error(renamed, 409, "name")
        assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
        assert_error(await client.post("/api/worlds", json={"name": "Saltmere"}), 409, "name")  # archived too
        worlds = (await client.get("/api/worlds?include_archived=true")).json()
        assert sorted(w["name"] for w in worlds if w["id"] != "default") == ["Brinegate", "Saltmere"]


async def test_writing_in_a_chat_of_an_archived_world_is_refused(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await _saltmere(client)
        await make_bot(client, id="ada", world_id="saltmere")
        chat = await client.post("/api/chats", json={"title": "Quay", "bot_ids": ["ada"], "world_id": "saltmere"})
        assert chat.status_code == 201, chat.text
        chat_id = chat.json()["id"]
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "hello"})
        assert posted.status_code == 202, posted.text
        await runtime_of(app).wait_idle(chat_id)
        assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
        before = await api_log_end(client)
        for path, body in (("messages", {"text": "still there?"}), ("regenerate", None),
                           ("continue", None), ("respond", None)):
            response = await client.post(f"/api/chats/{chat_id}/{path}", json=body)
            error = assert_error(response, 409, "world")
            assert "archived" in error["message"] and "restore" in error["message"], error
        assert await api_log_end(client) == before, "nothing is written, no turn runs"
        assert (await client.post("/api/worlds/saltmere/restore")).status_code == 200
        again = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "back again"})
        assert again.status_code == 202, again.text
        await runtime_of(app).wait_idle(chat_id)
