"""The runtime's model backend, swappable while turns run (settings page, §7, §11.1).

A turn takes the backend once, when it starts, and keeps it to the end: a settings
change in the middle must neither move a half-streamed reply to another model nor
close the connection (or free the model) it streams from. So a replaced backend
stays open until the last turn holding it lets go, and is closed then.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.llm.base import Backend

log = logging.getLogger(__name__)


class BackendSlot:
    """The current backend, plus replaced ones still held by running turns.

    ``owned``: close the backend when it is replaced or at stop (one the caller passed
    in, as tests do, is theirs to close; every backend set later is the runtime's).
    """

    def __init__(self, backend: Backend | None = None, *, owned: bool = True) -> None:
        self.current = backend
        self.owned = owned
        self._holders: dict[int, int] = {}
        self._retired: dict[int, Backend] = {}

    def holders(self, backend: Backend) -> int:
        """How many turns hold ``backend`` now."""
        return self._holders.get(id(backend), 0)

    @property
    def retired(self) -> list[Backend]:
        """Replaced backends that stay open until their turns finish."""
        return list(self._retired.values())

    def acquire(self) -> Backend:
        """The current backend, held until `release`: a turn calls this once, as it starts."""
        backend = self.current
        if backend is None:
            raise RuntimeError("the runtime has not started")
        self._holders[id(backend)] = self.holders(backend) + 1
        return backend

    async def release(self, backend: Backend) -> None:
        """Let go of ``backend``; the last holder of a replaced one closes it."""
        key = id(backend)
        left = self.holders(backend) - 1
        if left > 0:
            self._holders[key] = left
            return
        self._holders.pop(key, None)
        retired = self._retired.pop(key, None)
        if retired is not None:
            await _close(retired)

    async def replace(self, backend: Backend) -> None:
        """Use ``backend`` for turns that start from now on; the old one is closed now when
        no turn holds it, else when the last one finishes."""
        old, owned = self.current, self.owned
        self.current, self.owned = backend, True
        if old is None or old is backend or not owned:
            return
        if self.holders(old):
            self._retired[id(old)] = old
        else:
            await _close(old)

    async def close(self) -> None:
        """Close the current backend (when owned) and any replaced one still open."""
        current, self.current = self.current, None
        retired, self._retired = list(self._retired.values()), {}
        self._holders.clear()
        for backend in retired:
            await _close(backend)
        if current is not None and self.owned:
            await _close(current)


async def _close(backend: Backend) -> None:
    try:
        await backend.aclose()
    except Exception:  # noqa: BLE001 - a backend that fails to close must not fail a turn
        log.warning("closing the %s backend failed", getattr(backend, "name", "?"), exc_info=True)
