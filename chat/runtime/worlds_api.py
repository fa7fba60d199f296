"""The worlds half of the runtime's API (§3.5, §3.6), mixed into `Runtime`: create, rename,
archive and restore worlds, import a card into its own world, and set who "you" are. Each
is checked and appended in one writer transaction (`Runtime.commit`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat.eventlog.log import NewEvent
from chat.state import worlds as world_state
from chat.turns.prompt_record import whole_record
from chat.world import lore as lore_service
from chat.world import openings, transfer
from chat.world import worlds as world_service
from chat.world.bots import require_bot
from chat.world.imports import import_events

if TYPE_CHECKING:
    from chat.turns.host import TurnHost as _Host
else:
    _Host = object


class WorldsControls(_Host):
    """World and persona changes; needs the host's writer (`TurnHost.commit`)."""

    def list_worlds(self, *, include_archived: bool = False) -> list[dict[str, Any]]:
        return self._read_now(  # type: ignore[attr-defined]
            lambda conn: world_state.list_worlds(conn, include_archived=include_archived)
        )

    def get_world(self, world_id: str, *, field: str = "id") -> dict[str, Any]:
        """The world {id, name, scenario, archived, ...}, or NotFound naming ``field``."""
        return self._read_now(  # type: ignore[attr-defined]
            lambda conn: world_service.require_world(conn, world_id, field=field)
        )

    async def create_world(
        self, name: str, *, scenario: str = "", world_id: str | None = None
    ) -> dict[str, Any]:
        """``world_created``; its id is a unique slug of the name unless given (Conflict)."""
        chosen: list[str] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            events = world_service.create_events(conn, name, scenario=scenario, world_id=world_id, distinct=True)
            chosen.append(events[0].payload["id"])
            return events

        await self.commit(build)
        return self.get_world(chosen[0])

    async def revise_world(
        self, world_id: str, *, name: str | None = None, scenario: str | None = None
    ) -> dict[str, Any]:
        await self.commit(
            lambda conn: world_service.revise_events(conn, world_id, name=name, scenario=scenario)
        )
        return self.get_world(world_id)

    async def archive_world(self, world_id: str, *, archived: bool = True) -> dict[str, Any]:
        """Archive (hide) or restore a world; nothing in it is lost."""
        await self.commit(
            lambda conn: world_service.archive_events(conn, world_id, archived=archived)
        )
        return self.get_world(world_id)

    async def import_bot(
        self, payload: dict[str, Any], world_id: str | None = None, on_conflict: str = "ask"
    ) -> dict[str, Any]:
        """A parsed card as a bot: in a new world named after it, or joining ``world_id``
        (a card matching a bot: ``on_conflict`` ask, update or copy, see `card_import`).
        Returns the bot with ``world_id``, the world it is in."""
        chosen: list[tuple[str, str | None]] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            events, bot_id, world = import_events(conn, payload, world_id, on_conflict)  # type: ignore[arg-type]
            chosen.append((bot_id, world))
            return events

        await self.commit(build)
        bot_id, world = chosen[0]
        bot = self._read_now(lambda conn: require_bot(conn, bot_id))  # type: ignore[attr-defined]
        return {**bot, "world_id": world}

    def lore(self, world_id: str, bot_id: str | None = None) -> dict[str, Any]:
        """``{world_id, bot_id, entries}``: one book of one world (`chat.world.lore`)."""
        return self._read_now(  # type: ignore[attr-defined]
            lambda conn: lore_service.read_book(conn, world_id, bot_id)
        )

    async def set_lore(self, world_id: str, bot_id: str | None, entries: Any) -> dict[str, Any]:
        """``lore_set``: replace one book of ``world_id``; no other world changes."""
        await self.commit(lambda conn: lore_service.lore_events(conn, world_id, bot_id, entries))
        return self.lore(world_id, bot_id)

    def bot_card(self, bot_id: str, world_id: str | None = None) -> dict[str, Any]:
        """The bot with its lore in ``world_id`` (default: its first world), for a card export."""
        return self._read_now(  # type: ignore[attr-defined]
            lambda conn: lore_service.bot_for_export(conn, bot_id, world_id)
        )

    def persona(self, world_id: str | None = None) -> dict[str, Any]:
        """{name, description, scope}: the world's own persona, else the global one."""
        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            if world_id is not None:
                world_service.require_world(conn, world_id)
            return world_state.persona(conn, world_id)

        return self._read_now(read)  # type: ignore[attr-defined]

    async def set_persona(
        self, name: str, description: str = "", *, world_id: str | None = None
    ) -> dict[str, Any]:
        """``persona_set``: globally, or for one world only (§3.6); the greetings that name
        "you" take the new name (`openings`)."""
        await self._persona_commit(
            lambda conn: openings.set_persona_events(conn, name, description, world_id=world_id)
        )
        return self.persona(world_id)

    async def clear_persona(self, world_id: str) -> dict[str, Any]:
        await self._persona_commit(lambda conn: openings.cleared_persona_events(conn, world_id))
        return self.persona(world_id)

    async def _persona_commit(self, build: Callable[[sqlite3.Connection], list[NewEvent]]) -> None:
        """Commit a persona change; each greeting written again is published as a
        ``message`` of its chat, so an open transcript shows the new name at once."""
        edited: list[NewEvent] = []

        def keep(conn: sqlite3.Connection) -> list[NewEvent]:
            events = build(conn)
            edited[:] = [e for e in events if e.kind == "message_edited"]
            return events

        await self.commit(keep)
        for event in edited:
            message = self.get_message(event.payload["id"])  # type: ignore[attr-defined]
            self.bus.publish("message", message, event.chat_id)

    def export_world(self, world_id: str) -> str:
        """One world as the text of a world file (`chat.world.transfer`), read in one
        consistent transaction."""

        def read(conn: sqlite3.Connection) -> str:
            conn.execute("BEGIN")
            try:
                return "".join(line + "\n" for line in transfer.export_world_lines(conn, world_id, whole_record))
            finally:
                conn.execute("COMMIT")

        return self._read_now(read)  # type: ignore[attr-defined]

    async def import_world(self, text: str) -> dict[str, Any]:
        """Bring the world of a world file in; returns the world and how many events came.
        ValidationFailed (a bad file) and Conflict (its world or a chat exists) append nothing."""
        world, records = transfer.read_world_file(text.splitlines())
        written = await self.commit(lambda conn: transfer.import_events(conn, world, records))
        return {"world": self.get_world(world["id"]), "events": len(written.ids)}
