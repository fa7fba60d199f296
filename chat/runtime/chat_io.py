"""Moving chats in and out (§11.5): SillyTavern chat files in, SillyTavern JSONL or text out.

Parsing runs off the event loop (a 30,000-message file takes seconds); every event of an
import is appended in one writer transaction, so a refused file appends nothing. A card
may come with the chat: the bot and the chat are then appended together (or, when a bot
of that name exists, the chat goes to it and no second bot is made).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import TYPE_CHECKING, Any, Literal

from chat.cards import parse_card
from chat.eventlog.log import NewEvent
from chat.state.worlds import bot_worlds
from chat.world.card_import import matching_bot
from chat.world.chat_export import plain_text, st_jsonl
from chat.world.ids import new_id
from chat.world.imports import import_events as card_world_import
from chat.world.st_chat import import_events, parse_st_chat, pick_bots, with_speakers

if TYPE_CHECKING:
    from chat.runtime.runtime import Runtime

ChatFormat = Literal["st", "txt"]


async def import_st_chat(
    rt: Runtime,
    data: bytes,
    *,
    bot_ids: list[str] | None = None,
    title: str | None = None,
    card: bytes | None = None,
    card_name: str | None = None,
) -> dict[str, Any]:
    """Import a SillyTavern chat file; returns ``{id, title, bot_ids, messages}``."""
    parsed = await asyncio.to_thread(parse_st_chat, data)
    payload = await asyncio.to_thread(parse_card, card, filename=card_name) if card else None
    chat_id = new_id("chat")

    def build(conn: sqlite3.Connection) -> list[NewEvent]:
        events: list[NewEvent] = []
        world: str | None = None
        match = matching_bot(conn, payload) if payload is not None else None
        if match is not None:  # the character is here already: no second bot (§3.4)
            bots = [match]
        elif payload is not None:  # a new character: a world of its own, as a card import (§3.5)
            events, bot_id, world = card_world_import(conn, payload, None, "copy")
            bots = [{"id": bot_id, "name": payload["name"]}]
        else:
            bots = pick_bots(conn, parsed, bot_ids)
        if world is None:  # the chat goes to the world its bot takes part in
            joined = bot_worlds(conn, bots[0]["id"])
            world = joined[0] if joined else None
        bots = with_speakers(conn, parsed, bots, world)  # a group chat: each line its speaker
        chat_events = import_events(parsed, bots, chat_id, title)
        if world is not None:
            chat_events[0].payload["world_id"] = world
        return events + chat_events

    await rt.commit(build, chat_id)
    chat = rt.get_chat(chat_id)
    return {
        "id": chat["id"], "title": chat["title"], "bot_ids": chat["bot_ids"],
        "messages": len(parsed.messages), "world_id": chat.get("world_id") or "default",
    }  # fmt: skip


async def export_chat(rt: Runtime, chat_id: str, fmt: ChatFormat) -> tuple[bytes, str, str]:
    """``(body, media type, file name)`` of the chat as SillyTavern JSONL or plain text."""

    def read(conn: sqlite3.Connection) -> tuple[bytes, str]:
        body = st_jsonl(conn, chat_id) if fmt == "st" else plain_text(conn, chat_id)
        return body, rt_title(conn, chat_id)

    body, title = await rt.read(read)
    if fmt == "st":
        return body, "application/jsonl", f"{file_stem(title)}.jsonl"
    return body, "text/plain; charset=utf-8", f"{file_stem(title)}.txt"


def rt_title(conn: sqlite3.Connection, chat_id: str) -> str:
    row = conn.execute("SELECT title FROM chats WHERE id = ?", (chat_id,)).fetchone()
    return row[0] if row else chat_id


def file_stem(title: str) -> str:
    """A file name from a title: letters (any script), digits, spaces, - and _ kept."""
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip()[:80]
    return stem or "chat"
