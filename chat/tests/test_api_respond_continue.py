"""§4.9 over HTTP: deleting the standing alternative makes the next one stand; "respond"
answers the conversation as it stands; "continue" extends the last reply as a new
alternative. Real app, real SQLite, the scripted backend."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chat.tests.api_support import (
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    queue_turn,
    running_app,
    runtime_of,
    say,
)

pytestmark = pytest.mark.anyio


async def _transcript(client: httpx.AsyncClient, chat_id: str) -> list[dict]:
    return (await client.get(f"/api/chats/{chat_id}/messages")).json()


async def _end(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/health")).json()["last_event_id"]


async def test_deleting_the_standing_alternative_makes_the_next_one_stand(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        first = (await say(app, client, chat["id"], "hello"))["message_ids"][0]
        second = (await queue_turn(app, client, chat["id"], "regenerate"))["message_ids"][0]
        third = (await queue_turn(app, client, chat["id"], "regenerate"))["message_ids"][0]
        assert (await client.post(f"/api/messages/{second}/choose")).status_code == 200

        assert (await client.delete(f"/api/messages/{second}")).status_code == 204
        ids = [m["id"] for m in await _transcript(client, chat["id"])]
        assert ids[-1] == third, "the alternative after the deleted one stands"
        assert (await client.delete(f"/api/messages/{third}")).status_code == 204
        ids = [m["id"] for m in await _transcript(client, chat["id"])]
        assert ids[-1] == first, "with none after it, the one before it stands"
        assert (await client.delete(f"/api/messages/{first}")).status_code == 204
        assert [m["author"] for m in await _transcript(client, chat["id"])] == ["you"]


async def test_respond_answers_without_a_new_user_message(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        before = await _end(client)
        assert_error(await client.post(f"/api/chats/{chat['id']}/respond"), 409)
        assert await _end(client) == before
        turn = await say(app, client, chat["id"], "hello there")
        assert (await client.delete(f"/api/messages/{turn['message_ids'][0]}")).status_code == 204
        assert [m["author"] for m in await _transcript(client, chat["id"])] == ["you"]

        responded = await queue_turn(app, client, chat["id"], "respond")
        assert responded["status"] == "completed", responded
        transcript = await _transcript(client, chat["id"])
        assert [m["author"] for m in transcript] == ["you", "ada"]
        assert transcript[-1]["id"] == responded["message_ids"][0]
        assert transcript[-1]["text"].strip(), "the reply has text"
        assert sum(m["author"] == "you" for m in transcript) == 1, "no user message was added"


async def test_continue_extends_the_last_reply_as_a_new_alternative(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        before = await _end(client)
        assert_error(await client.post(f"/api/chats/{chat['id']}/continue"), 409)
        assert await _end(client) == before
        turn = await say(app, client, chat["id"], "tell me")
        original = (await _transcript(client, chat["id"]))[-1]

        continued = await queue_turn(app, client, chat["id"], "continue")
        assert continued["status"] == "completed", continued
        last = (await _transcript(client, chat["id"]))[-1]
        assert last["id"] == continued["message_ids"][0] != original["id"]
        assert last["text"].startswith(original["text"]) and len(last["text"]) > len(original["text"])
        alts = (await client.get(f"/api/messages/{last['id']}/alternatives")).json()
        assert [a["id"] for a in alts] == [turn["message_ids"][0], last["id"]]

        await client.post(f"/api/chats/{chat['id']}/messages", json={"text": "mine now"})
        await runtime_of(app).wait_idle(chat["id"])
        await client.delete(f"/api/messages/{(await _transcript(client, chat['id']))[-1]['id']}")
        assert_error(await client.post(f"/api/chats/{chat['id']}/continue"), 409)


async def test_add_a_memory_by_hand_names_a_bad_field(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        before = await _end(client)
        assert_error(await client.post("/api/memories", json={"owner": "nobody", "text": "x"}), 422, "owner")
        assert_error(await client.post("/api/memories", json={"owner": "ada", "text": "  "}), 422, "text")
        assert_error(await client.post("/api/memories", json={"owner": "ada", "text": "x", "about": ["zz"]}), 422, "about")
        assert_error(await client.post("/api/memories", json={"owner": "ada", "text": "x", "importance": 11}), 422)
        assert await _end(client) == before
        made = await client.post("/api/memories", json={"owner": "ada", "text": "You like rye", "importance": 7, "about": ["you"]})
        assert made.status_code == 201, made.text
        assert {k: made.json()[k] for k in ("owner", "text", "importance")} == {"owner": "ada", "text": "You like rye", "importance": 7}
        assert [m["id"] for m in (await client.get("/api/memories", params={"owner": "ada"})).json()] == [made.json()["id"]]
