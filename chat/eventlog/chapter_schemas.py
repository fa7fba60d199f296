"""The payload of a chapter (§5.7): a summary of a stretch of a chat's transcript.

``schemas`` imports it into ``SCHEMAS``; it builds on its base types. One event per
chapter, carrying the chat, the message range it covers (ids and the event ids of the
first and last message, which give the chat's order) and the bots that get it as a
``chapter`` memory. Written by the model after a turn (with the turn id, so a rewind of
that turn takes it away); a person edits it with a ``manual_edit`` of target ``chapter``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from chat.eventlog.fields import MemoryText
from chat.eventlog.schemas import Ident, Payload, Slug

MAX_CHAPTER_MESSAGES = 10_000


class ChapterWritten(Payload):
    id: Ident
    chat_id: Ident
    first_message_id: Ident
    last_message_id: Ident
    first_event_id: int = Field(ge=1)
    last_event_id: int = Field(ge=1)
    message_count: int = Field(ge=1, le=MAX_CHAPTER_MESSAGES)
    text: MemoryText
    owners: list[Slug] = Field(min_length=1, max_length=20)
    """The bots present in the chat's scene: each gets the chapter as a memory of its own."""

    @model_validator(mode="after")
    def _ordered(self) -> ChapterWritten:
        if self.last_event_id < self.first_event_id:
            raise ValueError("last_event_id must not come before first_event_id")
        if len(set(self.owners)) != len(self.owners):
            raise ValueError("owners must not repeat a bot")
        return self
