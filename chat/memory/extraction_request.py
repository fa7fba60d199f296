"""The one extraction question (§5.5): what did this exchange change in the world?

Kept apart from the checks in ``extraction`` that trust none of the answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
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
ANSWER_TOKENS = JsonRequest.__dataclass_fields__["max_tokens"].default
"""The answer's room, as the request asks for it."""


@dataclass(frozen=True)
class Fit:
    """How to fit the question to the model: its tokenizer and context length."""

    count: Callable[[str], int]
    context: int


def fit_exchange(prefixes: list[str], texts: list[str], room: int, count: Callable[[str], int]) -> list[str]:
    """``texts`` (each said after its ``prefixes`` entry, "Name: ") shortened, longest
    first, keeping their start and end, until the exchange takes at most ``room`` tokens.
    A message may fill most of a reply's context (the post-time check,
    `chat.turns.message_fit`, lets it) and extraction's instructions come on top: sent
    whole, the model refuses the prompt and the turn's memories are lost. Each pass
    shrinks the longest text by a tenth at least, so it ends; the names stay. When even
    "…" for every text does not fit (a tiny context), the shortest it got is returned."""
    texts = list(texts)

    def over() -> int:
        return count("\n".join(p + t for p, t in zip(prefixes, texts, strict=True))) - room

    excess = over()
    while excess > 0:
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        text = texts[longest]
        if len(text) <= len(CUT):
            break
        estimate = int(len(text) * (1 - excess / max(1, count(text))) * 0.95)
        keep = max(0, min(estimate, int(len(text) * 0.9)) - len(CUT))
        texts[longest] = (text[: keep * 2 // 3] + CUT + text[len(text) - keep // 3 :]).strip()
        excess = over()
    return texts


def extraction_request(
    conn: sqlite3.Connection,
    *,
    chat_id: str,
    bots: list[dict[str, Any]],
    user_name: str,
    user_text: str,
    replies: list[tuple[dict[str, Any], str]],
    fit: Fit | None = None,
) -> JsonRequest:
    """The prompt asking the model what this exchange changed in the world; with ``fit``,
    its exchange shortened so the prompt and the answer fit the model's context."""
    known = newest_entities(conn, chat_world(conn, chat_id) or "default", MAX_KNOWN_ENTITIES)
    entity_lines = "\n".join(f"- {eid}: {name} ({kind})" for eid, name, kind in known)
    bot_lines = ", ".join(f"{b['id']} ({b['name']})" for b in bots)
    prefixes = [f"{user_name}: "] + [f"{bot['name']}: " for bot, _ in replies]
    texts = [user_text] + [text for _, text in replies]
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
    if fit is not None:
        room = fit.context - ANSWER_TOKENS - fit.count(system) - TEMPLATE_SPARE
        size = sum(len(p.encode()) + len(t.encode()) + 1 for p, t in zip(prefixes, texts, strict=True))
        if size > room:  # a token is a byte or more: an everyday exchange is not counted
            texts = fit_exchange(prefixes, texts, room, fit.count)
    exchange = "\n".join(p + t for p, t in zip(prefixes, texts, strict=True))
    return JsonRequest(
        messages=[ChatMessage("system", system), ChatMessage("user", exchange)],
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
