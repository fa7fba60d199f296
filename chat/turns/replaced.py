"""What a regenerate must not recall: the reply it replaces and every alternative of it.

A regenerate writes the reply anew from what came before it; the model is not to see the
text it is redoing (§4.9). That text is out of the prompt's transcript, but it was also
remembered: each alternative's witnessed observation (§5.3.1) and whatever extraction (or
reflection) drew from the turns that wrote the alternatives.

Observations name their message, so only the replaced alternatives' are left out: the
same turn's user message and the other bots' replies stand and are still recalled.
Extraction answers for the whole exchange and does not say which message a memory came
from, and no reading of its words can: "Ada agreed to come to the party" shares no word
with the reply "Yes! I would love to." So every memory extraction added to the bot in
those turns is left out, as recalling what is being redone is the worse mistake. Both
are found through indexes (messages by alternative group, events by turn, memories by
owner and event), never by reading the bot's memories one by one.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Replaced:
    """The messages of the alternative group being redone, and the memory ids of one bot
    that extraction or reflection added in the turns which wrote them."""

    message_ids: frozenset[str]
    memory_ids: frozenset[str]


NOTHING = Replaced(frozenset(), frozenset())


def replaced_sources(conn: sqlite3.Connection, group: str, owner: str, world_id: str) -> Replaced:
    """The messages of ``group`` and the memories of ``owner`` in ``world_id`` that the
    turns which wrote them added, less the observations of other messages (those are
    found by message id, and stand)."""
    rows = conn.execute("SELECT id, turn_id FROM messages WHERE alt_group = ?", (group,)).fetchall()
    turns = sorted({turn for _, turn in rows if turn})
    memories = conn.execute(
        "SELECT m.id FROM memories m WHERE m.world_id = ? AND m.owner = ?"
        " AND m.message_id IS NULL AND m.event_id IN"
        " (SELECT e.id FROM events e WHERE e.turn_id IN (SELECT value FROM json_each(?)))",
        (world_id, owner, json.dumps(turns)),
    ).fetchall() if turns else []  # fmt: skip
    return Replaced(frozenset(mid for mid, _ in rows), frozenset(mid for (mid,) in memories))
