"""Server-sent events framing (§11.2 ``/api/chats/{id}/stream``).

Each event is ``event: <name>`` plus one ``data:`` line of JSON. A comment line
(``: keep-alive``) goes out when nothing happened for ``keepalive_s`` so proxies
and browsers keep the connection open; the stream ends when the client goes away
(Starlette cancels the generator on ``http.disconnect``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

RETRY_MS = 2000
END_EVENTS = frozenset({"closed"})
"""Published when the runtime stops: the stream ends so the server can shut down."""


def frame(event: str, data: Any) -> bytes:
    """One SSE event; the JSON is one line, so no ``data:`` splitting is needed."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"event: {event}\ndata: {text}\n\n".encode()


async def sse_stream(
    receive_next: Callable[[], Awaitable[tuple[str, Any]]], *, keepalive_s: float
) -> AsyncIterator[bytes]:
    """Frames from ``await receive_next()`` -> (event, data); a keep-alive comment when idle.
    Ends after an event in `END_EVENTS`."""
    yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
    while True:
        item = None
        with anyio.move_on_after(keepalive_s):
            item = await receive_next()
        if item is None:
            yield b": keep-alive\n\n"
            continue
        event, data = item
        if event in END_EVENTS:
            return
        yield frame(event, data)
