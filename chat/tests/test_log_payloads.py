"""What the event log's payloads take per turn (§13, issue 15): a prompt record's chapter
ids are written once, not with every reply; fields at their defaults are left out; a
reply's own recalled observations are kept in a short form; and the formats already in
users' logs still read, rebuild and show exactly."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

from chat.db.connection import open_db
from chat.eventlog.columns import FROM_COLUMNS, PUT_BACK
from chat.eventlog.log import NewEvent, append_event, append_events, iter_events
from chat.eventlog.projector import project
from chat.eventlog.recalled import recalled_ids
from chat.eventlog.schemas import payload_json
from chat.export import export_log, import_log
from chat.state.chats import get_turn
from chat.state.memory import get_memory
from chat.tests.test_prompt_budget import setup_world, words
from chat.tests.test_prompt_records import _memory, _posted, _recorded
from chat.turns.plan import queued_payload
from chat.turns.prompt import build_prompt
from chat.turns.prompt_record import expand, record_view
from chat.turns.record_chapters import applied, difference

CHAPTER = "Chapter {}: the Heron sailed past the Teeth at dawn and nobody on the quay spoke of it."


def test_a_long_chats_chapter_ids_are_not_written_again_every_reply(conn: sqlite3.Connection) -> None:
    """20 chapters in every prompt: the first record lists them, the next ones none (the
    same as their base's) or only the new chapter's; each shows the exact list."""
    the_bot, chat = setup_world(conn)
    chapters = [_memory(conn, f"chap-{i:02d}:mara", CHAPTER.format(i)) for i in range(24)]
    history = [_posted(conn, n, "you" if n % 2 else "mara") for n in range(1, 9)]
    told = [20] * 4 + [21, 21, 22, 23, 23]
    sizes = []
    for n, count in enumerate(told):
        prompt = build_prompt(
            conn, bot=the_bot, chat=chat, history=history, memories=[], user_name="You",
            count_tokens=words, context_length=20_000, reply_tokens=20, other_names=[],
            chapters=chapters[:count], previous_start=history[0]["event_id"] if n else None,
        )  # fmt: skip
        assert prompt.chapter_ids == [f"chap-{i:02d}:mara" for i in range(count)]  # all of them fit
        stored, sent = _recorded(conn, prompt, history[prompt.dropped_messages :])
        text = payload_json("prompt_recorded", stored)
        named = sorted(set(json.loads(text).get("chapter_ids", [])) | {
            part for part in json.loads(text)["compact"].get("ch", []) if isinstance(part, str)})  # fmt: skip
        new = {f"chap-{i:02d}:mara" for i in range(told[n - 1] if n else 0, count)}
        assert set(named) == new and text.count("chap-") == len(new), (n, text)
        assert record_view(conn, json.loads(text))["chapter_ids"] == prompt.chapter_ids
        assert json.dumps(expand(conn, json.loads(text))) == json.dumps(sent)  # byte for byte
        sizes.append(len(text))
    assert max(sizes[1:4]) == min(sizes[1:4]) and sizes[1] < sizes[0] - 20 * len('"chap-00:mara",')


def test_the_formats_already_written_still_show(conn: sqlite3.Connection) -> None:
    """A format-2 record with its defaults written out and its whole chapter list, and a
    format-3 record after it: each shows its own exact list and fields."""
    setup_world(conn)
    first = _posted(conn, 1, "you")
    keyframe = {"message_id": None, "bot_id": "mara", "purpose": "reply", "messages": [], "memory_ids": ["m9"],
                "chapter_ids": ["chap-a:mara", "chap-b:mara"], "lore": ["harbour"], "token_count": 12,
                "compact": {"v": 2, "system": {"text": "You are Mara."}, "depth": 0,
                            "transcript": [{"r": "user", "e": first["event_id"]}]}}  # fmt: skip
    old_id = _raw(conn, keyframe)
    later = {**keyframe, "chapter_ids": ["chap-b:mara", "chap-c:mara"],
             "compact": {"v": 2, "system": {"base": old_id, "head": 13, "tail": 0, "text": ""}, "depth": 1,
                         "tx2": [[0, 1]]}}  # fmt: skip
    later_id = _raw(conn, later)
    for record_id, record in ((old_id, keyframe), (later_id, later)):
        shown = record_view(conn, _stored(conn, record_id))
        assert shown["chapter_ids"] == record["chapter_ids"] and shown["lore"] == ["harbour"]
        assert shown["memory_ids"] == ["m9"] and shown["purpose"] == "reply" and shown["token_count"] == 12
        assert shown["messages"] == [{"role": "system", "content": "You are Mara."},
                                     {"role": "user", "content": first["text"]}]  # fmt: skip
    new = {"bot_id": "mara", "token_count": 3,
           "compact": {"v": 3, "system": {"base": later_id, "head": 13, "tail": 0, "text": ""}, "depth": 2,
                       "tx2": [[0, 1]], "ch": [[1, 1], "chap-d:mara"]}}  # fmt: skip
    same = {**new, "compact": {k: v for k, v in new["compact"].items() if k != "ch"}}
    assert record_view(conn, new)["chapter_ids"] == ["chap-c:mara", "chap-d:mara"]
    assert record_view(conn, same)["chapter_ids"] == later["chapter_ids"]
    shown = record_view(conn, same)
    assert shown["memory_ids"] == [] and shown["lore"] == [] and shown["purpose"] == "reply"


def _raw(conn: sqlite3.Connection, payload: dict) -> int:
    """Write ``payload`` as it is, the way older versions wrote it (no normalising)."""
    cursor = conn.execute(
        "INSERT INTO events (kind, version, payload, created_at, chat_id, actor)"
        " VALUES ('prompt_recorded', 1, ?, '2026-01-01T00:00:00.000000Z', 'c1', 'system')",
        (json.dumps(payload, separators=(",", ":")),),
    )
    conn.commit()
    return int(cursor.lastrowid)


def _stored(conn: sqlite3.Connection, event_id: int) -> dict:
    return json.loads(conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()[0])


def test_chapter_differences_rebuild_every_change() -> None:
    """Any list from any list: slides, new ones, a chapter rewound and another in its place."""
    pick = random.Random(15)
    pool = [f"chap-{i}:mara" for i in range(40)]
    for _ in range(500):
        old = pick.sample(pool, pick.randint(0, 12))
        new = pick.choice([old[pick.randint(0, 3):] + pick.sample(pool, pick.randint(0, 2)),
                           pick.sample(pool, pick.randint(0, 12)), old])  # fmt: skip
        assert applied(old, difference(old, new)) == new
    assert difference(["a", "b", "c"], ["b", "c", "d"]) == [[1, 2], "d"]
    assert difference(["a", "b"], ["a", "b"]) is None


def test_a_replys_own_observations_are_stored_short_and_read_whole(conn: sqlite3.Connection) -> None:
    """``obs:msg-<rest>:<author>`` is stored as ``*<rest>``; other ids as they are. The
    log reads both forms whole (old events too), so the recall's projection updates the
    same memories, and /api/events or ``kith events`` show the ids as they were."""
    ids = ["obs:msg-1:mara", "mem-2", "obs:msg-3:ivo", "chap-x:mara", "obs:mara", "obs:msg-:mara", "obs:m4:mara", "obs:msg--x:mara"]
    stored = json.loads(payload_json("message_posted", {
        "id": "r1", "chat_id": "c1", "author": "mara", "text": "hm", "retrieved_memory_ids": ids}))  # fmt: skip
    assert stored["retrieved_memory_ids"] == ["*1", *ids[1:]]
    assert recalled_ids(stored) == ids
    assert payload_json("message_posted", stored) == json.dumps(stored, separators=(",", ":"))  # as stored

    setup_world(conn)
    heard = append_event(conn, kind="message_posted", chat_id="c1", payload={
        "id": "msg-1", "chat_id": "c1", "author": "you", "text": "the tide turns at six"})  # fmt: skip
    project(conn)
    own = "obs:msg-1:mara"  # Mara witnessed it
    assert get_memory(conn, own) is not None
    new_id = append_event(conn, kind="message_posted", chat_id="c1", payload={
        "id": "m2", "chat_id": "c1", "author": "mara", "text": "aye", "retrieved_memory_ids": [own]})  # fmt: skip
    assert _stored(conn, new_id)["retrieved_memory_ids"] == ["*1"] and heard < new_id
    project(conn)
    new_time = conn.execute("SELECT created_at FROM events WHERE id = ?", (new_id,)).fetchone()[0]
    assert get_memory(conn, own)["last_retrieved_at"] == new_time
    # the whole form older versions wrote: read and projected the same
    conn.execute(
        "INSERT INTO events (kind, version, payload, created_at, chat_id, actor) VALUES ('message_posted', 1, ?,"
        " '2030-01-01T00:00:00.000000Z', 'c1', 'model')",
        (json.dumps({"id": "m3", "chat_id": "c1", "author": "mara", "text": "aye", "retrieved_memory_ids": [own]}),),
    )  # fmt: skip
    conn.commit()
    project(conn)
    assert get_memory(conn, own)["last_retrieved_at"] == "2030-01-01T00:00:00.000000Z"
    read = [e.payload for e in iter_events(conn) if e.kind == "message_posted" and e.payload["author"] == "mara"]
    assert [p["retrieved_memory_ids"] for p in read] == [[own]] * 2  # every reader of the log: whole


def test_null_fields_are_left_out_of_a_relationship_change() -> None:
    text = payload_json("edge_changed", {"src": "mara", "dst": "you", "label": None, "notes": None,
                                         "affinity_delta": 1, "trust_delta": 0})  # fmt: skip
    assert "label" not in text and "notes" not in text and '"affinity_delta":1' in text
    assert payload_json("proposal_dropped", {"reason": "extraction failed: x", "proposal": None}) == (
        '{"reason":"extraction failed: x"}'
    )


def test_ids_a_rows_columns_hold_are_stored_once(conn: sqlite3.Connection, tmp_path: Path) -> None:
    """A turn's id and a message's chat, equal to the row's columns, are left out of the
    stored JSON and read back from the columns by every reader (the log, a turn's plan, a
    log export and its import); rows written before, with them, read the same."""
    assert set(PUT_BACK) == set(FROM_COLUMNS)  # what is left out is put back
    setup_world(conn)
    append_events(conn, [
        NewEvent("message_posted", {"id": "m1", "chat_id": "c1", "author": "you", "text": "hi"}, turn_id="t1"),
        NewEvent("turn_queued", {"id": "t1", "chat_id": "c1", "user_message_id": "m1"}, chat_id="c1", turn_id="t1"),
        NewEvent("turn_started", {"id": "t1"}, chat_id="c1", turn_id="t1"),
        NewEvent("turn_completed", {"id": "t1", "message_ids": []}, chat_id="c1", turn_id="t1"),
        NewEvent("turn_failed", {"id": "t2", "reason": "x"}, chat_id="c1", turn_id="t1"),  # not its column's
    ])  # fmt: skip
    conn.execute(  # as older versions stored them: the ids in the payload too
        "INSERT INTO events (kind, version, payload, created_at, chat_id, turn_id, actor) VALUES"
        " ('turn_started', 1, '{\"id\":\"t1\"}', '2026-01-01T00:00:00.000000Z', 'c1', 't1', 'system')"
    )
    conn.commit()
    stored = {kind: text for kind, text in conn.execute("SELECT kind, payload FROM events WHERE turn_id = 't1'")}
    assert stored["message_posted"] == '{"id":"m1","author":"you","text":"hi"}'
    assert stored["turn_queued"] == '{"kind":"message","user_message_id":"m1"}'
    assert stored["turn_completed"] == '{"message_ids":[]}' and stored["turn_failed"].startswith('{"id":"t2"')
    read = {e.kind: e.payload for e in iter_events(conn) if e.turn_id == "t1"}
    assert read["message_posted"] == {"id": "m1", "chat_id": "c1", "author": "you", "text": "hi"}
    assert read["turn_queued"] == {"id": "t1", "chat_id": "c1", "kind": "message", "user_message_id": "m1"}
    assert read["turn_started"] == {"id": "t1"} and read["turn_failed"]["id"] == "t2"
    assert [e.payload for e in iter_events(conn) if e.kind == "turn_started"] == [{"id": "t1"}] * 2
    assert queued_payload(conn, "t1")["chat_id"] == "c1" and queued_payload(conn, "t1")["id"] == "t1"
    project(conn)
    assert get_turn(conn, "t1")["chat_id"] == "c1"
    # a log export carries the whole payloads; its import stores them as append would
    exported = export_log(conn, tmp_path / "log.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()[1:-1]]
    assert {"id": "t1", "chat_id": "c1", "kind": "message", "user_message_id": "m1"} in [r["payload"] for r in lines]
    import_log(exported.path, tmp_path / "copy")
    with open_db(tmp_path / "copy" / "kith.db") as copy:
        again = dict(copy.execute("SELECT kind, payload FROM events WHERE turn_id = 't1'"))
    assert again["turn_queued"] == stored["turn_queued"] and again["message_posted"] == stored["message_posted"]
