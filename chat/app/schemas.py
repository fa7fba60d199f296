"""Request bodies of the HTTP API, strict (``extra="forbid"``) so a typo is a 422, not ignored.

Size rules mirror the event schemas (``chat.eventlog.schemas``) so a request that
passes here also passes the event validation; the message limit is tighter than
the log's, because a chat message is typed by a person (§12.3).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chat.eventlog.schemas import ID_RE, SLUG_RE, BotFields, EntityKind, MemoryKind
from chat.world.chats import MAX_MESSAGE_CHARS  # one limit for the API, CLI and UI

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE)]
Ident = Annotated[str, StringConstraints(pattern=ID_RE)]
MessageText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotCreate(BotFields):
    """A new bot; ``id`` is made from the name when not given."""

    id: Slug | None = None


class BotPatch(Body):
    """The bot fields to change; fields left out keep their value."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    persona: str | None = None
    voice_samples: list[str] | None = None
    traits: list[str] | None = None
    backstory: str | None = None
    initial_relationship_to_you: str | None = None
    kickoff_prose: str | None = None
    avatar: str | None = None
    tags: list[str] | None = None
    talkativeness: float | None = Field(default=None, ge=0.0, le=1.0)
    alternate_greetings: list[str] | None = None
    scenario: str | None = None
    lore: list[dict[str, Any]] | None = None


class ChatCreate(Body):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    bot_ids: list[Slug] = Field(min_length=1, max_length=20)


class MessagePost(Body):
    text: MessageText


class MessageEdit(Body):
    text: MessageText


class Rewind(Body):
    before_message_id: Ident


class EntityPatch(Body):
    kind: EntityKind | None = None
    name: str | None = None
    aliases: list[str] | None = None
    description: str | None = None
    facts: dict[str, str] | None = None


class EntityCreate(Body):
    """A new entity; ``id`` is a unique slug of the name when not given."""

    id: Slug | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    kind: EntityKind
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    aliases: list[Annotated[str, StringConstraints(max_length=120)]] | None = Field(
        default=None, max_length=30
    )
    facts: dict[
        Annotated[str, StringConstraints(max_length=100)],
        Annotated[str, StringConstraints(max_length=2000)],
    ] | None = None


class ScenePut(Body):
    """A chat's scene: the location, who is present (entity ids); either may be left out."""

    location: Annotated[str, StringConstraints(max_length=200)] | None = None
    present: list[Slug] | None = Field(default=None, max_length=100)


class EdgePatch(Body):
    label: str | None = None
    affinity: int | None = None
    trust: int | None = None
    notes: str | None = None


class MemoryPatch(Body):
    text: str | None = None
    importance: int | None = None
    kind: MemoryKind | None = None
    about: list[str] | None = None


class MemoryCreate(Body):
    """A memory given to a bot by hand (§11.1)."""

    owner: Slug
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    importance: int = Field(default=5, ge=1, le=10)
    kind: MemoryKind = "observation"
    about: list[Slug] = Field(default_factory=list, max_length=30)


class WorldFactPut(Body):
    value: Annotated[str, StringConstraints(max_length=4000)]


class ManualEditRequest(Body):
    """One manual edit (§6.1): set a field, delete an item, or unpin a field (§6.2)."""

    target_type: Literal["entity", "edge", "memory", "world", "bot"]
    target_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    field: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    action: Literal["set", "delete", "unpin"] = "set"
    value: Any = None


class SnapshotCreate(Body):
    kind: Literal["manual"] = "manual"


def set_fields(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body actually gave, in declaration order (null counts as given, and
    is then validated)."""
    given = body.model_fields_set
    return {name: getattr(body, name) for name in type(body).model_fields if name in given}
