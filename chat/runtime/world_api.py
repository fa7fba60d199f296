"""The world half of the runtime's API (§5.1, §5.4, §6.1), mixed into `Runtime`:
a person sets a chat's scene and adds entities. Each is one event by the user,
checked and appended in one writer transaction (`Runtime.commit`)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from chat.eventlog.log import NewEvent
from chat.state.entities import get_entity
from chat.state.memory import get_memory
from chat.state.world import get_scene
from chat.world import edits as world_edits

if TYPE_CHECKING:
    from chat.turns.host import TurnHost as _Host
else:
    _Host = object


class WorldControls(_Host):
    """Scene and entity edits; needs the host's writer (`TurnHost.commit`)."""

    async def set_scene(
        self, chat_id: str, *, location: str | None = None, present: list[str] | None = None
    ) -> dict[str, Any]:
        """Set the chat's location and/or who is present (a pinning ``manual_edit`` per field);
        return the scene {chat_id, location, present, updated_event_id}. Appends nothing
        when nothing changes. NotFound for an unknown chat, ValidationFailed for a location
        over 200 characters or an unknown entity in ``present``."""
        written = await self.commit(
            lambda conn: world_edits.scene_events(conn, chat_id, location=location, present=present),
            chat_id,
            after=lambda conn: get_scene(conn, chat_id),
        )
        return written.extra

    async def add_entity(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Add a person, place, thing or group ({name, kind, description?, aliases?, facts?,
        id?}) with ``entity_added`` by the user; return the entity. Its id is a unique slug
        of the name unless given. ValidationFailed names a bad field; Conflict when a given
        id is taken."""
        chosen: list[str] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            events = world_edits.entity_events(conn, fields)
            chosen.append(events[0].payload["id"])
            return events

        written = await self.commit(build, after=lambda conn: get_entity(conn, chosen[-1]))
        return written.extra

    async def add_memory(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Give a bot a memory by hand ({owner, text, importance?, kind?, about?}) with
        ``memory_added`` by the user; return the memory. ValidationFailed names a bad field."""
        chosen: list[str] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            events = world_edits.memory_events(conn, fields)
            chosen.append(events[0].payload["id"])
            return events

        written = await self.commit(build, after=lambda conn: get_memory(conn, chosen[-1]))
        return written.extra
