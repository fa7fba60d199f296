"""Prompt assembly for one bot's reply (§8.1–§8.2).

The system message holds who the bot is (persona, traits, backstory, scenario),
how it stands with you and with those present, the scene and world facts, lore
the recent messages switch on, its voice samples as style examples, what it
remembers, and the instruction to answer as this bot only. Then as much of the
recent transcript as fits.

Budget: the backend's context minus the reply budget. When it is tight the
oldest transcript goes first, then the lowest-scored memories; a message is
never cut in the middle (a newest message too long on its own is an error that
names the sizes). Token counts come from the backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chat.errors import ValidationFailed
from chat.llm.types import ChatMessage
from chat.state.edges import get_edge
from chat.state.entities import get_entity
from chat.state.world import get_scene, list_facts
from chat.turns.lore import activate_lore
from chat.turns.stops import stop_sequences

HISTORY_LIMIT = 200
"""Messages read from the database at most; more never fit a real context anyway."""
MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers, separators)."""
PROMPT_MARGIN = 16
MAX_WORLD_FACTS = 40
MAX_VOICE_SAMPLES = 8
LORE_WINDOW = 6
"""How many recent messages can switch lore on."""

CountTokens = Callable[[str], int]


@dataclass
class Prompt:
    """What a reply is generated from, and what `prompt_recorded` keeps of it."""

    messages: list[ChatMessage]
    memory_ids: list[str]
    lore: list[str]
    token_count: int
    stop: list[str]
    dropped_messages: int = 0
    dropped_memories: int = 0
    sections: list[str] = field(default_factory=list)


def _names(conn: sqlite3.Connection, ids: list[str], cache: dict[str, str]) -> dict[str, str]:
    for entity_id in ids:
        if entity_id not in cache:
            entity = get_entity(conn, entity_id)
            cache[entity_id] = entity["name"] if entity else entity_id
    return cache


def relationship_lines(
    conn: sqlite3.Connection, bot_id: str, others: list[str], names: dict[str, str]
) -> list[str]:
    lines = []
    for other in others:
        if other == bot_id:
            continue
        edge = get_edge(conn, bot_id, other)
        if edge is None:
            continue
        line = (
            f"- {names.get(other, other)}: {edge['label']} "
            f"(affinity {edge['affinity']:+d}, trust {edge['trust']:+d} on a -100..100 scale)"
        )
        if edge["notes"]:
            line += f". {edge['notes']}"
        lines.append(line)
    return lines


def core_sections(
    conn: sqlite3.Connection,
    bot: dict[str, Any],
    chat_id: str,
    participants: list[str],
    user_name: str,
    recent_texts: list[str],
) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, text) sections of the system message before memories, and activated lore names."""
    scene = get_scene(conn, chat_id) or {"location": "", "present": []}
    present = list(dict.fromkeys(["you", *participants, *scene["present"]]))
    names = _names(conn, present, {"you": user_name})
    name = bot["name"]
    sections: list[tuple[str, str]] = [("persona", f"You are {name}. {bot['persona']}".strip())]
    if bot.get("traits"):
        sections.append(("traits", "Traits: " + ", ".join(bot["traits"])))
    if bot.get("backstory"):
        sections.append(("backstory", "Backstory: " + bot["backstory"]))
    if bot.get("scenario"):
        sections.append(("scenario", "Scenario: " + bot["scenario"]))
    relations = relationship_lines(conn, bot["id"], present, names)
    if relations:
        sections.append(("relationships", f"How {name} stands with others:\n" + "\n".join(relations)))
    scene_lines = []
    if scene["location"]:
        scene_lines.append(f"Location: {scene['location']}")
    others_present = [names[p] for p in present if p != bot["id"]]
    if others_present:
        scene_lines.append("Present: " + ", ".join(others_present))
    if scene_lines:
        sections.append(("scene", "Scene:\n" + "\n".join(scene_lines)))
    facts = list(list_facts(conn).items())[:MAX_WORLD_FACTS]
    if facts:
        sections.append(("world", "World:\n" + "\n".join(f"- {k}: {v}" for k, v in facts)))
    lore_entries = activate_lore(list(bot.get("lore") or []), recent_texts)
    if lore_entries:
        sections.append(("lore", "Lore:\n" + "\n".join(str(e.get("content", "")) for e in lore_entries)))
    samples = [s for s in bot.get("voice_samples") or [] if s.strip()][:MAX_VOICE_SAMPLES]
    if samples:
        sections.append(
            ("voice", f"How {name} talks (style examples, not things that happened):\n"
             + "\n".join(f"- {s.strip()}" for s in samples))
        )
    lore_names = [
        str(e.get("name") or e.get("comment") or (e.get("keys") or ["entry"])[0]) for e in lore_entries
    ]
    return sections, lore_names


def instruction(bot_name: str, user_name: str) -> str:
    return (
        f"Write {bot_name}'s next reply in the conversation, in character. Write only what "
        f"{bot_name} says and does; never write lines for {user_name} or anyone else, and do "
        "not start with a name."
    )


# What stays the same from turn to turn: the system message (§8.1.1). The rest is the note.
STABLE_SECTIONS = frozenset({"persona", "traits", "backstory", "scenario", "voice", "instruction"})
_DROP_ORDER = ("voice", "lore", "world", "scenario", "backstory", "relationships", "scene", "traits")


def build_prompt(
    conn: sqlite3.Connection,
    *,
    bot: dict[str, Any],
    chat: dict[str, Any],
    history: list[dict[str, Any]],
    memories: list[tuple[dict[str, Any], float]],
    user_name: str,
    count_tokens: CountTokens,
    context_length: int,
    reply_tokens: int,
    other_names: list[str],
    previous_start: int | None = None,
) -> Prompt:
    """Assemble the prompt for ``bot``'s reply to ``history`` within the token budget.

    Layout for prefix caching (§8.1.1): the system message holds only what stays the same
    from turn to turn (who the bot is, its voice, the instruction); what changes every
    turn (relationships, scene, world, lore, memories) is one note just before the newest
    message. ``previous_start`` is the event id of the first message the bot's previous
    prompt in this chat held: the transcript keeps starting there while it fits, and is
    then cut by a quarter of its room at once (`_step_cut`), so consecutive prompts share
    their prefix."""
    group = len(chat["bot_ids"]) > 1
    budget = context_length - reply_tokens - PROMPT_MARGIN
    recent_texts = [m["text"] for m in history[-LORE_WINDOW:]]
    sections, lore_names = core_sections(
        conn, bot, chat["id"], list(chat["bot_ids"]), user_name, recent_texts
    )
    rule = instruction(bot["name"], user_name)
    core = _fit_core(sections, rule, count_tokens, budget)
    core_cost = count_tokens("\n\n".join(text for _, text in core)) + MESSAGE_OVERHEAD

    names = {"you": user_name, **_names(conn, [m["author"] for m in history], {"you": user_name})}
    turns = [_as_message(m, bot["id"], names, group) for m in history]
    turn_costs: dict[int, int] = {}  # counted lazily, newest first: old ones may never be needed

    def cost_of(index: int) -> int:
        if index not in turn_costs:
            turn_costs[index] = count_tokens(turns[index].content) + MESSAGE_OVERHEAD
        return turn_costs[index]

    memory_lines = [f"- {m['text']}" for m, _ in memories]
    memory_costs = [count_tokens(line) + 1 for line in memory_lines]
    header_cost = count_tokens(f"What {bot['name']} remembers:") + 2 if memories else 0

    changing = [name for name, _ in core if name not in STABLE_SECTIONS]
    room = budget - core_cost - (MESSAGE_OVERHEAD if changing or memories else 0)
    needed_last = cost_of(len(turns) - 1) if turns else 0
    if needed_last > room:
        raise ValidationFailed(
            f"the latest message needs {needed_last} tokens but only {max(room, 0)} of the "
            f"model's {context_length} are left for it; shorten it or use a model with a larger "
            "context",
            field="text",
        )
    kept_memories = len(memory_lines)
    while kept_memories and header_cost + sum(memory_costs[:kept_memories]) + needed_last > room:
        kept_memories -= 1
    memory_cost = header_cost + sum(memory_costs[:kept_memories]) if kept_memories else 0
    room -= memory_cost
    first = len(turns)
    left = room
    for index in range(len(turns) - 1, -1, -1):
        if cost_of(index) > left:
            break
        left -= cost_of(index)
        first = index
    if previous_start is not None and turns:
        first = _step_cut(history, first, previous_start, cost_of, room)

    stable = [text for name, text in core if name in STABLE_SECTIONS]
    note_parts = [text for name, text in core if name not in STABLE_SECTIONS]
    if kept_memories:
        note_parts.append(f"What {bot['name']} remembers:\n" + "\n".join(memory_lines[:kept_memories]))
    system = ChatMessage("system", "\n\n".join(stable))
    kept_turns = turns[first:]
    messages = [system, *kept_turns]
    token_count = count_tokens(system.content) + MESSAGE_OVERHEAD + sum(
        cost_of(index) for index in range(first, len(turns))
    )
    if note_parts:
        note = ChatMessage("system", "\n\n".join(note_parts))
        messages.insert(len(messages) - 1 if kept_turns else len(messages), note)
        token_count += count_tokens(note.content) + MESSAGE_OVERHEAD
    return Prompt(
        messages=messages,
        memory_ids=[m["id"] for m, _ in memories[:kept_memories]],
        lore=lore_names if any(name == "lore" for name, _ in core) else [],
        token_count=token_count,
        stop=stop_sequences(user_name, other_names),
        dropped_messages=first,
        dropped_memories=len(memory_lines) - kept_memories,
        sections=[name for name, _ in core],
    )


def _step_cut(
    history: list[dict[str, Any]],
    fitting: int,
    previous_start: int,
    cost_of: Callable[[int], int],
    room: int,
) -> int:
    """Where the transcript starts: where the previous prompt's did while that still fits
    (``fitting`` is the oldest message that does), else a quarter of the room further on,
    so the next turns grow into it instead of dropping a message each (§8.1.1)."""
    anchor = next((i for i, m in enumerate(history) if m.get("event_id", 0) >= previous_start), None)
    # The old start scrolled out of the messages read (HISTORY_LIMIT): cut anew, or the
    # start would move by a message every turn.
    gone = anchor is None or (anchor == 0 and history[0].get("event_id") != previous_start)
    if not gone and anchor >= fitting:
        return anchor
    total = sum(cost_of(i) for i in range(fitting, len(history)))
    target = min(room, total) * 3 // 4
    first = fitting
    while first < len(history) - 1 and total > target:
        total -= cost_of(first)
        first += 1
    return first


def _as_message(
    message: dict[str, Any], bot_id: str, names: dict[str, str], group: bool
) -> ChatMessage:
    if message["author"] == bot_id:
        return ChatMessage("assistant", message["text"])
    if group or message["author"] != "you":
        return ChatMessage("user", f"{names.get(message['author'], message['author'])}: {message['text']}")
    return ChatMessage("user", message["text"])


def _fit_core(
    sections: list[tuple[str, str]], rule: str, count_tokens: CountTokens, budget: int
) -> list[tuple[str, str]]:
    """The sections plus the instruction, dropping the least needed while they do not fit."""
    core = [*sections, ("instruction", rule)]

    def cost(parts: list[tuple[str, str]]) -> int:
        return count_tokens("\n\n".join(text for _, text in parts)) + MESSAGE_OVERHEAD

    room = budget // 2  # the character sheet never takes more than half the context
    for name in _DROP_ORDER:
        if cost(core) <= room:
            return core
        core = [part for part in core if part[0] != name]
    if cost(core) > room:
        persona = core[0][1]
        keep = max(int(len(persona) * room / max(cost(core), 1)) - 1, 0)
        cut = persona[:keep].rsplit(" ", 1)[0] if " " in persona[:keep] else persona[:keep]
        core[0] = ("persona", cut + " …")
    return core
