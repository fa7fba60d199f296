"""What a regenerate must not recall: the reply it replaces and every alternative of it.

A regenerate writes the reply anew from what came before it; the model is not to see the
text it is redoing (§4.9). That text is out of the prompt's transcript, but it was also
remembered: each alternative's witnessed observation (§5.3.1) and whatever extraction (or
reflection) drew from it when its turn ended. Only that is left out: the same turn's user
message and the other bots' replies stand, so their observations, and what was drawn from
them, are still recalled.

Extraction answers for the whole exchange, so which message one of its memories came from
is read from the memory's words, deterministically and with any model: a memory counts as
drawn from the replaced reply unless another message of its turn shares strictly more of
its words than every alternative does. A tie, or a memory that shares words with no
message (a feeling, a reflection), is left out: recalling what is being redone is the
worse mistake. Everything is found through indexes (messages by alternative group and by
turn, events by turn, memories by event), never by reading the bot's memories one by one.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]{3,}")
_COMMON = frozenset((
    "the", "and", "you", "your", "for", "are", "was", "were", "that", "this", "with", "have",
    "has", "had", "not", "but", "what", "who", "said", "says", "she", "her", "him", "his",
    "they", "them", "their", "its", "our", "out", "all", "can", "will", "would", "there",
    "then", "than", "from",
))  # fmt: skip


@dataclass(frozen=True)
class Replaced:
    """The messages of the alternative group being redone, and the memory ids of one bot
    that were drawn from them."""

    message_ids: frozenset[str]
    memory_ids: frozenset[str]


NOTHING = Replaced(frozenset(), frozenset())


def words(text: str) -> frozenset[str]:
    """The words of ``text`` that can say where a memory came from (3+ letters, lower
    case, the commonest left out)."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _COMMON)


def drawn_from_replaced(memory: str, replaced: list[str], others: list[str]) -> bool:
    """Whether a memory with text ``memory`` counts as drawn from the replaced texts: no
    other message of its turn shares strictly more of its words than the best of them."""
    said = words(memory)
    mine = max((len(said & words(t)) for t in replaced), default=0)
    return not any(len(said & words(t)) > mine for t in others)


def replaced_sources(conn: sqlite3.Connection, group: str, owner: str, world_id: str) -> Replaced:
    """The messages of ``group`` and the memories of ``owner`` in ``world_id`` drawn from
    them by the turns that wrote them (observations of them are found by message id)."""
    rows = conn.execute(
        "SELECT id, turn_id, text FROM messages WHERE alt_group = ?", (group,)
    ).fetchall()
    ids = frozenset(mid for mid, _, _ in rows)
    turns = sorted({turn for _, turn, _ in rows if turn})
    if not turns:
        return Replaced(ids, frozenset())
    memories = conn.execute(
        "SELECT m.id, m.text FROM memories m WHERE m.world_id = ? AND m.owner = ?"
        " AND m.message_id IS NULL AND m.event_id IN"
        " (SELECT e.id FROM events e WHERE e.turn_id IN (SELECT value FROM json_each(?)))",
        (world_id, owner, json.dumps(turns)),
    ).fetchall()
    if not memories:
        return Replaced(ids, frozenset())
    others = [
        text
        for (text,) in conn.execute(
            "SELECT text FROM messages WHERE turn_id IN (SELECT value FROM json_each(?))"
            " AND (alt_group IS NULL OR alt_group != ?) AND deleted = 0",
            (json.dumps(turns), group),
        )
    ]
    replaced = [text for _, _, text in rows]
    return Replaced(
        ids, frozenset(mid for mid, text in memories if drawn_from_replaced(text, replaced, others))
    )
