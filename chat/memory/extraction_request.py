"""The one extraction question (§5.5): what did this exchange change in the world?

Kept apart from the checks in ``extraction`` that trust none of the answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chat.eventlog.schemas import ENTITY_KINDS
from chat.llm.schemas import ExtractionProposal
from chat.llm.types import ChatMessage, JsonRequest
from chat.state.worlds import chat_world

MAX_KNOWN_ENTITIES = 60


def newest_entities(conn: sqlite3.Connection, world_id: str, count: int) -> list[tuple[str, str, str]]:
    """(id, name, kind) of the last ``count`` entities of ``world_id`` in `entity_names`'
    order (first event, then id: one entity a row), oldest first; read from the end, not
    all of them read and the rest dropped (0.25 ms a turn at 200 entities)."""
    rows = conn.execute(
        "SELECT id, name, kind FROM entities WHERE world_id = ? ORDER BY first_event_id DESC, id DESC LIMIT ?",
        (world_id, count),
    ).fetchall()
    return rows[::-1]


TEMPLATE_SPARE = 48
"""Tokens left over for the chat template's role markers and a counting slip."""
CUT = " … "


def fit_to_context(request: JsonRequest, count: Callable[[str], int], context: int) -> JsonRequest:
    """``request`` with the exchange's longest lines shortened, keeping their start and
    end, until the prompt and the answer's ``max_tokens`` fit ``context``. A message may
    fill most of the reply's context (the post-time check, `chat.turns.message_fit`, lets
    it), and extraction's instructions and known entities come on top: sent whole, the
    model refuses the prompt and the turn's memories are lost. Unchanged when it fits."""
    system, user = request.messages[0].content, request.messages[1].content
    room = context - request.max_tokens - count(system) - TEMPLATE_SPARE
    lines = user.split("\n")
    for _ in range(8):
        over = count("\n".join(lines)) - room
        if over <= 0 or room <= 0:
            break
        longest = max(range(len(lines)), key=lambda i: len(lines[i]))
        line = lines[longest]
        keep = max(0, int(len(line) * (1 - over / max(1, count(line))) * 0.95) - len(CUT))
        lines[longest] = line[: keep * 2 // 3] + CUT + line[len(line) - keep // 3 :] if keep else ""
    if lines == user.split("\n"):
        return request
    return replace(request, messages=[request.messages[0], ChatMessage("user", "\n".join(lines))])


def extraction_request(
    conn: sqlite3.Connection,
    *,
    chat_id: str,
    bots: list[dict[str, Any]],
    user_name: str,
    user_text: str,
    replies: list[tuple[dict[str, Any], str]],
) -> JsonRequest:
    """The prompt asking the model what this exchange changed in the world."""
    known = newest_entities(conn, chat_world(conn, chat_id) or "default", MAX_KNOWN_ENTITIES)
    entity_lines = "\n".join(f"- {eid}: {name} ({kind})" for eid, name, kind in known)
    bot_lines = ", ".join(f"{b['id']} ({b['name']})" for b in bots)
    exchange = [f"{user_name}: {user_text}"] + [f"{bot['name']}: {text}" for bot, text in replies]
    system = (
        "You keep the world state of a story consistent. Read the exchange and answer with one "
        "JSON object with the keys entities, edges, memories, world and scene:\n"
        "- entities: new or changed people, places, things ({id, kind, name, description, "
        f"aliases, facts}}); kind is one of {', '.join(ENTITY_KINDS)}.\n"
        "- edges: how one entity's feelings toward another changed ({src, dst, label, "
        "affinity_delta, trust_delta, notes}); deltas are small whole numbers from -10 to 10.\n"
        "- memories: what each bot will remember ({owner, text, kind, importance 1-10, about}).\n"
        "- world: facts that changed ({key, value}); scene: {location, present}.\n"
        f"Use these ids. The user is 'you'. Bots: {bot_lines}.\nKnown entities:\n{entity_lines}\n"
        "Leave a list empty when nothing changed."
    )
    return JsonRequest(
        messages=[ChatMessage("system", system), ChatMessage("user", "\n".join(exchange))],
        schema=ExtractionProposal,
        purpose="extraction",
        context={
            "bot_ids": [b["id"] for b in bots],
            "bot_names": {b["id"]: b["name"] for b in bots},
            "user_text": user_text,
            "chat_id": chat_id,
            "user_name": user_name,
        },
    )
