"""The rebuilt prompt records kept between turns (chat/turns/record_cache.py) never make
"why did it say that?" show another prompt than the one sent: through regenerate, rewind,
edits and keyframes, with the cache and without it, byte for byte what a real
OpenAI-compatible server was sent; and a database made anew at the same path never gets
the old one's records."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import append_event
from chat.tests.api_support import make_bot, make_chat, make_settings, running_app, runtime_of, say
from chat.tests.llm_fault_server import FaultServer
from chat.turns import prompt_record, record_cache
from chat.turns.prompt_record import previous_start

pytestmark = pytest.mark.anyio


async def _regenerate(app: FastAPI, client: httpx.AsyncClient, chat_id: str) -> dict:
    response = await client.post(f"/api/chats/{chat_id}/regenerate")
    assert response.status_code == 202, response.text
    await runtime_of(app).wait_idle(chat_id)
    return (await client.get(f"/api/turns/{response.json()['turn_id']}")).json()


async def _shown(client: httpx.AsyncClient, turn_id: str) -> list[dict[str, str]]:
    shown = (await client.get(f"/api/turns/{turn_id}/prompt")).json()
    replies = [p for p in shown if p["purpose"] == "reply"]
    assert len(replies) == 1
    return replies[0]["messages"]


async def test_records_rebuild_as_sent_through_rewind_regenerate_and_edits(
    data_dir: Path, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_record, "KEYFRAME", 4)  # several chains, each rebuilt from a keyframe
    record_cache.forget_all()
    url = fault_server.url("ok")
    settings = make_settings(data_dir, backend="openai", base_url=url, model="fault-model")
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada", voice_samples=["Mind the third step."])
        chat = await make_chat(client, ["ada"])
        turns = [await say(app, client, chat["id"], f"message {n} about the lighthouse") for n in range(4)]
        turns.append(await _regenerate(app, client, chat["id"]))  # a second record of one reply
        turns += [await say(app, client, chat["id"], f"later message {n}") for n in range(3)]
        transcript = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        rewound = await client.post(
            f"/api/chats/{chat['id']}/rewind", json={"before_message_id": transcript[-4]["id"]}
        )
        assert rewound.status_code == 200, rewound.text
        assert len(rewound.json()["reverted_turn_ids"]) == 2
        turns += [await say(app, client, chat["id"], f"after the rewind {n}") for n in range(3)]
        first_user = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[0]
        edited = await client.patch(f"/api/messages/{first_user['id']}", json={"text": "edited"})
        assert edited.status_code == 200
        turns += [await _regenerate(app, client, chat["id"])]
        turns += [await say(app, client, chat["id"], f"last message {n}") for n in range(3)]
        sent = [r.body["messages"] for r in fault_server.log(url) if r.body.get("stream")]
        assert len(sent) == len(turns) == 15
        assert record_cache._entries  # the turns kept what they rebuilt
        for turn, messages in zip(turns, sent, strict=True):
            assert json.dumps(await _shown(client, turn["id"])) == json.dumps(messages)
        record_cache.forget_all()  # rebuilt from the log alone: the same
        for turn, messages in zip(turns, sent, strict=True):
            assert json.dumps(await _shown(client, turn["id"])) == json.dumps(messages)
    with open_db(data_dir / "kith.db") as conn:
        depths = [
            json.loads(p)["compact"]["depth"]
            for (p,) in conn.execute("SELECT payload FROM events WHERE kind = 'prompt_recorded' ORDER BY id")
        ]
    assert 0 in depths[1:] and max(depths) == 3  # keyframes came round, differences between


def _records(db: Path, system: str, first_text: str) -> int:
    """A keyframe record and one difference from it (its JSON the same in every database
    made this way); the event id of the message the keyframe starts at."""
    apply_migrations(db)
    with open_db(db) as conn:
        for n in range(2):  # the keyframe names the second message in one database, the first here
            append_event(conn, kind="message_posted", chat_id="c1", payload={
                "id": f"m{n}", "chat_id": "c1", "author": "you", "text": f"{first_text} {n}"})  # fmt: skip
        start = 1 if system.endswith("A.") else 2
        keyframe = {"v": 2, "system": {"text": system}, "depth": 0, "transcript": [{"r": "user", "e": start}]}
        base = append_event(conn, kind="prompt_recorded", chat_id="c1",
                            payload={"bot_id": "mara", "messages": [], "compact": keyframe})  # fmt: skip
        delta = {"v": 2, "system": {"base": base, "head": 13, "tail": 0, "text": " Pilot."}, "depth": 1,
                 "tx2": [[0, 1]]}  # fmt: skip
        append_event(conn, kind="prompt_recorded", chat_id="c1",
                     payload={"bot_id": "mara", "messages": [], "compact": delta})  # fmt: skip
    return start


def test_a_database_made_anew_at_the_same_path_gets_none_of_the_old_records(tmp_path: Path) -> None:
    record_cache.forget_all()
    db = tmp_path / "kith.db"
    assert _records(db, "You are Mara. A.", "hello") == 1
    with open_db(db) as conn:
        assert previous_start(conn, "c1", "mara") == 1
        assert previous_start(conn, "c1", "mara") == 1  # now from the cache
    assert record_cache._entries
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    assert _records(db, "You are Mara. B.", "hello") == 2  # same ids, same JSON on top
    with open_db(db) as conn:
        assert previous_start(conn, "c1", "mara") == 2


def test_an_in_memory_database_is_never_cached() -> None:
    record_cache.forget_all()
    conn = sqlite3.connect(":memory:")
    assert record_cache.database_of(conn) == ""
    record_cache.remember("", 1, "{}", record_cache.Rebuilt({}, "", None))
    assert record_cache.known("", 1, "{}") is None and not record_cache._entries


def test_a_rebuild_reads_only_the_texts_newer_than_its_cached_base(tmp_path: Path) -> None:
    """The texts a rebuild read are kept with the cached records newer than their events:
    the next rebuild of a record whose base is cached reads from the log only the events
    newer than that base, and rebuilds what the log alone rebuilds."""
    record_cache.forget_all()
    db = tmp_path / "kith.db"
    apply_migrations(db)
    with open_db(db) as conn:

        def post(n: int) -> int:
            return append_event(conn, kind="message_posted", chat_id="c1", payload={
                "id": f"m{n}", "chat_id": "c1", "author": "you", "text": f"line {n}"})  # fmt: skip

        def record(compact: dict) -> int:
            return append_event(conn, kind="prompt_recorded", chat_id="c1", payload={
                "bot_id": "mara", "message_id": f"r{compact['depth']}", "messages": [], "compact": compact})  # fmt: skip

        first = [post(n) for n in range(3)]
        keyframe = record({"v": 2, "system": {"text": "You are Mara."}, "depth": 0,
                           "transcript": [{"r": "user", "e": e} for e in first]})  # fmt: skip
        fourth = post(3)
        middle = record({"v": 2, "system": {"base": keyframe, "head": 13, "tail": 0, "text": ""}, "depth": 1,
                         "tx2": [[0, 3], {"r": "user", "e": fourth}]})  # fmt: skip
        fifth = post(4)
        last = record({"v": 2, "system": {"base": middle, "head": 13, "tail": 0, "text": ""}, "depth": 2,
                       "tx2": [[0, 4], {"r": "user", "e": fifth}]})  # fmt: skip
        read: list[str] = []
        conn.set_trace_callback(read.append)

        def rebuilt(event_id: int) -> list[dict[str, str]]:
            memo: record_cache.Memo = {}
            row = conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
            payload = record_cache.parsed(conn, event_id, row[0], memo)
            prompt_record._system_of(conn, event_id, payload, memo)  # as for a new record's base
            prompt_record._items_of(conn, event_id, payload, memo)
            read.clear()
            messages = prompt_record.expand(conn, payload, memo)
            record_cache.keep(memo)
            return messages

        def texts_read() -> list[str]:
            return [sql for sql in read if "json_extract(payload, '$.text')" in sql]

        expected = [{"role": "system", "content": "You are Mara."}]
        expected += [{"role": "user", "content": f"line {n}"} for n in range(5)]
        assert rebuilt(middle) == expected[:5]
        every = ",".join(str(e) for e in [*first, fourth])
        assert [sql.rsplit("IN ", 1)[1] for sql in texts_read()] == [f"({every})"]  # none cached
        assert rebuilt(last) == expected
        assert [sql.rsplit("IN ", 1)[1] for sql in texts_read()] == [f"({fifth})"]  # only the newest
        conn.set_trace_callback(None)
        record_cache.forget_all()
        assert prompt_record.expand(conn, json.loads(conn.execute(
            "SELECT payload FROM events WHERE id = ?", (last,)).fetchone()[0])) == expected  # fmt: skip


async def test_the_texts_kept_with_records_stay_within_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record keeps the texts its rebuild named, not those of every message that ever slid
    out of the prompt's history (they grew by two a turn for as long as Kith ran)."""
    monkeypatch.setattr("chat.turns.plan.HISTORY_LIMIT", 6)
    record_cache.forget_all()
    data = tmp_path / "data"
    data.mkdir()
    async with running_app(make_settings(data)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        largest = []
        for n in range(30):
            await say(app, client, chat["id"], f"message number {n} about the lighthouse keeper")
            largest.append(max((len(e[1].texts) for e in record_cache._entries.values()), default=0))
    assert max(largest[10:]) <= 30, largest  # bounded by the history, not by the turns
    assert largest[-1] <= largest[10] + 4, largest
