"""Compact prompt records (§8.4): "why did it say that?" rebuilds byte for byte what a
real OpenAI-compatible server was sent, after later edits and renames too, and the
record stays small; records in the old whole form still show."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.eventlog.log import append_event
from chat.eventlog.projector import project
from chat.eventlog.recalled import recalled_ids
from chat.state.memory import get_memory
from chat.tests.api_support import make_bot, make_chat, make_settings, running_app, say
from chat.tests.llm_fault_server import FaultServer
from chat.tests.test_prompt_budget import setup_world, words
from chat.turns.prompt import Prompt, build_prompt
from chat.turns.prompt_record import compact_record, expand, record_view

pytestmark = pytest.mark.anyio


def _sent_replies(server: FaultServer, url: str) -> list[list[dict[str, str]]]:
    return [r.body["messages"] for r in server.log(url) if r.body.get("stream")]


async def test_why_rebuilds_exactly_what_the_server_was_sent(data_dir: Path, fault_server: FaultServer) -> None:
    url = fault_server.url("ok")
    settings = make_settings(data_dir, backend="openai", base_url=url, model="fault-model")
    async with running_app(settings) as (app, client):
        await make_bot(
            client, id="ada", kickoff_prose="Hello {{user}}, I am {{char}}.",
            voice_samples=["{{char}}: Lights first, questions later.", "Mind the third step."],
            card={"spec": "chara_card_v2", "post_history_instructions": "Stay in the lighthouse, {{char}}.",
                  "extensions": {"depth_prompt": {"prompt": "{{char}} hides a key.", "depth": 2}}},
        )  # fmt: skip
        earlier = await make_chat(client, ["ada"])  # what Ada saw there is recalled here
        await say(app, client, earlier["id"], "The lighthouse keeper hid the brass key under the third step.")
        chat = await make_chat(client, ["ada"])
        turns = []
        for n in range(6):
            odd = ' 🌊 "quoted" back\\slash\nnew line é \u2028' if n == 2 else ""  # escapes survive the rebuild
            turns.append(await say(app, client, chat["id"], f"message number {n} about the lighthouse{odd}"))
        sent = _sent_replies(fault_server, url)
        sent = sent[1:]  # the earlier chat's reply
        assert len(sent) == 6
        # Later changes must not change what the records rebuild.
        first_user = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[1]
        assert (await client.patch(f"/api/messages/{first_user['id']}", json={"text": "edited later"})).status_code == 200
        assert (await client.patch("/api/bots/ada", json={"name": "Adaline"})).status_code == 200
        shown_ids: dict[str, list[str]] = {}
        for turn, messages in zip(turns, sent, strict=True):
            shown = (await client.get(f"/api/turns/{turn['id']}/prompt")).json()
            replies = [p for p in shown if p["purpose"] == "reply"]
            assert len(replies) == 1
            assert json.dumps(replies[0]["messages"]) == json.dumps(messages)  # byte for byte
            assert "compact" not in replies[0]
            shown_ids[replies[0]["message_id"]] = replies[0]["memory_ids"]

    with open_db(data_dir / "kith.db") as conn:
        rows = conn.execute(
            "SELECT length(payload), payload FROM events WHERE kind = 'prompt_recorded' AND chat_id = ?"
            " ORDER BY id", (chat["id"],),
        ).fetchall()
        posted = {json.loads(p)["id"]: json.loads(p) for (p,) in conn.execute(
            "SELECT payload FROM events WHERE kind = 'message_posted'")}  # fmt: skip
    # the memory ids a record leaves to its reply's message_posted still show
    assert all(recalled_ids(posted[m]) == ids for m, ids in shown_ids.items())
    assert any(i.startswith("*") for p in posted.values() for i in p.get("retrieved_memory_ids", []))
    assert any(shown_ids.values())
    for _, p in rows:  # defaults left out: no ids (they are the message's), lore or messages
        assert not {"memory_ids", "lore", "messages", "purpose"} & json.loads(p).keys()
    compact = [json.loads(p)["compact"] for _, p in rows]
    assert all(c is not None for c in compact)
    assert "base" in compact[-1]["system"]  # later records are differences from earlier ones
    assert any(isinstance(op, list) for op in compact[-1]["tx2"])  # runs of the previous record
    items = [item for c in compact for item in c.get("tx2", c.get("transcript", [])) if isinstance(item, dict)]
    # the recalled observation of the earlier chat is named by its message's event, not copied
    assert any(isinstance(part, dict) and "e" in part for item in items for part in item.get("s", []))
    assert not any("brass key" in part for item in items for part in item.get("s", []) if isinstance(part, str))
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


def _posted(conn: sqlite3.Connection, n: int, author: str) -> dict:
    text = f"message {n} about the lamp and the reef"
    event_id = append_event(conn, kind="message_posted", chat_id="c1", payload={
        "id": f"m{n}", "chat_id": "c1", "author": author, "text": text})  # fmt: skip
    return {"id": f"m{n}", "author": author, "text": text, "event_id": event_id}


def _memory(conn: sqlite3.Connection, memory_id: str, text: str) -> dict:
    append_event(conn, kind="memory_added", payload={
        "id": memory_id, "owner": "mara", "text": text, "kind": "fact", "importance": 5})  # fmt: skip
    project(conn)
    return get_memory(conn, memory_id) or {}


def _recorded(conn: sqlite3.Connection, prompt: Prompt, sources: list[dict]) -> tuple[dict, list[dict]]:
    sent = [m.to_dict() for m in prompt.messages]
    record = {"bot_id": "mara", "purpose": "reply", "messages": sent, "memory_ids": prompt.memory_ids,
              "chapter_ids": prompt.chapter_ids}  # fmt: skip
    compact = compact_record(conn, record, chat_id="c1", history=sources, quoted=prompt.quoted)
    append_event(conn, kind="prompt_recorded", payload=compact, chat_id="c1")
    return compact, sent


def test_chapters_and_memories_are_named_and_rebuilt_exactly(conn: sqlite3.Connection) -> None:
    """The chapters slot and the note's memories (§8.1.1): named by their ``memory_added``
    events, rebuilt byte for byte, also after the memories are edited; a memory edited
    before the prompt is kept inline."""
    the_bot, chat = setup_world(conn, voice_samples=["Aye."], card={"spec": "chara_card_v2",
                                "post_history_instructions": "Stay terse, {{char}}."})  # fmt: skip
    chapters = [_memory(conn, f"ch{i}", f"Chapter {i}: the Heron sailed past the Teeth at dawn.") for i in (1, 2)]
    memories = [(_memory(conn, "mem0", "You once fixed the lamp on the old pier."), 1.0)]
    history = [_posted(conn, n, "you" if n % 2 else "mara") for n in range(1, 9)]
    records = []
    for n, previous in ((4, None), (6, history[0]["event_id"]), (8, history[0]["event_id"])):
        prompt = build_prompt(
            conn, bot=the_bot, chat=chat, history=history[:n], memories=memories, user_name="You",
            count_tokens=words, context_length=4000, reply_tokens=20, other_names=[],
            chapters=chapters, previous_start=previous,
        )  # fmt: skip
        records.append((*_recorded(conn, prompt, history[:n][prompt.dropped_messages :]), prompt))
    for compact, sent, _prompt in records:
        assert compact["compact"] is not None and record_view(conn, compact)["chapter_ids"] == ["ch1", "ch2"]
        assert json.dumps(expand(conn, compact)) == json.dumps(sent)  # byte for byte
        stored = json.dumps(compact["compact"])
        assert "the Heron sailed" not in stored and "fixed the lamp" not in stored  # named, not copied
    last = records[-1][0]["compact"]
    assert "Stay terse" not in json.dumps(last) and "Weather is fog" not in json.dumps(last)  # [k]: as before
    # Later edits of the memories do not change what the records rebuild.
    for memory_id in ("ch1", "mem0"):
        append_event(conn, kind="manual_edit", payload={"target_type": "memory", "target_id": memory_id,
                     "field": "text", "value": "rewritten later", "previous": ""})  # fmt: skip
    project(conn)
    for compact, sent, _ in records:
        assert expand(conn, compact) == sent
    # A memory edited before the prompt: its text is not its memory_added's, so it stays inline.
    edited = [get_memory(conn, "ch1") or {}, chapters[1]]
    prompt = build_prompt(
        conn, bot=the_bot, chat=chat, history=history, memories=[], user_name="You", count_tokens=words,
        context_length=4000, reply_tokens=20, other_names=[], chapters=edited, previous_start=1,
    )  # fmt: skip
    compact, sent = _recorded(conn, prompt, history[prompt.dropped_messages :])
    assert expand(conn, compact) == sent and "rewritten later" in json.dumps(compact["compact"])


def test_format_1_records_still_rebuild(conn: sqlite3.Connection) -> None:
    """Records written before format 2 (one run, ``tx``; items with ``t``) show as sent."""
    setup_world(conn)
    first, second = _posted(conn, 1, "you"), _posted(conn, 2, "mara")
    v1 = {"v": 1, "system": {"text": "You are Mara."}, "depth": 0,
          "transcript": [{"r": "user", "e": first["event_id"], "p": ""}]}  # fmt: skip
    base = append_event(conn, kind="prompt_recorded", chat_id="c1",
                        payload={"bot_id": "mara", "messages": [], "compact": v1})  # fmt: skip
    delta = {"v": 1, "system": {"base": base, "head": 13, "tail": 0, "text": " Pilot."}, "depth": 1,
             "tx": {"skip": 0, "take": 1, "add": [{"r": "system", "t": "note"},
                                                  {"r": "assistant", "e": second["event_id"], "p": "Mara: "}]}}  # fmt: skip
    assert expand(conn, {"bot_id": "mara", "compact": delta}) == [
        {"role": "system", "content": "You are Mara. Pilot."},
        {"role": "user", "content": first["text"]},
        {"role": "system", "content": "note"},
        {"role": "assistant", "content": "Mara: " + second["text"]},
    ]
