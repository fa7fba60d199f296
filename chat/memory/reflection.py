"""Reflection (§5.6, after Generative Agents): a bot draws conclusions from its memories.

When the importance of a bot's memories since its last reflection adds up past
``settings.reflection_threshold``, one `complete_json` call writes 1–3 memories
of kind ``reflection``, and ``reflection_recorded`` resets the count. Like
extraction, the proposal is checked and clamped before anything is appended.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import NewEvent
from chat.llm.schemas import ReflectionProposal
from chat.llm.types import ChatMessage, JsonRequest
from chat.state.entities import get_entity
from chat.state.memory import importance_since_reflection
from chat.state.worlds import chat_world
from chat.world.ids import new_id
from chat.world.slugs import slugify

MAX_REFLECTIONS = 3
SOURCE_MEMORIES = 30


def needs_reflection(
    conn: sqlite3.Connection,
    bot_id: str,
    *,
    threshold: int,
    pending: int = 0,
    world_id: str = "default",
) -> bool:
    """True when the bot's importance since its last reflection in ``world_id`` (plus
    ``pending``) passes it. A bot reflects per world: its memories are per world (§3.5)."""
    return importance_since_reflection(conn, bot_id, world_id=world_id) + pending > threshold


def source_memories(conn: sqlite3.Connection, bot_id: str, *, world_id: str = "default") -> list[str]:
    """The texts of the bot's latest non-reflection memories in ``world_id`` since its last
    reflection there."""
    row = conn.execute(
        "SELECT last_reflection_event_id FROM reflection_state WHERE world_id = ? AND bot_id = ?",
        (world_id, bot_id),
    ).fetchone()
    since = int(row[0]) if row else 0
    rows = conn.execute(
        "SELECT text FROM memories WHERE world_id = ? AND owner = ? AND kind != 'reflection'"
        " AND event_id > ? ORDER BY event_id DESC LIMIT ?",
        (world_id, bot_id, since, SOURCE_MEMORIES),
    ).fetchall()
    return [r[0] for r in reversed(rows)]


def reflection_request(bot: dict[str, Any], memories: list[str]) -> JsonRequest:
    listing = "\n".join(f"- {text}" for text in memories)
    system = (
        f"You are {bot['name']}. {bot.get('persona', '')}\n"
        "Given your recent memories, write 1 to 3 short, high-level insights about yourself, the "
        "people you know and what is going on. Answer with JSON: {\"reflections\": [{\"text\", "
        "\"importance\" 1-10, \"about\": [entity ids]}]}."
    )
    return JsonRequest(
        messages=[ChatMessage("system", system), ChatMessage("user", "Recent memories:\n" + listing)],
        schema=ReflectionProposal,
        purpose="reflection",
        context={"bot_id": bot["id"], "memories": memories},
    )


def reflection_events(
    conn: sqlite3.Connection,
    proposal: ReflectionProposal,
    *,
    bot_id: str,
    chat_id: str,
    turn_id: str,
    known: set[str] | frozenset[str] = frozenset(),
) -> list[NewEvent]:
    """1–3 reflection memories (clamped) and the ``reflection_recorded`` that resets the count.

    ``known`` are entity ids about to be added in the same commit (``about`` may name them).
    """
    events: list[NewEvent] = []
    ids: list[str] = []
    world_id = chat_world(conn, chat_id) or "default"
    for item in proposal.reflections:
        text = " ".join(item.text.split())[:4000]
        if not text:
            continue
        about = []
        for raw in item.about:
            entity_id = "you" if str(raw).lower() in ("you", "user") else slugify(str(raw))
            exists = entity_id in known or get_entity(conn, entity_id, world_id=world_id) is not None
            if entity_id not in about and exists:
                about.append(entity_id)
        memory_id = new_id("mem")
        ids.append(memory_id)
        payload = {
            "id": memory_id,
            "owner": bot_id,
            "text": text,
            "kind": "reflection",
            "importance": max(1, min(10, int(item.importance))),
            "about": about[:30],
            "world_id": world_id,
        }
        events.append(NewEvent("memory_added", payload, chat_id=chat_id, turn_id=turn_id, actor="model"))
        if len(ids) == MAX_REFLECTIONS:
            break
    events.append(
        NewEvent(
            "reflection_recorded",
            {"bot_id": bot_id, "memory_ids": ids, "world_id": world_id},
            chat_id=chat_id,
            turn_id=turn_id,
            actor="model",
        )
    )
    return events
