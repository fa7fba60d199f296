"""What a running turn is doing, for the UI (§4.3): writing, updating memories, summarising.

The worker sets a phase as it moves on and publishes the turn with it on the bus
(`turn` events carry ``phase``, ``phase_bot`` and ``phase_since``), so every open
client can say "Mara is writing… 4 s" or "Updating memories… 12 s" and label Stop
with what it stops. Phases live in memory only: they describe work in progress, and
a restart ends that work anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

WRITING = "writing"
UPDATING_MEMORIES = "updating_memories"
SUMMARISING = "summarising"
PHASES = (WRITING, UPDATING_MEMORIES, SUMMARISING)


class Phases:
    """The current phase of each running turn."""

    def __init__(self) -> None:
        self._now: dict[str, dict[str, Any]] = {}

    def set(self, turn_id: str, phase: str, now: datetime, bot_id: str | None = None) -> dict[str, Any]:
        """Record ``phase`` as started ``now``; return the fields to add to the turn."""
        if phase not in PHASES:
            raise ValueError(f"unknown turn phase {phase!r}")
        self._now[turn_id] = {"phase": phase, "phase_bot": bot_id, "phase_since": now.isoformat()}
        return dict(self._now[turn_id])

    def of(self, turn_id: str) -> dict[str, Any]:
        """The phase fields of a running turn; empty when it is not running here."""
        return dict(self._now.get(turn_id, {}))

    def end(self, turn_id: str) -> None:
        self._now.pop(turn_id, None)
