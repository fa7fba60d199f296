"""Upgrading old event payloads when they are read (eventsourcing-style upcasting, §9.4).

Each upcaster turns version n of a kind into version n+1; reading applies them
in a chain until the payload is at the current version. The stored row is
never rewritten: the log is immutable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(kind: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def decorator(fn: Upcaster) -> Upcaster:
        UPCASTERS[(kind, from_version)] = fn
        return fn

    return decorator


def upcast(kind: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    from chat.eventlog.schemas import SCHEMA_VERSIONS

    target = SCHEMA_VERSIONS.get(kind, version)
    while version < target:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise ValueError(f"no upcaster for {kind} v{version} -> v{version + 1}")
        payload = step(payload)
        version += 1
    return payload


def _into_default_world(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 predates worlds (§3.5): everything it wrote belongs to world ``default``."""
    return {**payload, "world_id": payload.get("world_id") or "default"}


def _register_world_upcasters() -> None:
    from chat.eventlog.schemas import WORLD_SCOPED_KINDS

    for kind in WORLD_SCOPED_KINDS:
        UPCASTERS.setdefault((kind, 1), _into_default_world)


_register_world_upcasters()
