"""Card fields in the prompt (§3.4.1, §8.1): system prompt, post-history instructions, the
Character's Note at its depth, lore at a depth, macros; creator notes never prompted."""

from __future__ import annotations

import sqlite3

from chat.tests.test_prompt_budget import assemble, msg
from chat.turns.card_prompt import place_inserts


def _card(**fields: object) -> dict[str, object]:
    return {"spec": "chara_card_v2", "extensions": {}, **fields}


def test_card_fields_go_where_sillytavern_puts_them(conn: sqlite3.Connection) -> None:
    card = _card(
        system_prompt="You are {{char}}, talking with {{user}}. {{original}}",
        post_history_instructions="Stay terse, <BOT>.",
        creator_notes="Made for testing; do not prompt me.",
        extensions={"depth_prompt": {"prompt": "{{char}} hides a key.", "depth": 1, "role": "system"}},
    )
    lore = [{"keys": ["lamp"], "content": "The lamp hums.", "extensions": {"position": 4, "depth": 0}}]
    history = [msg(1, "you", "hello"), msg(2, "mara", "hi"), msg(3, "you", "the lamp?")]
    prompt = assemble(conn, history, [], 4000, card=card, lore=lore, persona="{{char}} flies for {{user}}.")
    roles = [(m.role, m.content) for m in prompt.messages]
    system = roles[0][1]
    assert system.startswith("You are Mara, talking with You.")
    assert "{{original}}" not in system and "Mara flies for You." in system
    assert "do not prompt me" not in " ".join(text for _, text in roles)
    assert roles[1:] == [
        ("user", "hello"),
        ("assistant", "hi"),
        ("system", "Mara hides a key."),  # depth 1: before the newest message
        ("system", "Mara sees You as stranger, feels neutral about them and is unsure whether to trust them.\n\n"
         "Here with you: You.\n\nWeather is fog."),  # the note of what changes, just before it (§8.1.1)
        ("user", "the lamp?"),
        ("system", "The lamp hums."),  # lore at depth 0: after it
        ("system", "Stay terse, Mara."),  # post-history instructions last
    ]
    assert prompt.token_count >= sum(len(text.split()) for _, text in roles)


def test_lore_probability_follows_the_turn_seed(conn: sqlite3.Connection) -> None:
    lore = [{"keys": ["k"], "content": f"fact {i}", "extensions": {"probability": 50}} for i in range(30)]
    first = assemble(conn, [msg(1, "you", "k")], [], 4000, lore=lore)
    again = assemble(conn, [msg(1, "you", "k")], [], 4000, lore=lore)
    assert first.lore == again.lore and 0 < len(first.lore) < 30


def test_inserts_deeper_than_the_transcript_go_first() -> None:
    placed = place_inserts(["a", "b"], [(9, "system", "deep"), (0, "system", "end")], lambda r, t: t)
    assert placed == ["deep", "a", "b", "end"]
