"""Turns end to end through the worker (§4.2–§4.7), on a real database: the scripted model for exact assertions, and one turn on the real embedded model."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chat.db.connection import open_db
from chat.errors import Conflict, NotFound, ValidationFailed
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import ReplyRequest
from chat.tests.turn_support import MARA, events, kinds, one_to_one, running, turn, write_script
from chat.turns.lifecycle import RESTART_REASON
from chat.turns.stops import finish_at_sentence

pytestmark = pytest.mark.anyio


async def test_one_to_one_turn_streams_stores_and_logs_in_order(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        bot, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        message, turn_id = await rt.post_message(chat["id"], "Is the channel clear?")
        await rt.wait_idle()
        got = rt.get_turn(turn_id)
        transcript = rt.transcript(chat["id"])

    assert message["author"] == "you" and message["text"] == "Is the channel clear?"
    assert got["status"] == "completed" and got["error"] is None
    assert [(m["author"], m["text"]) for m in transcript] == [
        ("you", "Is the channel clear?"),
        ("mara", "Mara heard you say: Is the channel clear?"),
    ]
    assert got["message_ids"] == [transcript[1]["id"]]
    assert kinds(data_dir, turn_id=turn_id) == [
        "message_posted",
        "turn_queued",
        "turn_started",
        "message_posted",
        "prompt_recorded",
        "memory_added",
        "turn_completed",
    ]
    reply_event = events(data_dir, turn_id=turn_id)[3]
    assert reply_event.actor == "model" and reply_event.payload["author"] == "mara"
    published: list[tuple[str, dict[str, Any]]] = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        published.append((item.type, item.data))
    tokens = "".join(d["text"] for t, d in published if t == "token")
    assert tokens == "Mara heard you say: Is the channel clear?"
    assert {d["message_id"] for t, d in published if t == "token"} == {transcript[1]["id"]}
    statuses = [(d["status"], d.get("phase"), d.get("phase_bot")) for t, d in published if t == "turn"]
    # the chat was idle: the turn started in the message's own commit (one commit less)
    assert statuses == [
        ("running", None, None), ("running", "writing", "mara"),
        ("running", "updating_memories", None), ("completed", None, None),
    ]  # fmt: skip
    phased = [d for t, d in published if t == "turn" and d.get("phase")]
    assert all(datetime.fromisoformat(d["phase_since"]) for d in phased)
    assert phased[0]["phase_since"] <= phased[1]["phase_since"]
    assert [d["author"] for t, d in published if t == "message"] == ["you", "mara"]


async def test_prompt_is_recorded_and_holds_the_character(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "Hello there")
        prompts = rt.get_prompt(result["id"])
    assert len(prompts) == 1
    record = prompts[0]
    assert record["bot_id"] == "mara" and record["message_id"] == result["message_ids"][0]
    system, note = record["messages"][0], record["messages"][-2]
    assert system["role"] == note["role"] == "system"
    for part in ("You are Mara.", "harbour pilot", "blunt, loyal"):
        assert part in system["content"]
    assert "Never write what You or anyone else says" in system["content"]
    # how Mara stands with you changes turn to turn: the note before the newest message (§8.1.1)
    assert "coworker" in note["content"] and "coworker" not in system["content"]
    assert {"role": "assistant", "content": "Tide waits for no one."} in record["messages"]
    assert record["messages"][-1] == {"role": "user", "content": "Hello there"}


class Watching(ScriptedBackend):
    """Scripted backend that looks in the database (own connection) when a reply starts."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.seen: list[tuple[int, str | None]] = []

    def stream_reply(self, req: ReplyRequest, cancel: asyncio.Event | None = None) -> Any:
        conn = sqlite3.connect(self.db)
        rows = conn.execute(
            "SELECT COUNT(*) FROM events WHERE kind = 'message_posted' AND payload LIKE ?",
            (f"%{req.user_text}%",),
        ).fetchone()
        status = conn.execute("SELECT status FROM turns ORDER BY created_at DESC LIMIT 1").fetchone()
        conn.close()
        self.seen.append((rows[0], status[0] if status else None))
        return super().stream_reply(req, cancel)


async def test_user_message_is_durable_before_the_model_is_called(data_dir: Path) -> None:
    backend = Watching(data_dir / "kith.db")
    async with running(data_dir, backend=backend) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "unique-marker-42")
    assert backend.seen == [(1, "running")]


async def test_message_survives_a_model_that_never_answers(data_dir: Path) -> None:
    rules = [{"match": "slow", "reply": "late", "delay_ms": 5000}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        _, turn_id = await rt.post_message(chat["id"], "slow please")
        with open_db(data_dir / "kith.db") as conn:  # a separate connection sees it at once
            texts = [r[0] for r in conn.execute("SELECT text FROM messages WHERE author = 'you'")]
        assert texts == ["slow please"]
        await rt.cancel_turn(turn_id)
        await rt.wait_idle()


async def test_group_turn_named_bot_first_then_talkative_up_to_the_limit(data_dir: Path) -> None:
    async with running(data_dir, extraction_enabled=False) as rt:
        for name, talk in (("Ana", 0.2), ("Bo", 0.9), ("Cole", 0.5)):
            await rt.author_bot({"name": name, "talkativeness": talk})
        chat = await rt.create_chat(["ana", "bo", "cole"])
        first = await turn(rt, chat["id"], "Cole, what do you think?")
        second = await turn(rt, chat["id"], "Anyone?")
        transcript = rt.transcript(chat["id"])
    authors = [m["author"] for m in transcript]
    # named Cole first, then the best of talkativeness + time since speaking: Bo (0.9 + 1/6)
    assert authors[:3] == ["you", "cole", "bo"]
    # no one named: Bo (0.9 + 1/6) still leads, then Ana, quiet longest (0.2 + 4/6), not Cole
    assert authors[3:] == ["you", "bo", "ana"]
    assert len(first["message_ids"]) == 2 and len(second["message_ids"]) == 2


async def test_group_second_speaker_sees_the_first_reply(data_dir: Path) -> None:
    async with running(data_dir, extraction_enabled=False) as rt:
        await rt.author_bot({"name": "Ana"})
        await rt.author_bot({"name": "Bo"})
        chat = await rt.create_chat(["ana", "bo"])
        result = await turn(rt, chat["id"], "Ana and Bo, hello")
        prompts = rt.get_prompt(result["id"])
    assert [p["bot_id"] for p in prompts] == ["ana", "bo"]
    said = [m for m in prompts[1]["messages"] if m["role"] != "system"]  # the note sits between them
    assert said[-1] == {"role": "user", "content": "Ana: Ana heard you say: Ana and Bo, hello"}
    assert said[-2] == {"role": "user", "content": "You: Ana and Bo, hello"}


async def test_messages_posted_during_a_turn_queue_behind_it(data_dir: Path) -> None:
    rules = [{"match": "first", "reply": "one two three four", "delay_ms": 30}]
    async with running(data_dir, rules, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        _, t1 = await rt.post_message(chat["id"], "first")
        _, t2 = await rt.post_message(chat["id"], "second")
        assert rt.get_turn(t2)["status"] == "queued"
        await rt.wait_idle()
        prompts = rt.get_prompt(t2)
        transcript = rt.transcript(chat["id"])
    log = events(data_dir)
    position = {(e.kind, e.turn_id): e.id for e in log}
    assert position[("turn_completed", t1)] < position[("turn_started", t2)]
    assert [m["text"] for m in transcript] == [
        "first", "second", "one two three four", "Mara heard you say: second",
    ]  # fmt: skip
    # the second turn answers "second", after the first reply, not before it
    assert [m["content"] for m in prompts[0]["messages"] if m["role"] != "system"][-3:] == [
        "first", "one two three four", "second",
    ]  # fmt: skip


async def test_chats_run_in_parallel(data_dir: Path) -> None:
    rules = [{"match": "slow", "reply": "a b c d e f", "delay_ms": 40}]
    async with running(data_dir, rules, extraction_enabled=False) as rt:
        bot, chat_a = await one_to_one(rt)
        chat_b = await rt.create_chat([bot["id"]])
        _, ta = await rt.post_message(chat_a["id"], "slow one")
        _, tb = await rt.post_message(chat_b["id"], "slow two")
        await rt.wait_idle()
        assert rt.get_turn(ta)["status"] == rt.get_turn(tb)["status"] == "completed"
    log = events(data_dir)
    position = {(e.kind, e.turn_id): e.id for e in log}
    # both started before either completed
    assert position[("turn_started", tb)] < position[("turn_completed", ta)]


async def test_failure_keeps_the_message_and_retry_completes(data_dir: Path) -> None:
    script = data_dir.parent / "script.json"
    async with running(data_dir, [{"match": "storm", "error": "the model server crashed"}]) as rt:
        _, chat = await one_to_one(rt)
        failed = await turn(rt, chat["id"], "storm coming?")
        assert failed["status"] == "failed"
        assert failed["error"] == "the model server crashed"
        assert [m["text"] for m in rt.transcript(chat["id"])] == ["storm coming?"]
        with pytest.raises(Conflict):
            await rt.cancel_turn(failed["id"])
        write_script(script, [])
        assert await rt.retry_turn(failed["id"]) == failed["id"]
        await rt.wait_idle()
        retried = rt.get_turn(failed["id"])
        transcript = rt.transcript(chat["id"])
        with pytest.raises(Conflict):
            await rt.retry_turn(failed["id"])
        with pytest.raises(NotFound):
            await rt.retry_turn("turn-nope")
    assert retried["status"] == "completed" and retried["error"] is None
    assert [m["text"] for m in transcript] == ["storm coming?", "Mara heard you say: storm coming?"]
    assert kinds(data_dir, turn_id=failed["id"]).count("turn_queued") == 2


async def test_reply_cut_off_mid_stream_is_not_stored(data_dir: Path) -> None:
    rules = [{"match": "flaky", "reply": "one two three four", "error": "connection reset", "error_after": 2}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "flaky line")
        transcript = rt.transcript(chat["id"])
    assert result["status"] == "failed" and result["error"] == "connection reset"
    assert [m["author"] for m in transcript] == ["you"]
    assert "memory_added" not in kinds(data_dir)


async def test_cancel_a_running_turn(data_dir: Path) -> None:
    rules = [{"match": "long", "reply": "a b c d e f g h i j", "delay_ms": 100}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        _, turn_id = await rt.post_message(chat["id"], "long story")
        while (await sub.get(timeout=5)).type != "token":
            pass
        await rt.cancel_turn(turn_id)
        await rt.wait_idle()
        result = rt.get_turn(turn_id)
        transcript = rt.transcript(chat["id"])
        # a stopped reply keeps its text, marked stopped (§4.3), and can be continued (§4.9)
        assert result["status"] == "completed" and result["error"] is None
        assert [(m["author"], m["stopped"]) for m in transcript] == [("you", False), ("mara", True)]
        kept = transcript[1]["text"]
        assert kept and "a b c d e f g h i j".startswith(kept) and kept != "a b c d e f g h i j"
        assert "memory_added" not in kinds(data_dir, turn_id=turn_id)  # no world changes
        write_script(data_dir.parent / "script.json", [{"match": "", "reply": "and the rest."}])
        continued = await rt.continue_reply(chat["id"])
        await rt.wait_idle()
        after = rt.transcript(chat["id"])
        assert rt.get_turn(continued)["status"] == "completed"
    assert [(m["author"], m["stopped"]) for m in after] == [("you", False), ("mara", False)]
    assert after[1]["text"] == f"{kept} and the rest."  # a new alternative holding both


async def test_stop_before_any_text_fails_the_turn_as_cancelled(data_dir: Path) -> None:
    rules = [{"match": "long", "reply": "a b c", "delay_ms": 300}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        _, turn_id = await rt.post_message(chat["id"], "long story")
        while (await sub.get(timeout=5)).data.get("phase") != "writing":
            pass
        await rt.cancel_turn(turn_id)
        await rt.wait_idle()
        result = rt.get_turn(turn_id)
        transcript = rt.transcript(chat["id"])
    assert result["status"] == "failed" and result["error"] == "stopped by the user"
    assert events(data_dir, kind="turn_failed")[0].payload["cancelled"] is True
    assert [m["author"] for m in transcript] == ["you"]


async def test_cancel_a_queued_turn(data_dir: Path) -> None:
    rules = [{"match": "long", "reply": "a b c d", "delay_ms": 50}]
    async with running(data_dir, rules, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        _, t1 = await rt.post_message(chat["id"], "long story")
        _, t2 = await rt.post_message(chat["id"], "then this")
        await rt.cancel_turn(t2)
        await rt.wait_idle()
        assert rt.get_turn(t1)["status"] == "completed"
        assert rt.get_turn(t2)["status"] == "failed"
        assert "turn_started" not in kinds(data_dir, turn_id=t2)


async def test_regenerate_keeps_alternatives_and_one_can_be_chosen(data_dir: Path) -> None:
    script = data_dir.parent / "script.json"
    async with running(data_dir, [{"match": "sea", "reply": "Calm today."}]) as rt:
        _, chat = await one_to_one(rt)
        first = await turn(rt, chat["id"], "How is the sea?")
        original = first["message_ids"][0]
        write_script(script, [{"match": "sea", "reply": "Rough, stay ashore."}])
        regen = await rt.regenerate(chat["id"])
        await rt.wait_idle()
        after = rt.transcript(chat["id"])
        chosen = await rt.choose_alternative(original)
        back = rt.transcript(chat["id"])
        hidden = rt.transcript(chat["id"], include_hidden=True)
        regen_turn = rt.get_turn(regen)
    assert regen_turn["status"] == "completed" and regen_turn["kind"] == "regenerate"
    assert [m["text"] for m in after] == ["How is the sea?", "Rough, stay ashore."]
    new_id = regen_turn["message_ids"][0]
    assert after[1]["alternatives"] == [original, new_id] and after[1]["alt_index"] == 1
    assert chosen["id"] == original and chosen["chosen"] is True
    assert [m["text"] for m in back] == ["How is the sea?", "Calm today."]
    assert len(hidden) == 3
    posted = events(data_dir, kind="message_posted", turn_id=regen)[0]
    assert posted.payload["alt_group"] == original
    # a regenerate changes no state beyond the reply: no extraction for the new alternative
    assert kinds(data_dir, turn_id=regen) == [
        "turn_queued", "turn_started", "message_posted", "prompt_recorded", "turn_completed",
    ]  # fmt: skip


async def test_regenerate_needs_a_bot_reply_last(data_dir: Path) -> None:
    async with running(data_dir, [{"match": "x", "error": "down"}]) as rt:
        _, chat = await one_to_one(rt, {"name": "Mara"})
        with pytest.raises(Conflict):
            await rt.regenerate(chat["id"])
        await turn(rt, chat["id"], "x")
        with pytest.raises(Conflict):
            await rt.regenerate(chat["id"])
        with pytest.raises(NotFound):
            await rt.regenerate("chat-missing")


async def test_regenerate_waits_for_the_running_turn(data_dir: Path) -> None:
    """While a turn runs, "the last reply" is about to change: regenerate is refused, not misaimed."""
    rules = [{"match": "slow", "reply": "a b c d e f", "delay_ms": 40}]
    async with running(data_dir, rules, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "hello")
        _, running_turn = await rt.post_message(chat["id"], "slow please")
        with pytest.raises(Conflict, match="still queued or running"):
            await rt.regenerate(chat["id"])
        await rt.wait_idle(chat["id"])
        assert rt.get_turn(running_turn)["status"] == "completed"
        regen = await rt.regenerate(chat["id"])
        await rt.wait_idle(chat["id"])
        assert rt.get_turn(regen)["status"] == "completed"


async def test_edit_and_delete_messages(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "Helo")
        user_id = rt.get_turn(result["id"])["user_message_id"]
        before = len(events(data_dir))
        with pytest.raises(ValidationFailed):
            await rt.edit_message(user_id, "   ")
        with pytest.raises(NotFound):
            await rt.edit_message("msg-missing", "x")
        assert len(events(data_dir)) == before
        edited = await rt.edit_message(user_id, "Hello")
        await rt.delete_message(result["message_ids"][0])
        with pytest.raises(NotFound):
            await rt.delete_message(result["message_ids"][0])
        transcript = rt.transcript(chat["id"])
    assert edited["text"] == "Hello" and edited["edited"] is True
    assert [(m["author"], m["text"]) for m in transcript] == [("you", "Hello")]
    edit_event = events(data_dir, kind="message_edited")[0]
    assert edit_event.payload["previous"] == "Helo" and edit_event.actor == "user"


async def test_post_to_unknown_chat_or_empty_text_appends_nothing(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        _, chat = await one_to_one(rt)
        before = len(events(data_dir))
        with pytest.raises(NotFound):
            await rt.post_message("chat-missing", "hi")
        with pytest.raises(ValidationFailed) as bad:
            await rt.post_message(chat["id"], "  ")
        with pytest.raises(ValidationFailed):
            await rt.post_message(chat["id"], "x" * 20_001)
        assert len(events(data_dir)) == before
    assert bad.value.field == "text"


async def test_stop_sequences_keep_the_model_from_writing_your_lines(data_dir: Path) -> None:
    rules = [{"match": "plan", "reply": "Mara: We sail at dawn.\nYou: Sounds good, I agree."}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        result = await turn(rt, chat["id"], "What's the plan?")
        transcript = rt.transcript(chat["id"])
        prompt = rt.get_prompt(result["id"])[0]
    shown = ""
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        if item.type == "token":
            shown += item.data["text"]
    assert transcript[-1]["text"] == "We sail at dawn."
    assert "Sounds good" not in shown and "You:" not in shown
    assert shown.strip() == "We sail at dawn."
    assert result["status"] == "completed"
    assert prompt["messages"][0]["role"] == "system"


async def test_kickoff_prose_opens_the_chat_with_names_filled(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        bot = await rt.author_bot({**MARA, "kickoff_prose": "{{char}} waves at {{ user }}."})
        chat = await rt.create_chat([bot["id"]], title="Harbour")
        transcript = rt.transcript(chat["id"])
        with pytest.raises(NotFound):
            await rt.create_chat(["ghost"])
        with pytest.raises(ValidationFailed):
            await rt.create_chat([])
    assert chat == {"id": chat["id"], "title": "Harbour", "bot_ids": ["mara"], "world_id": "default"}
    assert [(m["author"], m["text"], m["turn_id"]) for m in transcript] == [
        ("mara", "Mara waves at You.", None)
    ]


async def test_turn_left_queued_by_a_previous_process_runs_on_start(data_dir: Path) -> None:
    rules = [{"match": "slow", "reply": "a b c d e f g h", "delay_ms": 200}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        _, t1 = await rt.post_message(chat["id"], "slow going")
        _, t2 = await rt.post_message(chat["id"], "queued behind")
        await asyncio.sleep(0.05)
    # stop() cancelled the running turn; the queued one stayed queued in the log
    async with running(data_dir) as rt:
        await rt.wait_idle()
        first, second = rt.get_turn(t1), rt.get_turn(t2)
    assert first["status"] == "failed" and first["error"] == RESTART_REASON  # as after a crash
    assert second["status"] == "completed"


async def test_bot_authoring_errors(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        bot = await rt.author_bot({"name": "Mara Quinn"})
        twin = await rt.author_bot({"name": "Mara Quinn"})
        assert (bot["id"], twin["id"]) == ("mara-quinn", "mara-quinn-2")
        before = len(events(data_dir))
        with pytest.raises(Conflict):
            await rt.author_bot({"id": "mara-quinn", "name": "Other"})
        with pytest.raises(ValidationFailed) as bad:
            await rt.author_bot({"name": "x", "talkativeness": 3})
        with pytest.raises(ValidationFailed):
            await rt.author_bot({"id": "Bad Id!", "name": "x"})
        with pytest.raises(ValidationFailed):
            await rt.revise_bot("mara-quinn", {"talkativeness": -1})
        with pytest.raises(NotFound):
            await rt.revise_bot("ghost", {"name": "x"})
        assert len(events(data_dir)) == before
        revised = await rt.revise_bot("mara-quinn", {"persona": "Calm."})
        await rt.retire_bot("mara-quinn-2")
        with pytest.raises(Conflict):
            await rt.retire_bot("mara-quinn-2")
        listed = [b["id"] for b in rt.list_bots()]
    assert bad.value.field == "talkativeness"
    assert revised["persona"] == "Calm."
    assert listed == ["mara-quinn"]


@pytest.mark.slow
async def test_a_turn_on_the_real_embedded_model(data_dir: Path) -> None:
    """The same flow on the real bundled model: a reply streams in pieces and is stored whole."""
    from chat.config import Settings
    from chat.llm.registry import create_backend

    backend = create_backend(Settings(data_dir=data_dir, backend="embedded", n_ctx=1024))
    async with running(data_dir, backend=backend, reply_max_tokens=24, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        _, turn_id = await rt.post_message(chat["id"], "What should we do tonight?")
        await rt.wait_idle(timeout=300)
        result = rt.get_turn(turn_id)
        stored = rt.transcript(chat["id"])[-1]
        prompt = rt.get_prompt(turn_id)[0]
    await backend.aclose()
    tokens = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        if item.type == "token":
            tokens.append(item.data["text"])
    assert result["status"] == "completed", result["error"]
    assert stored["author"] == "mara" and stored["text"].strip()
    # stored whole: the stream, or (the token limit cut it mid-sentence) the stream up to
    # its last complete sentence
    assert len(tokens) > 1 and finish_at_sentence("".join(tokens)) == stored["text"]
    assert 0 < prompt["token_count"] <= 1024
