"""A bot's greeting belongs to its home world (§3.4, §3.5): a chat there opens with it,
the persona of that world filling {{user}}; a chat in another world opens with no greeting
rather than with the home world's places and people. Real app, real SQLite file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chat.tests.api_support import make_bot, make_settings, running_app

pytestmark = pytest.mark.anyio

GREETING = "*{{char}} waves from the Copperfield docks.* Welcome back to Brinehold, {{user}}!"
ALTERNATE = "*The Brinehold bells ring.* {{user}}, the ferry is late again."


async def _chat(client: httpx.AsyncClient, world_id: str) -> list[dict]:
    made = await client.post("/api/chats", json={"title": "T", "bot_ids": ["ada"], "world_id": world_id})
    assert made.status_code == 201, made.text
    return (await client.get(f"/api/chats/{made.json()['id']}/messages")).json()


async def test_a_greeting_opens_chats_in_the_home_world_only(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        for world in ("brinehold", "glasswood"):
            assert (await client.post("/api/worlds", json={"name": world.title(), "id": world})).status_code == 201
        for world, name in (("brinehold", "Wren"), ("glasswood", "Sable")):
            put = await client.put("/api/persona", json={"name": name, "world_id": world})
            assert put.status_code == 200, put.text
        await make_bot(client, id="ada", world_id="brinehold", kickoff_prose=GREETING, alternate_greetings=[ALTERNATE])

        home = await _chat(client, "brinehold")
        elsewhere = await _chat(client, "glasswood")
        again = await _chat(client, "brinehold")  # the other world's chat changed nothing here
        alternate = (await client.get(f"/api/messages/{home[0]['alternatives'][1]}")).json()

    assert [m["text"] for m in home] == ["*Ada waves from the Copperfield docks.* Welcome back to Brinehold, Wren!"]
    assert len(home[0]["alternatives"]) == 2  # the card's alternate greeting is offered there
    assert alternate["text"] == "*The Brinehold bells ring.* Wren, the ferry is late again."
    assert elsewhere == []
    assert [m["text"] for m in again] == [m["text"] for m in home]
