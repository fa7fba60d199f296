"""The Kith runtime: one per process, the one writer, and the turn worker (§4, §10.1).

The web app and the CLI talk to Kith only through `Runtime`. It owns the single
writer connection (used from one dedicated thread, so writes are serial and never
block the event loop), hands out reader connections, runs turns in the background
(one at a time per chat, chats in parallel, §4.7) and publishes what happens on an
in-process bus (`Runtime.bus`) that the web app turns into server-sent events.

Every method that changes state appends validated events and projects them in the
same transaction, so when a method returns its change is durable and visible to
readers. Errors are `chat.errors` classes (ValidationFailed 422, NotFound 404,
Conflict 409) and nothing is appended when one is raised.

Bus events (`chat.services.bus.BusEvent`, ``type`` / ``chat_id`` / ``data``):

* ``token``   {turn_id, message_id (temporary until stored), bot_id, text}
* ``message`` the stored message (as in `transcript`)
* ``turn``    {id, chat_id, status, error, message_ids}
* ``state``   {event_ids, kinds} after every write
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chat.config import Settings

if TYPE_CHECKING:
    from chat.llm.base import Backend
    from chat.services.bus import EventBus
    from chat.services.retrieval import Embedder
    from chat.services.snapshot import ColdLoadReport

DB_FILE_NAME = "kith.db"


class Runtime:
    """One per process. Construct, ``await start()``, use, ``await stop()``.

    ``backend`` replaces the one `settings.backend` names (tests pass a scripted one);
    ``clock`` is the UTC clock the snapshot policy and retrieval read; ``embedder``
    adds cosine similarity to memory retrieval (§8.3).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend | None = None,
        clock: Callable[[], datetime] | None = None,
        embedder: Embedder | None = None,
        force_rebuild: bool = False,
    ) -> None:
        raise NotImplementedError

    # --- life cycle ---------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        """The SQLite file of this data directory."""
        raise NotImplementedError

    @property
    def backend(self) -> Backend:
        """The model backend (available after `start`)."""
        raise NotImplementedError

    @property
    def bus(self) -> EventBus:
        """Pub/sub of token, message, turn and state events (`bus.subscribe(chat_id=None)`)."""
        raise NotImplementedError

    async def start(self) -> ColdLoadReport:
        """Migrate, cold-load the projections (§10.6), create the backend, start the worker.

        Turns a previous process left queued are queued again; turns it left running
        are marked failed ("interrupted by a restart") so they can be retried.
        """
        raise NotImplementedError

    async def stop(self) -> None:
        """Cancel running turns (marked failed, cancelled), wait for them, close everything."""
        raise NotImplementedError

    async def set_backend(self, backend: Backend) -> None:
        """Swap the backend (settings page); running turns finish on the old one."""
        raise NotImplementedError

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read connection from a small pool; never use it to write."""
        raise NotImplementedError
        yield  # pragma: no cover

    async def wait_idle(self, chat_id: str | None = None, timeout: float = 30.0) -> None:
        """Wait until no turn is queued or running (in ``chat_id``, or anywhere) and the
        background snapshot, if any, is written. For tests and the CLI."""
        raise NotImplementedError

    # --- bots (§3) ----------------------------------------------------------------------

    async def author_bot(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Append ``bot_authored`` (id slugged from the name when absent) and return the bot.

        Raises ValidationFailed naming the field, Conflict when the id is taken.
        """
        raise NotImplementedError

    async def revise_bot(self, bot_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Append ``bot_revised``; return the bot. NotFound, ValidationFailed."""
        raise NotImplementedError

    async def retire_bot(self, bot_id: str) -> None:
        """Append ``bot_retired``; its history stays. NotFound when unknown or already retired."""
        raise NotImplementedError

    def get_bot(self, bot_id: str) -> dict[str, Any]:
        """The bot, or NotFound."""
        raise NotImplementedError

    def list_bots(self, *, include_retired: bool = False) -> list[dict[str, Any]]:
        raise NotImplementedError

    # --- chats (§4.1) -------------------------------------------------------------------

    async def create_chat(self, bot_ids: list[str], title: str | None = None) -> dict[str, Any]:
        """Append ``chat_created`` and each bot's kickoff prose as its first message.

        Returns {id, title, bot_ids}. NotFound for an unknown or retired bot.
        """
        raise NotImplementedError

    def get_chat(self, chat_id: str) -> dict[str, Any]:
        """{id, title, bot_ids, created_at}, or NotFound."""
        raise NotImplementedError

    def list_chats(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def transcript(self, chat_id: str, *, include_hidden: bool = False) -> list[dict[str, Any]]:
        """Messages oldest first: {id, chat_id, author, text, created_at, turn_id, alt_group,
        chosen, edited, deleted, alternatives: [ids], alt_index}. NotFound for an unknown chat."""
        raise NotImplementedError

    def get_message(self, message_id: str) -> dict[str, Any]:
        raise NotImplementedError

    # --- turns (§4.2–§4.7) --------------------------------------------------------------

    async def post_message(self, chat_id: str, text: str) -> tuple[dict[str, Any], str]:
        """Durably append the user's message and ``turn_queued``, then queue the turn.

        Returns (message, turn_id) before any model call. NotFound, ValidationFailed.
        """
        raise NotImplementedError

    def get_turn(self, turn_id: str) -> dict[str, Any]:
        """{id, chat_id, kind, status, error, message_ids, user_message_id, created_at}."""
        raise NotImplementedError

    def get_prompt(self, turn_id: str) -> list[dict[str, Any]]:
        """The ``prompt_recorded`` payloads of the turn (§8.4), oldest first, each with
        ``event_id``. NotFound for an unknown turn."""
        raise NotImplementedError

    async def retry_turn(self, turn_id: str) -> str:
        """Queue a failed turn again (same id). Conflict unless it failed."""
        raise NotImplementedError

    async def cancel_turn(self, turn_id: str) -> dict[str, Any]:
        """Stop a running or queued turn; it ends failed with ``cancelled``. Conflict when it
        is already finished. Returns the turn as it stands."""
        raise NotImplementedError

    async def regenerate(self, chat_id: str) -> str:
        """Queue a turn that writes a new alternative for the last bot reply (§4.4).

        Conflict when the chat has no bot reply to regenerate."""
        raise NotImplementedError

    async def choose_alternative(self, message_id: str) -> dict[str, Any]:
        """Make ``message_id`` the standing alternative of its group; return it."""
        raise NotImplementedError

    async def edit_message(self, message_id: str, text: str) -> dict[str, Any]:
        """Append ``message_edited``; return the message. NotFound, ValidationFailed."""
        raise NotImplementedError

    async def delete_message(self, message_id: str) -> None:
        """Append ``message_deleted``. NotFound (also when already deleted)."""
        raise NotImplementedError

    async def rewind(self, chat_id: str, before_message_id: str) -> list[str]:
        """Revert every turn holding ``before_message_id`` or a later message (§4.6).

        Running and queued turns of the chat are cancelled first. Returns the reverted
        turn ids (empty when there is nothing to revert; nothing is appended then)."""
        raise NotImplementedError

    # --- manual edits (§6) --------------------------------------------------------------

    async def edit(
        self,
        target_type: str,
        target_id: str,
        field: str,
        value: Any = None,
        action: str = "set",
    ) -> dict[str, Any]:
        """Append a ``manual_edit`` by the user (pins the field); return its payload with
        ``event_id``. NotFound / ValidationFailed name what is wrong."""
        raise NotImplementedError

    # --- snapshots (§10.4–§10.5) --------------------------------------------------------

    async def take_snapshot(self, kind: str = "manual") -> Path:
        """Write a snapshot of the projections now."""
        raise NotImplementedError
