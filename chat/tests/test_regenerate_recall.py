"""A regenerate does not show the model the reply it replaces (nor its other alternatives):
their witnessed observations and the memories the turns that wrote them added are left out
of the regenerate prompt's recall. Real app, real SQLite, the scripted backend."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chat.db.connection import open_db
from chat.eventlog.log import append_event
from chat.eventlog.projector import project
from chat.tests.api_support import make_bot, make_chat, make_settings, queue_turn, running_app, say

pytestmark = pytest.mark.anyio

CUSTARD = "There is a seal named Custard who sleeps on the harbour steps."


async def _prompt_text(client: httpx.AsyncClient, turn_id: str) -> str:
    shown = (await client.get(f"/api/turns/{turn_id}/prompt")).json()
    replies = [p for p in shown if p["purpose"] == "reply"]
    assert replies, shown
    return json.dumps(replies[-1]["messages"])


async def test_regenerate_recalls_nothing_of_the_reply_it_replaces(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "hello, what lives by the harbour?")
        reply = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[-1]
        edited = await client.patch(f"/api/messages/{reply['id']}", json={"text": CUSTARD})
        assert edited.status_code == 200, edited.text

        first = await queue_turn(app, client, chat["id"], "regenerate")
        assert first["status"] == "completed", first
        assert "Custard" not in await _prompt_text(client, first["id"])
        # the replaced reply and every alternative of it stay out of a second regenerate too
        second = await queue_turn(app, client, chat["id"], "regenerate")
        assert "Custard" not in await _prompt_text(client, second["id"])

        # a normal turn may still recall it: picked back, Custard is the standing reply, and
        # Ada remembers it in another chat of hers, where it is in no transcript
        assert (await client.post(f"/api/messages/{reply['id']}/choose")).status_code == 200
        elsewhere = await make_chat(client, ["ada"], title="Elsewhere")
        later = await say(app, client, elsewhere["id"], "what lives by the harbour?")
        shown = (await client.get(f"/api/turns/{later['id']}/prompt")).json()
        assert any("Custard" in json.dumps(p["messages"]) for p in shown if p["purpose"] == "reply")


async def test_regenerate_recalls_nothing_extraction_drew_from_the_replaced_turn(
    data_dir: Path,
) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        turn = await say(app, client, chat["id"], "hello, what lives by the harbour?")
    with open_db(data_dir / "kith.db") as conn:  # what extraction of that turn could have added
        append_event(conn, kind="memory_added", chat_id=chat["id"], turn_id=turn["id"], payload={
            "id": "mem-custard", "owner": "ada", "text": "I told you of Custard the harbour seal",
            "kind": "fact", "importance": 9, "about": []})  # fmt: skip
        append_event(conn, kind="memory_added", payload={
            "id": "mem-gull", "owner": "ada", "text": "A gull named Biscuit nests by the harbour",
            "kind": "fact", "importance": 9, "about": []})  # fmt: skip
        project(conn)
    async with running_app(make_settings(data_dir)) as (app, client):
        redo = await queue_turn(app, client, chat["id"], "regenerate")
        shown = await _prompt_text(client, redo["id"])
        assert "Custard" not in shown
        assert "Biscuit" in shown, "memories of other turns are still recalled"

