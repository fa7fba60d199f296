"""An archived world's chats are read-only (§3.5: put away, read and exported): every change
to them is refused with a 409 naming the world and how to restore it, nothing is written,
stopping stays possible, and restoring the world makes the chat writable again. Real app,
real SQLite, the scripted backend."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chat.tests.api_support import (
    api_log_end,
    assert_error,
    make_bot,
    make_settings,
    queue_turn,
    running_app,
    say,
)

pytestmark = pytest.mark.anyio

RULES = {"rules": [{"match": "key", "extraction": {
    "memories": [{"owner": "ada", "text": "You found a lighthouse key.", "importance": 6}]}}]}


async def _archived_chat(client: httpx.AsyncClient, app: object) -> tuple[str, list[dict], dict]:
    """A chat in world Saltmere with a reply of two alternatives and a proposal waiting."""
    assert (await client.post("/api/worlds", json={"name": "Saltmere", "id": "saltmere"})).status_code == 201
    await make_bot(client, id="ada", world_id="saltmere")
    made = await client.post("/api/chats", json={"title": "Quay", "bot_ids": ["ada"], "world_id": "saltmere"})
    chat_id = made.json()["id"]
    await say(app, client, chat_id, "I found a lighthouse key")
    await queue_turn(app, client, chat_id, "regenerate")
    messages = (await client.get(f"/api/chats/{chat_id}/messages")).json()
    proposal = (await client.get(f"/api/chats/{chat_id}/proposals")).json()[0]
    assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
    return chat_id, messages, proposal


def _refused(response: httpx.Response) -> None:
    error = assert_error(response, 409, "world")
    assert "'Saltmere'" in error["message"] and "archived" in error["message"], error
    assert "restore" in error["message"] and "/api/worlds/saltmere/restore" in error["message"], error


async def test_every_change_to_an_archived_worlds_chat_is_refused_until_it_is_restored(
    data_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(RULES), encoding="utf-8")
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=script)
    async with running_app(settings) as (app, client):
        chat_id, messages, proposal = await _archived_chat(client, app)
        mine = next(m for m in messages if m["author"] == "you")
        reply = next(m for m in messages if m["author"] == "ada")
        other = next(a for a in (await client.get(f"/api/messages/{reply['id']}/alternatives")).json()
                     if a["id"] != reply["id"])
        before = await api_log_end(client)
        _refused(await client.patch(f"/api/messages/{mine['id']}", json={"text": "I found a rusty key"}))
        _refused(await client.delete(f"/api/messages/{reply['id']}"))
        _refused(await client.post(f"/api/messages/{other['id']}/choose"))
        _refused(await client.post(f"/api/chats/{chat_id}/rewind", json={"before_message_id": mine["id"]}))
        _refused(await client.put(f"/api/chats/{chat_id}/scene", json={"location": "the quay"}))
        _refused(await client.post(f"/api/proposals/{proposal['id']}/accept"))
        _refused(await client.post(f"/api/proposals/{proposal['id']}/reject"))
        _refused(await client.post(f"/api/chats/{chat_id}/messages", json={"text": "hello?"}))
        assert await api_log_end(client) == before, "nothing is written"
        # it can still be read and exported
        assert (await client.get(f"/api/chats/{chat_id}/messages")).json() == messages
        assert (await client.get(f"/api/chats/{chat_id}/export?format=txt")).status_code == 200

        assert (await client.post("/api/worlds/saltmere/restore")).status_code == 200
        edited = await client.patch(f"/api/messages/{mine['id']}", json={"text": "I found a rusty key"})
        assert edited.status_code == 200 and edited.json()["text"] == "I found a rusty key"
        assert (await client.post(f"/api/messages/{other['id']}/choose")).status_code == 200
        rewound = await client.post(f"/api/chats/{chat_id}/rewind", json={"before_message_id": mine["id"]})
        assert rewound.status_code == 200 and rewound.json()["reverted_turn_ids"], rewound.text


async def test_a_scene_edit_through_manual_edits_is_refused_too(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir, sentiment_nudges=False)) as (app, client):
        assert (await client.post("/api/worlds", json={"name": "Saltmere", "id": "saltmere"})).status_code == 201
        await make_bot(client, id="ada", world_id="saltmere")
        chat_id = (await client.post("/api/chats", json={"bot_ids": ["ada"], "world_id": "saltmere"})).json()["id"]
        await say(app, client, chat_id, "hello")
        assert (await client.post("/api/worlds/saltmere/archive")).status_code == 200
        before = await api_log_end(client)
        edit = {"target_type": "scene", "target_id": chat_id, "field": "location", "world_id": "saltmere"}
        assert_error(await client.post("/api/edits", json={**edit, "value": "the moon"}), 409, None)
        assert_error(await client.post("/api/edits", json={**edit, "action": "unpin"}), 409, None)
        assert await api_log_end(client) == before
