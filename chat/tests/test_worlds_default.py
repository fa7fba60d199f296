"""Which world a request means when it names none (§3.5, §11.2), and where a bot's pins show.

State reads and edits: the chat's world, else the only world, else the live world with the
latest activity (its newest chat message, a new chat, or its creation), never an archived
one. A new chat: the world its bots share. A new bot: refused with several worlds (it would
land in a story the person did not mean). A bot's fields belong to no one world, so their
pins show in the panel of every world the bot takes part in, and in no other.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chat.demo import create_demo_world
from chat.tests.api_support import (
    BOT,
    UPLOAD,
    assert_error,
    log_end,
    make_settings,
    running_app,
    runtime_of,
    say,
)

pytestmark = pytest.mark.anyio

CARD = {"spec": "chara_card_v2", "spec_version": "2.0",
        "data": {"name": "Nell", "description": "Tea shop owner.", "scenario": "A desert city."}}


async def _import(client: httpx.AsyncClient) -> dict:
    response = await client.post(
        "/api/bots/import", headers=UPLOAD,
        files={"file": ("nell.json", json.dumps(CARD).encode(), "application/json")},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


async def _default(client: httpx.AsyncClient) -> str:
    worlds = (await client.get("/api/worlds")).json()
    marked = [w["id"] for w in worlds if w["default"]]
    facts = (await client.get("/api/world")).json()
    assert marked == [facts["world_id"]], (marked, facts)
    entities = (await client.get("/api/entities")).json()
    assert {e["world_id"] for e in entities} == {facts["world_id"]}
    return facts["world_id"]


async def test_with_several_worlds_and_none_named_the_most_recently_active_live_world(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        demo = await create_demo_world(runtime_of(app))
        assert await _default(client) == "saltmere"  # the only world
        nell = await _import(client)
        assert await _default(client) == nell["world_id"]  # just made: the newest activity
        await say(app, client, demo["chat"]["id"], "Morning, Mara.")
        assert await _default(client) == "saltmere"  # a message in a Saltmere chat
        chat = await client.post("/api/chats", json={"bot_ids": [nell["id"]]})  # Nell's only world
        assert chat.status_code == 201 and chat.json()["world_id"] == nell["world_id"]
        assert await _default(client) == nell["world_id"]  # a new chat is activity too
        await say(app, client, demo["chat"]["id"], "And the fog?")
        assert await _default(client) == "saltmere"
        # The chat in question decides over any default; an archived world is never the default.
        scene = await client.get(f"/api/items/scene/{chat.json()['id']}/history")
        assert scene.status_code == 200
        assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
        assert await _default(client) == nell["world_id"]
        assert (await client.post("/api/worlds/saltmere/restore")).status_code == 200
        assert await _default(client) == "saltmere"

        end = log_end(data_dir)
        assert_error(await client.get("/api/entities", params={"world": "atlantis"}), 404, "world")
        assert_error(await client.get("/api/pins", params={"world": "atlantis"}), 404, "world")
        assert_error(await client.put("/api/world/weather", params={"world": "atlantis"}, json={"value": "x"}),
                     404, "world")
        # The default world is Saltmere: an edit naming an item of Nell's world is not found.
        assert_error(await client.patch(f"/api/entities/{nell['id']}", json={"description": "x"}), 404, "id")
        assert log_end(data_dir) == end


async def test_a_new_chat_goes_where_its_bots_are_and_a_new_bot_asks(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        nell = await _import(client)
        end = log_end(data_dir)
        assert_error(await client.post("/api/chats", json={"bot_ids": ["mara", nell["id"]]}), 422, "world_id")
        assert_error(await client.post("/api/bots", json=BOT), 422, "world_id")
        assert_error(await client.post("/api/chats", json={"bot_ids": ["nobody"]}), 404, "bot_ids")
        assert log_end(data_dir) == end
        made = await client.post("/api/chats", json={"bot_ids": ["mara", "tobias"]})
        assert made.status_code == 201 and made.json()["world_id"] == "saltmere"
        # Named, a world takes any bot (Nell joins Saltmere with the chat).
        both = await client.post("/api/chats", json={"bot_ids": ["mara", nell["id"]], "world_id": "saltmere"})
        assert both.status_code == 201, both.text
        # Now both take part in Saltmere and only Nell in her own world: Saltmere, the shared one.
        shared = await client.post("/api/chats", json={"bot_ids": [nell["id"], "mara"]})
        assert shared.status_code == 201 and shared.json()["world_id"] == "saltmere"


async def test_a_bots_pins_show_in_every_world_it_takes_part_in_and_no_other(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        nell = await _import(client)
        home = nell["world_id"]
        edit = {"target_type": "bot", "target_id": nell["id"], "field": "traits", "value": ["calm"],
                "world_id": home}  # as the UI sends it from Nell's world (the world is not the bot's)
        response = await client.post("/api/edits", json={k: v for k, v in edit.items() if k != "world_id"})
        assert response.status_code == 200, response.text
        payload = response.json()
        assert "world_id" not in payload and payload["value"] == ["calm"]

        def pinned(pins: list[dict]) -> list[tuple[str, str, str]]:
            return [(p["target_type"], p["target_id"], p["field"]) for p in pins if p["target_type"] == "bot"]

        assert pinned((await client.get("/api/pins", params={"world": home})).json()) == [("bot", nell["id"], "traits")]
        assert pinned((await client.get("/api/pins", params={"world": "saltmere"})).json()) == []
        await client.post("/api/chats", json={"bot_ids": [nell["id"]], "world_id": "saltmere"})  # she joins
        assert pinned((await client.get("/api/pins", params={"world": "saltmere"})).json()) == [
            ("bot", nell["id"], "traits")
        ]
        history = (await client.get(f"/api/items/bot/{nell['id']}/history", params={"world": "saltmere"})).json()
        assert [(h["field"], h["new"]) for h in history] == [("traits", ["calm"])]
        # Unpinned from any world, it is unpinned in all.
        unpin = {"target_type": "bot", "target_id": nell["id"], "field": "traits", "action": "unpin"}
        assert (await client.post("/api/edits", json=unpin)).status_code == 200
        for world in (home, "saltmere"):
            assert pinned((await client.get("/api/pins", params={"world": world})).json()) == []
