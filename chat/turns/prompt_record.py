"""Compact prompt records (§8.4): what a reply was generated from, without a copy per reply.

A reply prompt is a system message and then the other messages (voice samples, chapters,
transcript, the note, the card's inserts; chat/turns/prompt_layout.py). The record keeps:

* each transcript message as a reference to its ``message_posted`` event (immutable in
  the log, so later edits, renames or rewinds never change what is rebuilt), plus the
  name prefix the prompt put before it; a message already edited when the prompt was
  built is kept inline (its posted text is not what was sent);
* every other message inline as segments (``s``): text; the event id of a
  ``memory_added`` whose text the prompt quotes as stored (chapters, the note's
  memories); or ``[k]``, the k-th text segment of the previous record's items (the
  note's relationships, scene and world facts, the card's post-history instructions:
  the same turn after turn);
* against the previous record of the same bot in the same chat, only the runs of items
  the two share (``[start, count]``) and the new items (``tx2``; records of format 1 hold
  one run, ``tx``, or the whole list, ``transcript``);
* the system message as a difference from the previous record: the shared head and tail
  lengths and the text between them. Every ``KEYFRAME`` records in a chain one keeps the
  whole, so a rebuild reads at most that many records;
* from format 3, the chapter ids as a difference from the previous record's too
  (chat/turns/record_chapters.py); and fields at their defaults (no ``messages``, no
  ``memory_ids``, no ``lore``, purpose ``reply``) are left out (`record_view` shows them).

``expand`` rebuilds the exact messages; ``compact_record`` checks that before it
returns (falling back to the whole messages if the rebuild would differ), so a record
always gives back byte for byte what was sent. Old records with ``messages`` show as
they are.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.recalled import recalled_ids
from chat.turns.record_cache import Memo, keep, older_texts, parsed
from chat.turns.record_chapters import chapter_ids, difference
from chat.turns.record_quotes import quote_refs, segments

FORMAT = 3
KEYFRAME = 64
_LOOKBACK = 40  # prompt records of the chat searched for the bot's previous one


def _payload(conn: sqlite3.Connection, event_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else json.loads(row[0])


def _previous(
    conn: sqlite3.Connection, chat_id: str, bot_id: str, memo: Memo
) -> tuple[int, dict] | None:
    rows = conn.execute(  # read one by one: the newest is usually the bot's
        "SELECT id, payload FROM events WHERE chat_id = ? AND kind = 'prompt_recorded'"
        " ORDER BY id DESC LIMIT ?",
        (chat_id, _LOOKBACK),
    )
    for event_id, text in rows:
        payload = parsed(conn, int(event_id), text, memo)
        if payload.get("bot_id") == bot_id and payload.get("purpose", "reply") == "reply":
            return int(event_id), payload
    return None


def _system_of(conn: sqlite3.Connection, event_id: int, payload: dict[str, Any], memo: Memo) -> str:
    if ("s", event_id) not in memo:
        memo[("s", event_id)] = system_text(conn, payload, memo)
    return memo[("s", event_id)]


def _items_of(conn: sqlite3.Connection, event_id: int, payload: dict[str, Any], memo: Memo) -> list[dict[str, Any]]:
    if ("t", event_id) not in memo:
        memo[("t", event_id)] = transcript_items(conn, payload, memo)
    return memo[("t", event_id)]


def _base(conn: sqlite3.Connection, event_id: int, memo: Memo | None) -> dict[str, Any] | None:
    if memo is None:
        return _payload(conn, event_id)
    if ("p", event_id) not in memo:
        row = conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            memo[("p", event_id)] = None
        else:
            parsed(conn, event_id, row[0], memo)
    return memo[("p", event_id)]


def system_text(conn: sqlite3.Connection, payload: dict[str, Any], memo: Memo | None = None) -> str:
    """The system message a record holds, following its chain of differences."""
    compact = payload.get("compact")
    if not compact:
        messages = payload.get("messages") or []
        return messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    system = compact["system"]
    if "base" not in system:
        return system["text"]
    base_id = int(system["base"])
    base = _base(conn, base_id, memo)
    if base is None:
        raise ValueError(f"prompt record base event {system['base']} is missing")
    previous = system_text(conn, base) if memo is None else _system_of(conn, base_id, base, memo)
    tail = previous[len(previous) - system["tail"] :] if system["tail"] else ""
    return previous[: system["head"]] + system["text"] + tail


def transcript_items(
    conn: sqlite3.Connection, payload: dict[str, Any], memo: Memo | None = None
) -> list[dict[str, Any]]:
    """The items after the system message of a compact record, following its chain of
    differences; text segments that name the previous record's (``[k]``) are resolved."""
    compact = payload["compact"]
    if "transcript" in compact:  # a keyframe, or the first record after a whole one
        return list(compact["transcript"])
    base_id = int(compact["system"]["base"])
    base = _base(conn, base_id, memo)
    if base is None or not base.get("compact"):
        raise ValueError("a transcript difference needs a compact base record")
    old = transcript_items(conn, base) if memo is None else _items_of(conn, base_id, base, memo)
    if "tx" in compact:  # format 1: one run of the base's items, then the new ones
        delta = compact["tx"]
        return old[delta["skip"] : delta["skip"] + delta["take"]] + list(delta["add"])
    pool = _texts(old)
    out: list[dict[str, Any]] = []
    for op in compact["tx2"]:
        out.extend(old[op[0] : op[0] + op[1]] if isinstance(op, list) else [_resolved(op, pool)])
    return out


def _texts(items: list[dict[str, Any]]) -> list[str]:
    """The text segments of ``items`` in order: what ``[k]`` names."""
    return [part for item in items for part in item.get("s", ()) if isinstance(part, str)]


def _resolved(item: dict[str, Any], pool: list[str]) -> dict[str, Any]:
    if "s" not in item:
        return item
    return {**item, "s": [pool[int(part[0])] if isinstance(part, list) else part for part in item["s"]]}


def _pooled(item: dict[str, Any], pool: dict[str, int]) -> dict[str, Any]:
    """``item`` with each longer text segment that the previous record holds named by index."""
    if "s" not in item:
        return item
    return {**item, "s": [[pool[p]] if isinstance(p, str) and len(p) > 8 and p in pool else p for p in item["s"]]}


def _runs(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Any]:
    """``new`` as runs of ``old`` (``[start, count]``) and the items ``old`` lacks."""
    where: dict[Any, int] = {}
    for index, item in enumerate(old):
        where.setdefault(_identity(item), index)
    ops: list[Any] = []
    for item in new:
        last = ops[-1] if ops and isinstance(ops[-1], list) else None
        if last is not None and last[0] + last[1] < len(old) and old[last[0] + last[1]] == item:
            last[1] += 1
            continue
        found = where.get(_identity(item))
        ops.append([found, 1] if found is not None else item)
    return ops


_REFERENCE_KEYS = frozenset(("r", "e", "p"))


def _identity(item: dict[str, Any]) -> Any:
    """What says two items are the same item: their JSON with sorted keys, or for a
    message reference (``r``, ``e``, maybe ``p``: a str, an int, a str) the tuple of its
    values, which two such items share exactly when their JSON is the same (the types
    are checked exactly, so 1.0 or True never passes for 1), and never equals a JSON
    string. A transcript is mostly references: ~250 ``json.dumps`` a record cost 0.5 ms."""
    if item.keys() <= _REFERENCE_KEYS:
        r, e, p = item.get("r"), item.get("e"), item.get("p", "")
        if type(r) is str and type(e) is int and type(p) is str:
            return (r, e, p, "p" in item)
    return json.dumps(item, sort_keys=True)


def _difference(old: str, new: str) -> tuple[int, int, str]:
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return head, tail, new[head : len(new) - tail]


def compact_record(
    conn: sqlite3.Connection,
    record: dict[str, Any],
    *,
    chat_id: str,
    history: list[dict[str, Any]],
    quoted: list[dict[str, Any]] | None = None,
    ids_in_message: bool = False,
) -> dict[str, Any]:
    """``record`` (with whole ``messages``) made compact; ``history`` are the transcript
    messages the prompt's non-system messages were built from, in order; ``quoted`` the
    memory rows whose texts the prompt quotes (`Prompt.quoted`: chapters, memories).
    ``ids_in_message``: the reply's ``message_posted`` holds the same memory ids as
    ``retrieved_memory_ids``, so the record leaves them out (`record_view` reads them)."""
    messages = record["messages"]
    said = [m for m in messages[1:] if m["role"] != "system"]
    literal = len(said) - len(history)  # the voice samples sent as chat turns come first
    if not messages or messages[0]["role"] != "system" or literal < 0:
        return record
    refs = quote_refs(conn, quoted or [])
    items: list[dict[str, Any]] = []
    sources = iter(history)
    for sent in messages[1:]:
        if sent["role"] == "system" or literal > 0:
            literal -= sent["role"] != "system"
            items.append({"r": sent["role"], "s": segments(sent["content"], refs)})
            continue
        source = next(sources)
        text, content = source["text"], sent["content"]
        if source.get("edited") or not source.get("event_id") or not content.endswith(text):
            items.append({"r": sent["role"], "s": [content]})
        else:
            prefix = content[: len(content) - len(text)]
            items.append({"r": sent["role"], "e": source["event_id"], **({"p": prefix} if prefix else {})})
    system = messages[0]["content"]
    compact: dict[str, Any] = {"v": FORMAT, "system": {"text": system}, "depth": 0, "transcript": items}
    memo: Memo = {}
    previous = _previous(conn, chat_id, record["bot_id"], memo)
    if previous is not None:
        base_id, base = previous
        depth = int((base.get("compact") or {}).get("depth", 0)) + 1
        if base.get("compact") is None or depth < KEYFRAME:
            head, tail, middle = _difference(_system_of(conn, base_id, base, memo), system)
            compact["system"] = {"base": base_id, "head": head, "tail": tail, "text": middle}
            compact["depth"] = depth if base.get("compact") is not None else 1
            if base.get("compact") is not None:
                old = _items_of(conn, base_id, base, memo)
                pool = {text: index for index, text in reversed(list(enumerate(_texts(old))))}
                del compact["transcript"]
                compact["tx2"] = [op if isinstance(op, list) else _pooled(op, pool) for op in _runs(old, items)]
    candidate = {**record, "messages": [], "compact": compact}
    if ids_in_message and record.get("message_id") and record.get("memory_ids"):
        candidate["memory_ids"] = []
        compact["ids"] = "message"
    try:
        chapters = list(record.get("chapter_ids") or [])
        if "base" in compact["system"]:  # the chapter ids as a difference from the base's
            base_id = int(compact["system"]["base"])
            ops = difference(_chapters_of(conn, base_id, memo), chapters)
            candidate.pop("chapter_ids", None)
            if ops is not None:
                compact["ch"] = ops
        if expand(conn, candidate, memo) == messages and _chapter_ids(conn, candidate, memo) == chapters:
            keep(memo)
            return candidate
    except (ValueError, KeyError, TypeError, IndexError):
        pass
    return record


def _chapters_of(conn: sqlite3.Connection, event_id: int, memo: Memo) -> tuple[str, ...]:
    """The chapter ids of the record ``event_id``, kept in ``memo`` (``("c", id)``)."""
    if ("c", event_id) not in memo:
        base = _base(conn, event_id, memo)
        if base is None:
            raise ValueError(f"prompt record base event {event_id} is missing")
        memo[("c", event_id)] = tuple(_chapter_ids(conn, base, memo))
    return memo[("c", event_id)]


def _chapter_ids(conn: sqlite3.Connection, payload: dict[str, Any], memo: Memo | None = None) -> list[str]:
    """The exact chapter ids of a record, whatever its format."""
    memo = {} if memo is None else memo
    return chapter_ids(payload, lambda event_id: _base(conn, event_id, memo), memo)


def previous_start(conn: sqlite3.Connection, chat_id: str, bot_id: str) -> int | None:
    """The event id of the first transcript message of the bot's previous reply prompt in
    this chat, for `build_prompt` to keep its start (§8.1.1); None when there is none or it
    was recorded whole."""
    memo: Memo = {}
    previous = _previous(conn, chat_id, bot_id, memo)
    if previous is None or not previous[1].get("compact"):
        return None
    event_id, payload = previous
    try:
        items = _items_of(conn, event_id, payload, memo)
        _system_of(conn, event_id, payload, memo)  # kept for the reply's record to start from
    except (ValueError, KeyError, TypeError):
        return None
    keep(memo)
    return next((int(item["e"]) for item in items if "e" in item), None)


def record_view(conn: sqlite3.Connection, payload: dict[str, Any], turn_id: str | None = None) -> dict[str, Any]:
    """A record as "why did it say that?" shows it: the exact messages, the chapter ids,
    the fields a record leaves out at their defaults, and the memory ids a compact record
    leaves to its reply's ``message_posted``."""
    view = {**_defaults(), **{key: value for key, value in payload.items() if key != "compact"}}
    view["messages"] = expand(conn, payload)
    chapters = _chapter_ids(conn, payload)
    if chapters:
        view["chapter_ids"] = chapters
    if (payload.get("compact") or {}).get("ids") == "message":
        posted = _posted(conn, str(payload.get("message_id")), turn_id)
        view["memory_ids"] = recalled_ids(posted or {})
    return view


def _defaults() -> dict[str, Any]:
    """What a record of format 3 leaves out (the schema's defaults, chat/eventlog/schemas.py),
    new lists each time: a caller may change the view it is given."""
    return {"message_id": None, "purpose": "reply", "memory_ids": [], "lore": [], "token_count": 0}


def whole_record(conn: sqlite3.Connection, payload: dict[str, Any], turn_id: str | None = None) -> dict[str, Any]:
    """A record with its messages (and memory ids) written out: what a world file carries,
    since its events get new ids where it is imported, and a compact record's references
    by event id would name other events there."""
    return record_view(conn, payload, turn_id) if payload.get("compact") else payload


def _posted(conn: sqlite3.Connection, message_id: str, turn_id: str | None) -> dict[str, Any] | None:
    row = conn.execute("SELECT event_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    candidates = [_payload(conn, int(row[0]))] if row else []
    if turn_id is not None:  # a reverted turn's message is gone from the projection, not the log
        candidates += [json.loads(text) for (text,) in conn.execute(
            "SELECT payload FROM events WHERE turn_id = ? AND kind = 'message_posted'", (turn_id,))]  # fmt: skip
    return next((p for p in candidates if p is not None and p.get("id") == message_id), None)


def expand(conn: sqlite3.Connection, payload: dict[str, Any], memo: Memo | None = None) -> list[dict[str, str]]:
    """The exact messages of a prompt record, compact or whole."""
    compact = payload.get("compact")
    if not compact:
        return list(payload.get("messages") or [])
    memo = {} if memo is None else memo
    items = transcript_items(conn, payload, memo)
    texts = _texts_of(conn, items, memo)
    out = [{"role": "system", "content": system_text(conn, payload, memo)}]
    for item in items:
        if "t" in item:
            out.append({"role": item["r"], "content": item["t"]})
        elif "s" in item:
            out.append({"role": item["r"], "content": "".join(_quote(texts, part) for part in item["s"])})
        else:
            out.append({"role": item["r"], "content": item.get("p", "") + _text_of(texts, item["e"])})
    return out


def _texts_of(conn: sqlite3.Connection, items: list[dict[str, Any]], memo: Memo) -> dict[int, Any]:
    """The ``text`` of every event the items name, read in one query per 500; those a
    cached record vouches for (`older_texts`) are not read again (a turn's record names
    ~250 messages, all but a few named by the record before it: 0.7 ms a turn)."""
    ids = sorted({int(item["e"]) for item in items if "e" in item} | {
        int(part["e"] if isinstance(part, dict) else part)
        for item in items for part in item.get("s", ()) if not isinstance(part, str)
    })  # fmt: skip
    known = older_texts(memo)
    texts: dict[int, Any] = {key: known[key] for key in ids if key in known}
    missing = [key for key in ids if key not in known]
    for at in range(0, len(missing), 500):
        chunk = missing[at : at + 500]
        marks = ",".join("?" * len(chunk))
        for event_id, text in conn.execute(
            f"SELECT id, json_extract(payload, '$.text') FROM events WHERE id IN ({marks})", chunk  # noqa: S608
        ):
            texts[int(event_id)] = text
    memo.setdefault(("r", 0), {}).update(texts)
    return texts


def _text_of(texts: dict[int, Any], event_id: Any) -> str:
    text = texts.get(int(event_id))
    if not isinstance(text, str):
        raise ValueError(f"message or memory event {event_id} is missing")
    return text


def _quote(texts: dict[int, Any], part: Any) -> str:
    if isinstance(part, str):
        return part
    event_id, prefix = (part["e"], part["p"]) if isinstance(part, dict) else (part, "")
    return prefix + _text_of(texts, event_id)
