"""Compact prompt records (§8.4): "why did it say that?" rebuilds byte for byte what a
real OpenAI-compatible server was sent, after later edits and renames too, and the
record stays small; records in the old whole form still show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.eventlog.log import append_event
from chat.tests.api_support import make_bot, make_chat, make_settings, running_app, say
from chat.tests.llm_fault_server import FaultServer, start_fault_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = start_fault_server()
    yield server
    server.stop()


def _sent_replies(server: FaultServer, url: str) -> list[list[dict[str, str]]]:
    return [r.body["messages"] for r in server.log(url) if r.body.get("stream")]


async def test_why_rebuilds_exactly_what_the_server_was_sent(data_dir: Path, fault_server: FaultServer) -> None:
    url = fault_server.url("ok")
    settings = make_settings(data_dir, backend="openai", base_url=url, model="fault-model")
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada", kickoff_prose="Hello {{user}}, I am {{char}}.")
        chat = await make_chat(client, ["ada"])
        turns = []
        for n in range(6):
            turns.append(await say(app, client, chat["id"], f"message number {n} about the lighthouse"))
        sent = _sent_replies(fault_server, url)
        assert len(sent) == 6
        # Later changes must not change what the records rebuild.
        first_user = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[1]
        assert (await client.patch(f"/api/messages/{first_user['id']}", json={"text": "edited later"})).status_code == 200
        assert (await client.patch("/api/bots/ada", json={"name": "Adaline"})).status_code == 200
        for turn, messages in zip(turns, sent, strict=True):
            shown = (await client.get(f"/api/turns/{turn['id']}/prompt")).json()
            replies = [p for p in shown if p["purpose"] == "reply"]
            assert len(replies) == 1
            assert json.dumps(replies[0]["messages"]) == json.dumps(messages)  # byte for byte
            assert "compact" not in replies[0]

    with open_db(data_dir / "kith.db") as conn:
        rows = conn.execute(
            "SELECT length(payload), payload FROM events WHERE kind = 'prompt_recorded' ORDER BY id"
        ).fetchall()
    compact = [json.loads(p)["compact"] for _, p in rows]
    assert all(c is not None for c in compact)
    assert "base" in compact[-1]["system"]  # later records are differences from earlier ones
    whole = [len(json.dumps(m)) for m in sent]
    assert rows[-1][0] < whole[-1] / 2, (rows[-1][0], whole[-1])


async def test_a_record_in_the_old_whole_form_still_shows(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        turn = await say(app, client, chat["id"], "hello")
    with open_db(data_dir / "kith.db") as conn:
        old = {"bot_id": "ada", "purpose": "reply", "messages": [
            {"role": "system", "content": "You are Ada."}, {"role": "user", "content": "hello"}]}
        append_event(conn, kind="prompt_recorded", payload=old, chat_id=chat["id"], turn_id=turn["id"])
    async with running_app(make_settings(data_dir)) as (_app, client):
        shown = (await client.get(f"/api/turns/{turn['id']}/prompt")).json()
    assert shown[-1]["messages"] == old["messages"]
