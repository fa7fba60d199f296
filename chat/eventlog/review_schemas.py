"""Payloads of the review tray (§5.5): a held extraction change and the user's decision.

Registered in `chat.eventlog.schemas.SCHEMAS` like every other kind; kept in a module of
their own so that one stays short. Both are log-only (no projection reads them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

_Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]  # = schemas.ID_RE


class ProposalQueued(BaseModel):
    """An extraction change waiting in the review tray: the event it would be."""

    model_config = ConfigDict(extra="forbid")
    id: _Ident
    kind: Literal["entity_added", "entity_updated", "edge_changed", "memory_added", "world_fact_set", "scene_changed"]
    payload: dict[str, Any]
    summary: Annotated[str, StringConstraints(max_length=500)] = ""
    supersedes: _Ident | None = None
    """A proposed memory's older memory it replaces: marked superseded once it is accepted."""


class ProposalReviewed(BaseModel):
    """The user's decision on a queued proposal; an accepted one is appended beside it."""

    model_config = ConfigDict(extra="forbid")
    proposal_id: _Ident
    decision: Literal["accepted", "rejected"]
