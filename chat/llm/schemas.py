"""Shapes of the JSON the model proposes; the turn engine validates and clamps the values.

Lenient on purpose: unknown keys are ignored and every field but the ids has a
default, so a small model's partial answer still parses.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EntityProposal(_Lenient):
    id: str
    kind: str = ""
    """Empty when the model leaves it out: a new entity is then ``other``, a known one keeps its kind."""
    name: str = ""
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    facts: dict[str, str] = Field(default_factory=dict)


class EdgeProposal(_Lenient):
    src: str
    dst: str
    label: str | None = None
    affinity_delta: int = 0
    trust_delta: int = 0
    notes: str | None = None


class MemoryProposal(_Lenient):
    owner: str
    text: str
    kind: str = "observation"
    importance: int = 5
    about: list[str] = Field(default_factory=list)
    supersedes: str | None = None
    """The id of an older memory of the same bot that this one contradicts or updates."""


class WorldProposal(_Lenient):
    key: str
    value: str


class SceneProposal(_Lenient):
    location: str | None = None
    present: list[str] | None = None


class ExtractionProposal(_Lenient):
    """What one turn changed, as proposed by the model (§5.5)."""

    entities: list[EntityProposal] = Field(default_factory=list)
    edges: list[EdgeProposal] = Field(default_factory=list)
    memories: list[MemoryProposal] = Field(default_factory=list)
    world: list[WorldProposal] = Field(default_factory=list)
    scene: SceneProposal | None = None


class ReflectionItem(_Lenient):
    text: str
    importance: int = 7
    about: list[str] = Field(default_factory=list)


class ReflectionProposal(_Lenient):
    """1-3 higher-level memories a bot draws from its recent ones (§5.6)."""

    reflections: list[ReflectionItem] = Field(default_factory=list)


CHAPTER_SUMMARY_CHARS = 800
"""Bound on a chapter summary while it is generated (grammar / response_format); the
turn engine clamps what comes back on its own."""


class ChapterProposal(_Lenient):
    """A summary of a stretch of a chat that no longer fits the prompt (§5.7)."""

    summary: str = Field(default="", json_schema_extra={"maxLength": CHAPTER_SUMMARY_CHARS})
