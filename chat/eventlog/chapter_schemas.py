"""The payload of a chapter (§5.7): a summary of a stretch of a chat's transcript.

``schemas`` imports it into ``SCHEMAS``; it builds on its base types. One event per
chapter, carrying the chat, the message range it covers (its first and last message) and
the bots that get it as a ``chapter`` memory. The range is named by message ids only: the
projection finds their place in the chat, so a world file imported elsewhere, where the
events get new ids, keeps its chapters where they were. Written by the model after a turn (with the turn id, so a rewind of
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
    message_count: int = Field(ge=1, le=MAX_CHAPTER_MESSAGES)
    text: MemoryText
    owners: list[Slug] = Field(min_length=1, max_length=20)
    """The bots present in the chat's scene: each gets the chapter as a memory of its own."""

    @model_validator(mode="after")
    def _distinct(self) -> ChapterWritten:
        if len(set(self.owners)) != len(self.owners):
            raise ValueError("owners must not repeat a bot")
        return self
