"""A greeting names the person by the persona they chose (§3.6, §4.1; session 26's walk:
the demo chat kept saying "nods at You." after the person named themselves).

Naming yourself writes each greeting still as posted again with the name (a
``message_edited`` by ``system`` beside the ``persona_set``, `chat.world.openings`):
before the conversation starts, or while "you" had no name yet; a greeting the person
edited, one in an archived world and one in another world's persona are left as they
are. The next prompt calls the person by the name. Real app, real SQLite, scripted backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from chat.cli import main
from chat.tests.api_support import make_bot, make_settings, running_app, say
from chat.tests.turn_support import events

pytestmark = pytest.mark.anyio

GREETING = {"kickoff_prose": "{{char}} nods at {{user}}. \"You're the new hand.\"",
            "alternate_greetings": ["{{char}} waves at {{user}}."]}  # fmt: skip


async def _greeted(client: httpx.AsyncClient, world: str = "saltmere") -> tuple[str, list[dict[str, Any]]]:
    chat = (await client.post("/api/chats", json={"bot_ids": ["mara"], "world_id": world})).json()
    return chat["id"], await _greetings(client, chat["id"])


async def _greetings(client: httpx.AsyncClient, chat_id: str) -> list[str]:
    shown = (await client.get(f"/api/chats/{chat_id}/messages")).json()
    first = shown[0]
    alternatives = (await client.get(f"/api/messages/{first['id']}/alternatives")).json()
    return [a["text"] for a in alternatives]


async def _world(client: httpx.AsyncClient, name: str, *, bot: bool = True) -> None:
    assert (await client.post("/api/worlds", json={"name": name, "id": name.lower()})).status_code == 201
    if bot:
        await make_bot(client, id="mara", name="Mara", world_id=name.lower(), **GREETING)


async def test_naming_yourself_writes_the_greeting_with_your_name_and_the_prompt_uses_it(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await _world(client, "Saltmere")
        chat_id, texts = await _greeted(client)
        assert texts == ["Mara nods at You. \"You're the new hand.\"", "Mara waves at You."]
        assert (await client.put("/api/persona", json={"name": "Sam"})).status_code == 200
        assert await _greetings(client, chat_id) == ["Mara nods at Sam. \"You're the new hand.\"", "Mara waves at Sam."]
        edited = events(data_dir, kind="message_edited")
        assert [e.actor for e in edited] == ["system", "system"]
        assert edited[0].payload["previous"] == texts[0]
        shown = (await client.get(f"/api/chats/{chat_id}/messages")).json()[0]
        assert shown["edited"] is False  # Kith wrote it again; no one edited the greeting

        turn = await say(app, client, chat_id, "Morning, Mara.")
        prompt = [p for p in (await client.get(f"/api/turns/{turn['id']}/prompt")).json() if p["purpose"] == "reply"]
        sent = "\n".join(m["content"] for m in prompt[0]["messages"])
        assert "Mara nods at Sam." in sent and "nods at You" not in sent
        # the conversation has started: a new name leaves its greeting as history wrote it
        assert (await client.put("/api/persona", json={"name": "Alex"})).status_code == 200
        assert (await _greetings(client, chat_id))[0] == "Mara nods at Sam. \"You're the new hand.\""
        fresh, texts = await _greeted(client)
        assert texts[0] == "Mara nods at Alex. \"You're the new hand.\""


async def test_the_unnamed_placeholder_is_filled_in_even_after_the_first_words(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await _world(client, "Saltmere")
        chat_id, _ = await _greeted(client)
        await say(app, client, chat_id, "Morning.")  # spoke before answering the banner
        assert (await client.put("/api/persona", json={"name": "Sam"})).status_code == 200
        assert (await _greetings(client, chat_id))[0] == "Mara nods at Sam. \"You're the new hand.\""


async def test_an_edited_an_archived_and_another_worlds_greeting_are_left_alone(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_, client):
        await _world(client, "Saltmere")
        await _world(client, "Ashfall", bot=False)
        await _world(client, "Fogbound", bot=False)
        assert (await client.post("/api/chats", json={"bot_ids": ["mara"], "world_id": "ashfall"})).status_code == 201
        edited_id, _ = await _greeted(client)
        first = (await client.get(f"/api/chats/{edited_id}/messages")).json()[0]
        assert (await client.patch(f"/api/messages/{first['id']}", json={"text": "Mara nods."})).status_code == 200
        ash_id, _ = await _greeted(client, "ashfall")
        fog_id, _ = await _greeted(client, "fogbound")
        assert (await client.post("/api/worlds/fogbound/archive")).status_code == 200
        # a persona of Ashfall's own reaches Ashfall only
        assert (await client.put("/api/persona", json={"name": "Kestrel", "world_id": "ashfall"})).status_code == 200
        assert (await _greetings(client, ash_id))[0] == "Mara nods at Kestrel. \"You're the new hand.\""
        plain_id, _ = await _greeted(client)
        assert (await _greetings(client, plain_id))[0].startswith("Mara nods at You.")
        # the global one reaches the worlds without their own, archived ones aside
        assert (await client.put("/api/persona", json={"name": "Sam"})).status_code == 200
        assert (await _greetings(client, plain_id))[0].startswith("Mara nods at Sam.")
        assert (await _greetings(client, edited_id))[0] == "Mara nods."
        assert (await _greetings(client, ash_id))[0].startswith("Mara nods at Kestrel.")
        assert (await _greetings(client, fog_id))[0].startswith("Mara nods at You.")
        # Ashfall back on the global persona: its greeting, not yet answered, follows
        assert (await client.delete("/api/worlds/ashfall/persona")).status_code == 200
        assert (await _greetings(client, ash_id))[0].startswith("Mara nods at Sam.")


async def test_kith_persona_in_a_terminal_writes_the_greeting_too(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_, client):
        await _world(client, "Saltmere")
        chat_id, _ = await _greeted(client)
    done = CliRunner().invoke(main, ["persona", "Sam", "--data-dir", str(data_dir)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    async with running_app(make_settings(data_dir)) as (_, client):
        assert (await _greetings(client, chat_id))[0].startswith("Mara nods at Sam.")


async def test_a_chat_of_the_first_world_made_without_naming_one_is_renamed_too(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_, client):
        await make_bot(client, id="mara", name="Mara", **GREETING)  # no world named: the default one
        chat = (await client.post("/api/chats", json={"bot_ids": ["mara"]})).json()
        assert (await client.put("/api/persona", json={"name": "Sam"})).status_code == 200
        assert (await _greetings(client, chat["id"]))[0].startswith("Mara nods at Sam.")
