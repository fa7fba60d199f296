"""How a compact prompt record (§8.4) is made, against the slower ways it was made before:
a new record's items as runs of the previous record's (the cheap identity of message
references, `_identity`, finds exactly the items their sorted JSON finds), and the
quoted memories' references read in one query."""

from __future__ import annotations

import json
import random
import sqlite3
from typing import Any

from chat.turns.prompt_record import _identity, _runs
from chat.turns.record_quotes import quote_refs


def runs_by_json(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Any]:
    """`_runs` as it was, every item known by its JSON with sorted keys."""
    where: dict[str, int] = {}
    for index, item in enumerate(old):
        where.setdefault(json.dumps(item, sort_keys=True), index)
    ops: list[Any] = []
    for item in new:
        last = ops[-1] if ops and isinstance(ops[-1], list) else None
        if last is not None and last[0] + last[1] < len(old) and old[last[0] + last[1]] == item:
            last[1] += 1
            continue
        found = where.get(json.dumps(item, sort_keys=True))
        ops.append([found, 1] if found is not None else item)
    return ops


def an_item(rnd: random.Random) -> dict[str, Any]:
    """References and look-alikes: ``e`` as 1, 1.0 or True, ``p`` absent or empty, an
    extra key, segments."""
    kind = rnd.randrange(6)
    role = rnd.choice(["user", "assistant"])
    if kind == 0:
        return {"r": role, "s": [rnd.choice(["note", "scene"]), rnd.randrange(3)]}
    item: dict[str, Any] = {"r": role, "e": rnd.choice([1, 2, 1.0, True, "1"]) if kind == 1 else rnd.randrange(1, 4)}
    if kind in (2, 3):
        item["p"] = rnd.choice(["", "Mara: ", "You: "])
    if kind == 4:
        item["x"] = 1
    return item


def test_runs_find_the_items_their_json_finds() -> None:
    rnd = random.Random(7)
    for _ in range(400):
        old = [an_item(rnd) for _ in range(rnd.randrange(0, 12))]
        new = [an_item(rnd) for _ in range(rnd.randrange(0, 12))]
        if old and rnd.random() < 0.5:  # a shifted transcript, as turn after turn
            new = old[rnd.randrange(len(old)) :] + new
        assert json.dumps(_runs(old, new)) == json.dumps(runs_by_json(old, new))


def test_a_reference_is_known_by_its_values_and_a_look_alike_by_its_json() -> None:
    assert _identity({"r": "user", "e": 3}) == _identity({"e": 3, "r": "user"})
    assert _identity({"r": "user", "e": 3}) != _identity({"r": "user", "e": 3, "p": ""})
    assert _identity({"r": "user", "e": 1}) != _identity({"r": "user", "e": True})
    assert _identity({"r": "user", "e": 1}) != _identity({"r": "user", "e": 1.0})
    assert isinstance(_identity({"r": "user", "e": 1, "x": 1}), str)


def quote_refs_one_by_one(conn: sqlite3.Connection, quoted: list[dict[str, Any]]) -> list[tuple[Any, str]]:
    """`quote_refs` as it was: each memory's event read and parsed whole."""
    refs: list[tuple[Any, str]] = []
    for memory in quoted:
        text, event_id = memory.get("text"), memory.get("event_id")
        if not isinstance(text, str) or len(text) < 16:
            continue
        if event_id is None:
            row = conn.execute("SELECT event_id FROM memories WHERE id = ?", (memory.get("id"),)).fetchone()
            event_id = row[0] if row else None
        row = conn.execute("SELECT payload FROM events WHERE id = ?", (int(event_id),)).fetchone() if event_id is not None else None
        source = json.loads(row[0]) if row else None
        said = source.get("text") if source is not None else None
        if not isinstance(said, str):
            continue
        named = source.get("id") in (memory.get("id"), memory.get("chapter_id")) if source else False
        if source is not None and named and said == text:
            refs.append((int(event_id), text))
        elif source is not None and source.get("id") == memory.get("message_id") and said and text.endswith(said):
            refs.append(({"e": int(event_id), "p": text[: len(text) - len(said)]}, text))
    return refs


def test_quoted_memories_read_at_once_are_the_references_read_one_by_one(conn: sqlite3.Connection) -> None:
    """Payloads whose ``id`` is a string, a number, true, null, an object or absent, and
    whose ``text`` is a string or not; memories named by event id or by their row."""
    rnd = random.Random(3)
    texts = ["The Heron sailed past the Teeth at dawn.", "Mara: The Heron sailed past the Teeth at dawn.", "short"]
    ids: list[Any] = ["m1", "m2", "ch1", 7, True, None, {"a": 1}, ["m1"]]
    events = []
    for _ in range(40):
        payload: dict[str, Any] = {"text": rnd.choice([*texts, 5, None, {"t": 1}])}
        if rnd.random() < 0.8:
            payload["id"] = rnd.choice(ids)
        cursor = conn.execute(
            "INSERT INTO events (kind, payload, created_at) VALUES ('memory_added', ?, '')", (json.dumps(payload),)
        )
        events.append(cursor.lastrowid)
    for n, event_id in enumerate(events[:10]):
        conn.execute(
            "INSERT INTO memories (id, owner, text, kind, importance, about, event_id, created_at,"
            " last_retrieved_at) VALUES (?, 'mara', 'x', 'fact', 1, '', ?, '', '')",
            (f"row{n}", event_id),
        )
    found: list[Any] = []
    for _ in range(60):
        quoted = []
        for _ in range(rnd.randrange(0, 12)):
            memory: dict[str, Any] = {"id": rnd.choice(["m1", "m2", "row1", "row3", "row9"]), "text": rnd.choice(texts)}
            if rnd.random() < 0.7:
                memory["event_id"] = rnd.choice([*events, 10**6])
            for key in ("chapter_id", "message_id"):
                if rnd.random() < 0.4:
                    memory[key] = rnd.choice(["ch1", "m1", "m2"])
            quoted.append(memory)
        refs = quote_refs(conn, quoted)
        assert refs == quote_refs_one_by_one(conn, quoted)
        found += refs
    assert any(isinstance(s, int) for s, _ in found) and any(isinstance(s, dict) for s, _ in found)
