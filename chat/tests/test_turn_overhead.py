"""The turn-overhead cuts (§13) change no result: recall that passes memories over stops
early with the same memories, a prompt laid out from a shared frame is the prompt built
whole, and an idle chat's turn that starts in its message's commit behaves as one
started by the worker (queued behind a running turn otherwise; stop fails it)."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.llm.scripted import ScriptedBackend
from chat.memory.retrieval import retrieve_memories
from chat.tests.turn_support import events, one_to_one, running
from chat.turns.plan import plan_turn
from chat.turns.prompt import build_prompt, prompt_frame

pytestmark = pytest.mark.anyio
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WORDS = ["harbour", "tide", "storm", "lantern", "rope", "gull", "fog", "pier", "anchor", "sail", "net", "salt", "reef", "bell"]


def _memories(conn: sqlite3.Connection, count: int, rng: random.Random) -> list[str]:
    """``count`` memories of bot ``b1`` (some exact and near repeats), as ``memory_added``."""
    texts: list[str] = []
    for n in range(count):
        if texts and n % 7 == 0:
            text = rng.choice(texts)  # an exact repeat
        elif texts and n % 5 == 0:
            text = rng.choice(texts) + " again"  # a near repeat
        else:
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 9))).capitalize() + "."
        texts.append(text)
    batch = [NewEvent("bot_authored", {"id": "b1", "name": "B1"})]
    batch += [
        NewEvent("memory_added", {"id": f"m{n}", "owner": "b1", "text": t, "importance": 1 + n % 10})
        for n, t in enumerate(texts)
    ]
    append_events(conn, batch, clock=lambda: "2025-02-01T12:00:00.000000Z")
    project(conn)
    return texts


def test_recall_that_passes_memories_over_returns_the_filtered_k_best(conn: sqlite3.Connection) -> None:
    rng = random.Random(4)
    _memories(conn, 300, rng)
    compared = 0
    for _ in range(150):
        query = " ".join(rng.choices(WORDS, k=rng.randint(1, 5)))
        k, limit = rng.randint(3, 40), rng.randint(1, 12)
        dropped = {f"m{n}" for n in rng.sample(range(300), rng.randint(0, 120))}
        banned = rng.choice(WORDS)

        def keep(mid: str, text: str, dropped: set[str] = dropped, banned: str = banned) -> bool:
            return mid not in dropped and banned not in text.lower()

        whole = retrieve_memories(conn, "b1", query, now=NOW, k=k)
        expected = [(m["id"], s) for m, s in whole if keep(m["id"], m["text"])][:limit]
        got = retrieve_memories(conn, "b1", query, now=NOW, k=k, keep=keep, limit=limit)
        assert [(m["id"], s) for m, s in got] == expected
        compared += bool(expected) and len(expected) < len(whole)
    assert compared > 50  # most cases passed some over and still found some


async def test_a_prompt_laid_out_from_a_frame_is_the_prompt_built_whole(data_dir: Path) -> None:
    rules = [{"match": "", "reply": "The tide turns at dusk, and the pier bell rings twice."}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        for n in range(12):
            _, turn_id = await rt.post_message(chat["id"], f"Message {n}: the storm lantern and rope.")
            await rt.wait_idle(chat["id"])

        def both(conn: sqlite3.Connection) -> list[tuple[object, object]]:
            plan = plan_turn(conn, turn_id, pending=set(), max_replies=1)
            bot, backend = plan.bots[0], ScriptedBackend()
            memories = retrieve_memories(conn, bot["id"], "storm lantern tide", now=NOW, k=6)
            sizes = {"count_tokens": backend.cached_count_tokens, "context_length": 900}
            common = {"bot": bot, "chat": plan.chat, "history": plan.history, "user_name": plan.user_name,
                      "reply_tokens": 128, "seed": turn_id, **sizes}  # fmt: skip
            frame = prompt_frame(conn, **common)
            chapter = {"id": "c1", "text": "Earlier they spoke of storms.", "first_event_id": 1}
            pairs = []
            for mems, chapters, start in ((memories, [], None), ([], [chapter], None), (memories[:2], [chapter], 5)):
                args = {**common, "memories": mems, "other_names": [], "chapters": chapters, "previous_start": start}
                pairs.append((build_prompt(conn, **args), build_prompt(conn, frame=frame, **args)))
            return pairs

        pairs = await rt.read(both)
    for whole, framed in pairs:
        assert framed == whole
    assert any(whole.memory_ids for whole, _ in pairs) and any(whole.chapter_ids for whole, _ in pairs)
    assert any(whole.dropped_messages for whole, _ in pairs)  # the budget cut the transcript


async def test_an_idle_chats_turn_starts_in_its_messages_commit(data_dir: Path) -> None:
    rules = [{"match": "", "reply": "Aye.", "delay_ms": 100}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        message, first = await rt.post_message(chat["id"], "first")
        assert rt.get_turn(first)["status"] == "running"  # durable as started when acknowledged
        _, second = await rt.post_message(chat["id"], "second")  # the chat is busy: it waits
        assert rt.get_turn(second)["status"] == "queued"
        await rt.wait_idle()
        assert rt.get_turn(first)["status"] == rt.get_turn(second)["status"] == "completed"
    log = events(data_dir)
    head = [(e.kind, e.turn_id) for e in log if e.turn_id == first][:3]
    assert head == [("message_posted", first), ("turn_queued", first), ("turn_started", first)]
    ids = [e.id for e in log if e.turn_id == first][:3]
    assert ids == list(range(ids[0], ids[0] + 3))  # one append, nothing between
    started = [e.id for e in log if e.kind == "turn_started" and e.turn_id == second]
    completed = [e.id for e in log if e.kind == "turn_completed" and e.turn_id == first]
    assert len(started) == 1 and started[0] > completed[0]  # the worker started it, after the first


async def test_stopping_a_turn_started_with_its_message_before_the_worker_takes_it(data_dir: Path) -> None:
    async with running(data_dir, [{"match": "", "reply": "Aye."}]) as rt:
        _, chat = await one_to_one(rt)
        _, turn_id = await rt.post_message(chat["id"], "hello")
        # nothing awaited since: the worker's task has not taken it from the queue yet
        assert rt.get_turn(turn_id)["status"] == "running"
        await rt.cancel_turn(turn_id)
        await rt.wait_idle()
        turn = rt.get_turn(turn_id)
        assert turn["status"] == "failed" and turn["error"] == "stopped by the user before it started"
        assert [m["text"] for m in rt.transcript(chat["id"])] == ["hello"]
    assert "turn_completed" not in [e.kind for e in events(data_dir, turn_id=turn_id)]


def test_a_plans_history_leaves_out_waiting_turns_messages_and_keeps_200(conn: sqlite3.Connection) -> None:
    """With no other turn waiting a plan reads only the 200 messages it keeps; with some,
    50 more, so their messages are left out and 200 others kept all the same."""
    from chat.turns.plan import _history_before

    rng = random.Random(5)
    rows = []
    for n in range(400):
        turn = rng.choice([None, "t-done", "t-waiting", "t-also"]) if n > 300 else None
        rows.append((f"msg{n}", turn, n + 1, int(rng.random() > 0.05), int(rng.random() < 0.05)))
    conn.executemany(
        "INSERT INTO messages (id, chat_id, author, text, created_at, turn_id, event_id, alt_group, chosen,"
        " deleted) VALUES (?, 'c1', 'you', 'hi', '', ?, ?, 'g', ?, ?)",
        rows,
    )
    for others in (set(), {"t-waiting"}, {"t-waiting", "t-also"}):
        visible = [r for r in rows if r[3] and not r[4] and r[2] < 390 and (r[1] is None or r[1] not in others)]
        assert len(visible) > 200 + 10
        got = _history_before(conn, "c1", 390, others)
        assert [m["id"] for m in got] == [r[0] for r in visible[-200:]]
