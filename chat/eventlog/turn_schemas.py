"""Payloads of a turn's lifecycle (§4.2–§4.7): queued, started, completed, failed, reverted.

``schemas`` imports these into ``SCHEMAS``; they build on its base types.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from chat.eventlog.schemas import Ident, Payload, Slug


class TurnQueued(Payload):
    id: Ident
    chat_id: Ident
    kind: Literal["message", "regenerate", "retry", "respond", "continue"] = "message"
    user_message_id: Ident | None = Field(default=None, exclude_if=lambda v: v is None)
    regenerate_group: Ident | None = Field(default=None, exclude_if=lambda v: v is None)
    continue_message_id: Ident | None = Field(default=None, exclude_if=lambda v: v is None)
    """A "continue" turn (§4.9): the bot reply it extends (as a new alternative). None of
    the three is stored when unset (as null they were ~50 bytes of every turn's log)."""


class TurnStarted(Payload):
    id: Ident


class TurnCompleted(Payload):
    id: Ident
    message_ids: list[Ident] = Field(default_factory=list)
    skipped: dict[Slug, Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=dict, max_length=20, exclude_if=lambda v: not v
    )  # group speakers whose reply came back empty, with why (§4.2)


class TurnFailed(Payload):
    id: Ident
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    cancelled: bool = False


class TurnsReverted(Payload):
    chat_id: Ident
    turn_ids: list[Ident] = Field(min_length=1)
    before_message_id: Ident | None = None
