"""Payload schemas of worlds (§3.5) and personas (§3.6), kept apart from `schemas` for size.

``schemas`` imports these into ``SCHEMAS``; they build on its base types.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from chat.eventlog.schemas import (
    CARD_LIST_ITEMS,
    LoreEntry,
    Payload,
    Slug,
    Text,
    WorldRef,
    WorldScoped,
)

WorldName = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class WorldCreated(Payload):
    """A story universe (§3.5): its own entities, edges, memories, facts, scenes and chats."""

    id: Slug
    name: WorldName
    scenario: Text = ""

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class WorldRenamed(Payload):
    id: Slug
    name: WorldName

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class WorldScenarioSet(Payload):
    id: Slug
    scenario: Text


class WorldArchived(Payload):
    """Hidden from the world list and switcher; nothing is lost, and it can be restored."""

    id: Slug


class WorldRestored(Payload):
    id: Slug


class WorldJoined(Payload):
    """A bot takes part in a world: its entity and its edge to `you` there (§3.5)."""

    world_id: Slug
    bot_id: Slug


class PersonaSet(Payload):
    """Who "you" are (§3.6): global when ``world_id`` is None, else in that world only."""

    world_id: WorldRef = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    description: Annotated[str, StringConstraints(max_length=4000)] = ""

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class PersonaCleared(Payload):
    """A world goes back to the global persona."""

    world_id: Slug


class LoreSet(WorldScoped):
    """One book of one world's lore replaced (§3.5, §8.1): the world's own (``bot_id`` None)
    or a taking-part bot's book there. See chat/state/lore.py for where books come from."""

    bot_id: Slug | None = Field(default=None, exclude_if=lambda v: v is None)
    entries: list[LoreEntry] = Field(default_factory=list, max_length=CARD_LIST_ITEMS)
