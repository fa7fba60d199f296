"""One world as one file (§3.5, §10.5): export it, and import it into any data directory.

The whole-directory export (`chat.export`) copies the log as it is. A world file holds only
the events of one world: the world's own events, its persona, the definitions of the bots
that take part in it (their later revisions too), and every event that belongs to the world
(`chat.state.worlds.world_of`) or to one of its chats. Each line keeps its kind, payload,
chat, turn, actor and time; ids are given anew on import, where the events go through the
ordinary append path (validated, projected, undoable like anything else).

On import a bot that already exists in the target (the same id) is not redefined: it joins
the world instead (``world_joined``), and its revisions from the file are left out. A world
id or chat id that the target already has is a Conflict; nothing is appended then.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chat.errors import Conflict, KithError, ValidationFailed
from chat.eventlog.log import ACTORS, NewEvent, iter_events
from chat.eventlog.schemas import (
    DEFAULT_WORLD,
    SCHEMA_VERSIONS,
    SCHEMAS,
    WORLD_SCOPED_KINDS,
    validate_payload,
)
from chat.eventlog.upcasting import upcast
from chat.world.worlds import require_world

FORMAT = "kith-world"
FORMAT_VERSION = 1
WORLD_KINDS = ("world_created", "world_renamed", "world_scenario_set", "world_archived", "world_restored")
BOT_KINDS = ("bot_authored", "bot_revised", "bot_retired")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


WholePrompt = Callable[[sqlite3.Connection, dict[str, Any], str | None], dict[str, Any]]
"""A compact prompt record written out whole (`chat.turns.prompt_record.whole_record`):
compact records name other events by id, and a world file's events get new ids."""


def world_events(conn: sqlite3.Connection, world_id: str, whole_prompt: WholePrompt) -> Iterator[dict[str, Any]]:
    """The events of ``world_id``, oldest first, as records ready to write (upcast payloads)."""
    chats = {row[0]: row[1] for row in conn.execute("SELECT id, world_id FROM chats")}
    bots = {
        row[0]
        for row in conn.execute(
            "SELECT id FROM entities WHERE world_id = ? AND kind = 'bot'", (world_id,)
        )
    }
    for event in iter_events(conn, after=0):
        payload = dict(event.payload)
        kind = event.kind
        chat = event.chat_id or payload.get("chat_id")
        if kind in WORLD_KINDS:
            wanted = payload["id"] == world_id
        elif kind in ("world_joined", "persona_set", "persona_cleared"):
            wanted = payload.get("world_id") == world_id
        elif kind in BOT_KINDS or (kind == "manual_edit" and payload["target_type"] == "bot"):
            wanted = (payload.get("target_id") or payload.get("id")) in bots
            if wanted and "world_id" in SCHEMAS[kind].model_fields:
                payload["world_id"] = world_id
        elif kind in WORLD_SCOPED_KINDS:
            own = payload.get("world_id") or chats.get(chat or "") or DEFAULT_WORLD
            wanted = own == world_id
            if wanted:
                payload["world_id"] = world_id
        else:
            wanted = chat is not None and chats.get(chat) == world_id
        if wanted and kind == "prompt_recorded":
            payload = whole_prompt(conn, payload, event.turn_id)
        if wanted:
            yield {
                "kind": kind,
                "version": SCHEMA_VERSIONS[kind],
                "payload": payload,
                "created_at": event.created_at,
                "chat_id": event.chat_id,
                "turn_id": event.turn_id,
                "actor": event.actor,
            }


def export_world_lines(conn: sqlite3.Connection, world_id: str, whole_prompt: WholePrompt) -> Iterator[str]:
    """The lines of a world file: header, one event per line, trailer with count and SHA-256.

    Read inside one transaction by the caller, so the file is one consistent state."""
    world = require_world(conn, world_id, field="id")
    yield _dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "world": world})
    digest = hashlib.sha256()
    count = 0
    for record in world_events(conn, world_id, whole_prompt):
        line = _dumps(record)
        digest.update(line.encode("utf-8") + b"\n")
        count += 1
        yield line
    yield _dumps({"end": FORMAT, "event_count": count, "checksum": "sha256:" + digest.hexdigest()})


def read_world_file(lines: Iterable[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the world, its event records) from a world file; ValidationFailed names the line."""
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    trailer: dict[str, Any] | None = None
    digest = hashlib.sha256()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise ValidationFailed(f"line {number} is not JSON", field="file") from None
        if not isinstance(item, dict) or trailer is not None:
            raise ValidationFailed(f"line {number}: not a world file line", field="file")
        if header is None:
            if item.get("format") != FORMAT or item.get("format_version") != FORMAT_VERSION:
                raise ValidationFailed("not a Kith world file: line 1 must be its header", field="file")
            if not isinstance(item.get("world"), dict) or not isinstance(item["world"].get("id"), str):
                raise ValidationFailed("the world file's header names no world", field="file")
            header = item
        elif "end" in item:
            trailer = item
        else:
            digest.update(line.encode("utf-8") + b"\n")
            records.append(_checked(item, number))
    if header is None or trailer is None:
        raise ValidationFailed("the world file is truncated: its end line is missing", field="file")
    if trailer.get("event_count") != len(records) or trailer.get("checksum") != "sha256:" + digest.hexdigest():
        raise ValidationFailed("the world file's checksum or event count does not match", field="file")
    return header["world"], records


def _checked(record: dict[str, Any], number: int) -> dict[str, Any]:
    kind, version = record.get("kind"), record.get("version")
    if kind not in SCHEMAS or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSIONS[kind]:
        raise ValidationFailed(f"line {number}: unknown kind or version", field="file")
    if not isinstance(record.get("payload"), dict) or record.get("actor") not in ACTORS:
        raise ValidationFailed(f"line {number}: bad payload or actor", field="file")
    created = record.get("created_at")
    if not isinstance(created, str) or not _TIME.match(created):
        raise ValidationFailed(f"line {number}: bad created_at", field="file")
    try:
        payload = validate_payload(kind, upcast(kind, version, record["payload"]))
    except (KithError, ValueError) as exc:
        raise ValidationFailed(f"line {number}: {exc}", field="file") from None
    return {**record, "payload": payload}


def import_events(
    conn: sqlite3.Connection, world: dict[str, Any], records: list[dict[str, Any]]
) -> list[NewEvent]:
    """The events that bring the world of a file into this data directory (see module doc)."""
    world_id = world["id"]
    if conn.execute("SELECT 1 FROM worlds WHERE id = ?", (world_id,)).fetchone():
        raise Conflict(f"this data directory already has a world {world_id!r}", field="world")
    existing_bots = {row[0] for row in conn.execute("SELECT id FROM bots")}
    events: list[NewEvent] = []
    if not any(r["kind"] == "world_created" for r in records):  # the file's world is `default`
        name = str(world.get("name") or world_id)[:80]
        events.append(NewEvent("world_created", {"id": world_id, "name": name}, actor="system"))
    for record in records:
        kind, payload = record["kind"], record["payload"]
        chat = payload.get("id") if kind == "chat_created" else None
        if chat and conn.execute("SELECT 1 FROM chats WHERE id = ?", (chat,)).fetchone():
            raise Conflict(f"this data directory already has a chat {chat!r}", field="file")
        bot = payload.get("id") if kind in BOT_KINDS else None
        if kind == "manual_edit" and payload["target_type"] == "bot":
            bot = payload["target_id"]
        if bot in existing_bots:
            if kind == "bot_authored":
                events.append(NewEvent("world_joined", {"world_id": world_id, "bot_id": bot}, actor="user"))
            continue
        events.append(
            NewEvent(
                kind, payload, record.get("chat_id"), record.get("turn_id"), record["actor"],
                created_at=record["created_at"],
            )  # fmt: skip
        )
    return events
