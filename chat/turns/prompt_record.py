"""Compact prompt records (§8.4): what a reply was generated from, without a copy per reply.

A reply prompt is a system message and the recent transcript. The record keeps:

* each transcript message as a reference to its ``message_posted`` event (immutable in
  the log, so later edits, renames or rewinds never change what is rebuilt), plus the
  name prefix the prompt put before it; a message already edited when the prompt was
  built is kept inline (its posted text is not what was sent). Against the previous
  record only the run of references the two share and the new ones are kept;
* the system message as a difference from the previous record of the same bot in the
  same chat: the shared head and tail lengths and the text between them. Every
  ``KEYFRAME`` records in a chain one keeps the whole text, so a rebuild reads at most
  that many records.

``expand`` rebuilds the exact messages; ``compact_record`` checks that before it
returns (falling back to the whole messages if the rebuild would differ), so a record
always gives back byte for byte what was sent. Old records with ``messages`` show as
they are.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

FORMAT = 1
KEYFRAME = 16
_LOOKBACK = 40  # prompt records of the chat searched for the bot's previous one


def _payload(conn: sqlite3.Connection, event_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else json.loads(row[0])


def _previous(conn: sqlite3.Connection, chat_id: str, bot_id: str) -> tuple[int, dict] | None:
    rows = conn.execute(
        "SELECT id, payload FROM events WHERE chat_id = ? AND kind = 'prompt_recorded'"
        " ORDER BY id DESC LIMIT ?",
        (chat_id, _LOOKBACK),
    ).fetchall()
    for event_id, text in rows:
        payload = json.loads(text)
        if payload.get("bot_id") == bot_id and payload.get("purpose", "reply") == "reply":
            return int(event_id), payload
    return None


def system_text(conn: sqlite3.Connection, payload: dict[str, Any]) -> str:
    """The system message a record holds, following its chain of differences."""
    compact = payload.get("compact")
    if not compact:
        messages = payload.get("messages") or []
        return messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    system = compact["system"]
    if "base" not in system:
        return system["text"]
    base = _payload(conn, int(system["base"]))
    if base is None:
        raise ValueError(f"prompt record base event {system['base']} is missing")
    previous = system_text(conn, base)
    tail = previous[len(previous) - system["tail"] :] if system["tail"] else ""
    return previous[: system["head"]] + system["text"] + tail


def transcript_items(conn: sqlite3.Connection, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The transcript references of a compact record, following its chain of differences."""
    compact = payload["compact"]
    if "transcript" in compact:
        return list(compact["transcript"])
    delta = compact["tx"]
    base = _payload(conn, int(compact["system"]["base"]))
    if base is None or not base.get("compact"):
        raise ValueError("a transcript difference needs a compact base record")
    kept = transcript_items(conn, base)[delta["skip"] : delta["skip"] + delta["take"]]
    return kept + list(delta["add"])


def _transcript_difference(old: list[dict], new: list[dict]) -> dict[str, Any] | None:
    """``new`` as a run of ``old`` (the transcript shifts by a message or two per turn)
    and the items after it; None when they share nothing."""
    if not new or new[0] not in old:
        return None
    skip = old.index(new[0])
    take = 0
    while take < len(new) and skip + take < len(old) and old[skip + take] == new[take]:
        take += 1
    return {"skip": skip, "take": take, "add": new[take:]}


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
) -> dict[str, Any]:
    """``record`` (with whole ``messages``) made compact; ``history`` are the transcript
    messages the prompt's non-system messages were built from, in order."""
    messages = record["messages"]
    said = [m for m in messages[1:] if m["role"] != "system"]  # a note is kept inline
    literal = len(said) - len(history)  # the voice samples sent as chat turns come first
    if not messages or messages[0]["role"] != "system" or literal < 0:
        return record
    transcript = []
    sources = iter(history)
    for sent in messages[1:]:
        if sent["role"] == "system" or literal > 0:
            literal -= sent["role"] != "system"
            transcript.append({"r": sent["role"], "t": sent["content"]})
            continue
        source = next(sources)
        text, content = source["text"], sent["content"]
        if source.get("edited") or not source.get("event_id") or not content.endswith(text):
            transcript.append({"r": sent["role"], "t": content})
        else:
            transcript.append({"r": sent["role"], "e": source["event_id"], "p": content[: len(content) - len(text)]})
    system = messages[0]["content"]
    compact: dict[str, Any] = {"v": FORMAT, "system": {"text": system}, "depth": 0, "transcript": transcript}
    previous = _previous(conn, chat_id, record["bot_id"])
    if previous is not None:
        base_id, base = previous
        depth = int((base.get("compact") or {}).get("depth", 0)) + 1
        if base.get("compact") is None or depth < KEYFRAME:
            head, tail, middle = _difference(system_text(conn, base), system)
            compact["system"] = {"base": base_id, "head": head, "tail": tail, "text": middle}
            compact["depth"] = depth if base.get("compact") is not None else 1
            if base.get("compact") is not None:
                delta = _transcript_difference(transcript_items(conn, base), transcript)
                if delta is not None:
                    del compact["transcript"]
                    compact["tx"] = delta
    candidate = {**record, "messages": [], "compact": compact}
    try:
        if expand(conn, candidate) == messages:
            return candidate
    except (ValueError, KeyError, TypeError):
        pass
    return record


def previous_start(conn: sqlite3.Connection, chat_id: str, bot_id: str) -> int | None:
    """The event id of the first transcript message of the bot's previous reply prompt in
    this chat, for `build_prompt` to keep its start (§8.1.1); None when there is none or it
    was recorded whole."""
    previous = _previous(conn, chat_id, bot_id)
    if previous is None or not previous[1].get("compact"):
        return None
    try:
        items = transcript_items(conn, previous[1])
    except (ValueError, KeyError, TypeError):
        return None
    return next((int(item["e"]) for item in items if "e" in item), None)


def expand(conn: sqlite3.Connection, payload: dict[str, Any]) -> list[dict[str, str]]:
    """The exact messages of a prompt record, compact or whole."""
    compact = payload.get("compact")
    if not compact:
        return list(payload.get("messages") or [])
    out = [{"role": "system", "content": system_text(conn, payload)}]
    for item in transcript_items(conn, payload):
        if "t" in item:
            out.append({"role": item["r"], "content": item["t"]})
            continue
        posted = _payload(conn, int(item["e"]))
        if posted is None:
            raise ValueError(f"message event {item['e']} is missing")
        out.append({"role": item["r"], "content": item["p"] + posted["text"]})
    return out
