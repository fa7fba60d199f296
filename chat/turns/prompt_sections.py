"""The sections of a reply prompt that say who the bot is and where (§8.1–§8.2).

The character sheet (card system prompt, persona, traits, backstory, scenario), how the bot
stands with those present, the scene, the world's facts, the lore the recent messages
switch on, and the voice samples as chat turns. `chat.turns.prompt` lays them out with the
transcript and the memories within the token budget.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.cards.macros import expand_macros
from chat.llm.types import ChatMessage
from chat.state.edges import get_edge
from chat.state.entities import get_entity
from chat.state.lore import prompt_lore
from chat.state.world import get_scene, list_facts
from chat.state.worlds import chat_world, get_world
from chat.turns.card_prompt import CardParts, card_parts

MAX_WORLD_FACTS = 40
MAX_VOICE_SAMPLES = 8
VOICE_CUE = "(Say something, in your own voice.)"
"""The user turn before the voice samples: they read as the bot's own way of talking."""


def names_of(
    conn: sqlite3.Connection, ids: list[str], cache: dict[str, str], world_id: str = "default"
) -> dict[str, str]:
    for entity_id in ids:
        if entity_id not in cache:
            entity = get_entity(conn, entity_id, world_id=world_id)
            cache[entity_id] = entity["name"] if entity else entity_id
    return cache


def relationship_lines(
    conn: sqlite3.Connection,
    bot_id: str,
    others: list[str],
    names: dict[str, str],
    world_id: str = "default",
) -> list[str]:
    lines = []
    for other in others:
        if other == bot_id:
            continue
        edge = get_edge(conn, bot_id, other, world_id=world_id)
        if edge is None:
            continue
        line = (
            f"{names.get(bot_id, bot_id)} sees {names.get(other, other)} as {edge['label']}, "
            f"{_feeling(edge['affinity'], edge['trust'])}."
        )
        if edge["notes"]:
            line += f" {edge['notes']}"
        lines.append(line)
    return lines


_LIKING = ((60, "is fond of"), (20, "likes"), (-19, "feels neutral about"), (-59, "dislikes"))
_DISLIKE = "hates"
_BELIEFS = ("distrusts", "trusts", "is unsure whether to trust")


def _feeling(affinity: int, trust: int) -> str:
    """Words for the numbers: a small model acts on "dislikes" where it ignores "-30"."""
    like = next((words for floor, words in _LIKING if affinity >= floor), _DISLIKE)
    belief = _BELIEFS[0] if trust <= -20 else _BELIEFS[1] if trust >= 20 else _BELIEFS[2]
    return f"{like} them and {belief} them"


def feeling_phrases() -> list[str]:
    """Every phrase `_feeling` can write: a turn's model moves an edge between them, so a
    relationship line's length can change between a message's post and its turn."""
    return [f"{like} them and {belief} them" for like in [*(w for _, w in _LIKING), _DISLIKE] for belief in _BELIEFS]


def core_sections(
    conn: sqlite3.Connection,
    bot: dict[str, Any],
    chat_id: str,
    participants: list[str],
    user_name: str,
    recent_texts: list[str],
    parts: CardParts | None = None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, text) sections of the system message before memories, and activated lore names.

    ``parts`` are the card's prompt parts (system prompt, lore); made here when not given."""
    world_id = chat_world(conn, chat_id) or "default"  # everything below is of this world only
    if parts is None:
        parts = card_parts(
            bot, recent_texts, lore=prompt_lore(conn, world_id, bot["id"]), user_name=user_name,
            seed="", context_length=8192, count_tokens=lambda text: (len(text) + 3) // 4,
        )
    scene = get_scene(conn, chat_id) or {"location": "", "present": []}
    world = get_world(conn, world_id) or {}
    present = list(dict.fromkeys(["you", *participants, *scene["present"]]))
    names = names_of(conn, present, {"you": user_name}, world_id)
    name = bot["name"]
    sections: list[tuple[str, str]] = [("persona", f"You are {name}. {bot['persona']}".strip())]
    if parts.system_prompt:
        sections.insert(0, ("card_system", parts.system_prompt))
    if bot.get("traits"):
        sections.append(("traits", f"{name} is " + ", ".join(bot["traits"]) + "."))
    if bot.get("backstory"):
        sections.append(("backstory", bot["backstory"]))
    scenario = world.get("scenario") or bot.get("scenario")  # the world's, else the card's (§3.4)
    if scenario:
        sections.append(("scenario", scenario))
    relations = relationship_lines(conn, bot["id"], present, names, world_id)
    if relations:
        sections.append(("relationships", " ".join(relations)))
    others = ", ".join(names[p] for p in present if p != bot["id"])
    if scene["location"]:
        sections.append(("scene", f"You are at {scene['location']}" + (f" with {others}." if others else ".")))
    elif others:
        sections.append(("scene", f"Here with you: {others}."))
    facts = list(list_facts(conn, world_id=world_id).items())[:MAX_WORLD_FACTS]
    if facts:
        world = "; ".join(f"{k.replace('_', ' ')} is {v}" for k, v in facts)
        sections.append(("world", world[:1].upper() + world[1:] + "."))
    lore_texts = parts.lore_before + parts.lore_after
    if lore_texts:
        sections.append(("lore", "\n".join(lore_texts)))
    samples = [s.strip() for s in bot.get("voice_samples") or [] if s.strip()][:MAX_VOICE_SAMPLES]
    if samples:
        sections.append(("voice", "\n\n".join(samples)))  # sent as the bot's own turns, not here
    sections = [(key, expand_macros(text, char=name, user=user_name)) for key, text in sections]
    return sections, list(parts.lore_names)


def voice_messages(samples: list[str], bot_name: str, user_name: str) -> list[ChatMessage]:
    """Voice samples as chat turns: "{{user}}: ..." lines are the user's, the rest the bot's
    (its own "Name:" label taken off, so the model does not learn to start with it)."""
    own, user = f"{bot_name.strip()}:".lower(), f"{user_name.strip()}:".lower()
    messages: list[ChatMessage] = []
    for sample in samples:
        turns: list[tuple[str, str]] = []
        for line in sample.splitlines():
            line = line.strip()
            role = "assistant"
            if line.lower().startswith(own):
                line = line[len(own) :].strip()
            elif line.lower().startswith(user):
                role, line = "user", line[len(user) :].strip()
            elif turns:
                role = turns[-1][0]
            if not line:
                continue
            if turns and turns[-1][0] == role:
                turns[-1] = (role, f"{turns[-1][1]}\n{line}")
            else:
                turns.append((role, line))
        if turns and turns[0][0] == "assistant" and (not messages or messages[-1].role == "assistant"):
            messages.append(ChatMessage("user", VOICE_CUE))
        messages.extend(ChatMessage(role, text) for role, text in turns)
    return messages
