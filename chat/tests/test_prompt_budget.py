"""Prompt assembly (§8.1–§8.2): sections, the token budget, and stop-sequence trimming (§4.8)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from chat.errors import ValidationFailed
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.state.entities import get_bot
from chat.turns.prompt import MESSAGE_OVERHEAD, VOICE_CUE, build_prompt
from chat.turns.stops import StopTrimmer, cut_at_stops, stop_sequences


def words(text: str) -> int:
    """One token per word: budgets in tests are easy to count by hand."""
    return len(text.split())


def setup_world(conn: sqlite3.Connection, **bot: Any) -> tuple[dict, dict]:
    fields = {"id": "mara", "name": "Mara", "persona": "Pilot.", **bot}
    if get_bot(conn, "mara") is not None:  # assembled twice in one test: same world
        return get_bot(conn, "mara") or {}, {"id": "c1", "bot_ids": ["mara"]}
    append_events(
        conn,
        [
            NewEvent("bot_authored", fields),
            NewEvent("chat_created", {"id": "c1", "title": "t", "bot_ids": ["mara"]}),
            NewEvent("world_fact_set", {"key": "weather", "value": "fog"}),
        ],
    )
    project(conn)
    return get_bot(conn, "mara") or {}, {"id": "c1", "bot_ids": ["mara"]}


def msg(i: int, author: str, text: str) -> dict[str, Any]:
    return {"id": f"m{i}", "author": author, "text": text, "event_id": i}


def memory(i: int, text: str) -> tuple[dict[str, Any], float]:
    return {"id": f"mem{i}", "text": text}, 3.0 - i / 10


def assemble(conn: sqlite3.Connection, history: list, memories: list, context: int, **bot: Any) -> Any:
    the_bot, chat = setup_world(conn, **bot)
    return build_prompt(
        conn,
        bot=the_bot,
        chat=chat,
        history=history,
        memories=memories,
        user_name="You",
        count_tokens=words,
        context_length=context,
        reply_tokens=20,
        other_names=[],
    )


def test_prompt_holds_every_section_in_order(conn: sqlite3.Connection) -> None:
    lore = [{"keys": ["lamp"], "content": "The lamp is cursed.", "name": "lamp lore"},
            {"keys": ["kraken"], "content": "Never shown."}]  # fmt: skip
    prompt = assemble(
        conn,
        [msg(1, "you", "Is the lamp lit?")],
        [memory(0, "You once fixed the lamp.")],
        2000,
        traits=["blunt"],
        backstory="Born at sea.",
        scenario="A stormy night.",
        voice_samples=["Aye."],
        lore=lore,
    )
    # What stays the same turn to turn first (§8.1.1): who Mara is and the instruction,
    # then her voice; what changes (relationships, scene, world, lore, memories) is one
    # note just before the newest message.
    system, note = prompt.messages[0].content, prompt.messages[3].content
    order = ["You are Mara. Pilot.", "Mara is blunt.", "Born at sea.", "A stormy night.", "Reply as Mara only"]
    assert [system.index(part) for part in order] == sorted(system.index(part) for part in order)
    order = ["Mara sees You as stranger, feels neutral about them", "Here with you: You.", "Weather is fog.",
             "The lamp is cursed.", "What Mara remembers:\n- You once fixed the lamp."]  # fmt: skip
    assert [note.index(part) for part in order] == sorted(note.index(part) for part in order)
    assert "Never shown." not in system + note and "Aye." not in system + note
    assert "remembers" not in system and "fog" not in system
    assert prompt.lore == ["lamp lore"] and prompt.memory_ids == ["mem0"]
    # voice samples are the bot's own turns of the chat template, after a user cue
    assert [(m.role, m.content) for m in prompt.messages[1:]] == [
        ("user", VOICE_CUE), ("assistant", "Aye."), ("system", note), ("user", "Is the lamp lit?"),
    ]  # fmt: skip
    assert prompt.token_count == sum(words(m.content) + MESSAGE_OVERHEAD for m in prompt.messages)
    assert prompt.stop == ["\nYou:", "\nUser:"]


def test_oldest_messages_go_first_never_cut_in_the_middle(conn: sqlite3.Connection) -> None:
    history = [msg(i, "you" if i % 2 else "mara", f"message {i} " + "word " * 48) for i in range(1, 11)]
    full = assemble(conn, history, [memory(0, "one two three")], 5000)
    assert len(full.messages) == 12 and full.dropped_messages == 0  # system, 10 messages, the note
    per_message = 50 + MESSAGE_OVERHEAD
    system_cost = full.token_count - 10 * per_message
    budget = system_cost + 3 * per_message + 5  # room for three messages and a bit
    tight = assemble(conn, history, [memory(0, "one two three")], budget + 20 + 16)
    kept = [m.content for m in tight.messages if m.role != "system"]
    # whole messages, the newest; cut in a step that frees room for the next turns (§8.1.1)
    assert 1 <= len(kept) < 3 and kept == [m["text"] for m in history[-len(kept) :]]
    assert tight.dropped_messages == 10 - len(kept) and tight.memory_ids == ["mem0"]
    assert tight.token_count == system_cost + len(kept) * per_message <= budget


def test_memories_go_lowest_score_first_once_only_the_latest_message_is_left(
    conn: sqlite3.Connection,
) -> None:
    history = [msg(1, "you", "old " * 30), msg(2, "you", "Where is the boat?")]
    memories = [memory(i, f"memory {i} " + "x " * 57) for i in range(4)]  # 60 words a line
    roomy = assemble(conn, history, memories, 5000)
    line = 60 + 1  # each memory line costs its words plus one
    header = 3 + 2  # "What Mara remembers:"
    old = 30 + MESSAGE_OVERHEAD
    core_and_latest = roomy.token_count - 4 * 60 - 3 - old
    budget = core_and_latest + header + 2 * line + 3  # room for the two best memories
    tight = assemble(conn, history, memories, budget + 20 + 16)
    assert tight.memory_ids == ["mem0", "mem1"]  # the best two, in score order
    assert [m.content for m in tight.messages if m.role != "system"] == ["Where is the boat?"]
    assert tight.dropped_memories == 2 and tight.dropped_messages == 1


def test_a_message_too_long_for_the_context_is_an_error_not_a_cut(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValidationFailed) as err:
        assemble(conn, [msg(1, "you", "word " * 500)], [], 300)
    assert f"the latest message needs {500 + MESSAGE_OVERHEAD} tokens" in err.value.message


def test_a_huge_character_sheet_is_shortened_to_half_the_budget(conn: sqlite3.Connection) -> None:
    prompt = assemble(
        conn, [msg(1, "you", "hi")], [], 500, persona="long " * 1000, voice_samples=["Aye " * 100]
    )
    assert prompt.token_count <= 500 - 20
    assert "voice" not in prompt.sections and prompt.messages[-1].content == "hi"


def test_group_transcript_names_each_speaker(conn: sqlite3.Connection) -> None:
    the_bot, _ = setup_world(conn)
    append_events(conn, [NewEvent("bot_authored", {"id": "bo", "name": "Bo"})])
    project(conn)
    prompt = build_prompt(
        conn,
        bot=the_bot,
        chat={"id": "c1", "bot_ids": ["mara", "bo"]},
        history=[msg(1, "you", "hi all"), msg(2, "bo", "hey"), msg(3, "mara", "evening")],
        memories=[],
        user_name="Sam",
        count_tokens=words,
        context_length=2000,
        reply_tokens=20,
        other_names=["Bo"],
    )
    assert [(m.role, m.content) for m in prompt.messages if m.role != "system"] == [
        ("user", "Sam: hi all"), ("user", "Bo: hey"), ("assistant", "evening"),
    ]  # fmt: skip
    assert prompt.stop == ["\nYou:", "\nUser:", "\nSam:", "\nBo:"]


def test_stop_sequences_and_cutting() -> None:
    stops = stop_sequences("Sam", ["Bo"])
    assert cut_at_stops("Fine.\nSam: me too", stops) == ("Fine.", True)
    assert cut_at_stops("You: I speak first", stops) == ("", True)
    assert cut_at_stops("Nothing to cut", stops) == ("Nothing to cut", False)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_trimmer_never_shows_text_past_a_stop(size: int) -> None:
    text = "Mara: We sail.\nMore words here.\nYou: agreed\nlater"
    trimmer = StopTrimmer(stop_sequences("You", []), "Mara")
    shown = "".join(trimmer.feed(text[i : i + size]) for i in range(0, len(text), size))
    shown += trimmer.finish()
    assert shown == " We sail.\nMore words here."
    assert trimmer.reply.strip() == "We sail.\nMore words here."
    assert trimmer.stopped


def test_trimmer_passes_plain_text_through() -> None:
    trimmer = StopTrimmer(stop_sequences("You", []), "Mara")
    shown = trimmer.feed("Mar") + trimmer.feed("ket day") + trimmer.finish()
    assert shown == "Market day" and not trimmer.stopped


def test_macros_are_replaced_in_every_card_field(conn: sqlite3.Connection) -> None:
    lore = [{"keys": ["lamp"], "content": "{{char}} lit the lamp for <USER>."}]
    prompt = assemble(
        conn,
        [msg(1, "you", "Is the lamp lit?")],
        [],
        2000,
        persona="{{char}} guides ships for {{user}}.",
        traits=["loyal to {{User}}"],
        backstory="<BOT> was born at sea.",
        scenario="{{ user }} arrives at dawn.",
        voice_samples=["{{char}}: Aye, {{user}}."],
        lore=lore,
    )
    text = "\n".join(m.content for m in prompt.messages)
    for part in ("Mara guides ships for You.", "loyal to You", "Mara was born at sea.",
                 "You arrives at dawn.", "\nAye, You.", "Mara lit the lamp for You."):  # fmt: skip
        assert part in text
    assert "{{" not in text and "<USER>" not in text and "<BOT>" not in text
