"""Which events of the log are projected: the one rule, for every fold and every reader.

A turn the user rewound (§4.6) is left out of state as if it were never in the log,
except its own lifecycle events (queued, started, completed, failed, and the
``turns_reverted`` that reverted it), which are still projected so the turn stays
visible, as reverted. ``projector`` (its fold, and what it records for a later rewind),
``rewind`` (which events seed one) ask here, in Python or, for a query over the log, in
SQL. What the event log shows as reverted (`shown_reverted`, the API's and the CLI's
listing alike) is a different question: every event of a rewound turn, lifecycle too.
"""

from __future__ import annotations

from collections.abc import Collection

LIFECYCLE_KINDS = frozenset(
    {"turn_queued", "turn_started", "turn_completed", "turn_failed", "turns_reverted"}
)
"""Projected even when their turn is reverted."""

STATE_CHANGING_SQL = f"kind NOT IN ({', '.join(repr(k) for k in sorted(LIFECYCLE_KINDS))})"
"""`is_projected`'s exception as an SQL condition on ``events.kind``: the events of a
reverted turn that it leaves out (those it changed state with)."""


def is_projected(kind: str, turn_id: str | None, reverted: Collection[str]) -> bool:
    """Whether an event of ``kind`` in ``turn_id`` is folded into state, the turns in
    ``reverted`` being rewound."""
    return turn_id is None or turn_id not in reverted or kind in LIFECYCLE_KINDS


def shown_reverted(kind: str, turn_id: str | None, reverted: Collection[str]) -> bool:
    """Whether the event log marks an event "reverted": it belongs to a turn a rewind
    undid (its lifecycle too: the turn itself reads reverted), and is not the
    ``turns_reverted`` that did it."""
    return turn_id is not None and turn_id in reverted and kind != "turns_reverted"
