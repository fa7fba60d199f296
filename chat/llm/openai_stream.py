"""Reading an OpenAI-compatible server's answers: the SSE reply stream and error bodies.

Kept apart from the backend's request and retry logic so each stays short; the
server's text is untrusted, so everything quoted back is cut and scrubbed of keys.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from chat.errors import BackendError, BackendTimeout


def message_content(data: Any) -> str:
    """``choices[0].message.content`` of a non-streamed answer ("" when not a string)."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise BackendError("the model server's answer has no choices[0].message") from None
    return content if isinstance(content, str) else ""


def server_message(body: bytes, scrub: Callable[[str], str]) -> str:
    """The error message in a server's body (JSON ``error``/``detail``/``message`` or text)."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return scrub(text.strip()[:300])
    message: Any = data
    if isinstance(data, dict):
        message = data.get("error", data.get("detail", data.get("message", data)))
        if isinstance(message, dict):
            message = message.get("message", message)
    return scrub(str(message)[:300])


async def stream_pieces(
    response: httpx.Response, base_url: str, timeout: float, scrub: Callable[[str], str]
) -> AsyncIterator[str]:
    """The reply's text pieces from an SSE stream (or one JSON answer when the server
    ignored ``stream``); raises BackendError when the stream breaks before a finish_reason."""
    if response.headers.get("content-type", "").startswith("application/json"):
        yield message_content(json.loads(await response.aread()))  # server ignored stream
        return
    finished = False
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break  # complete only if a finish_reason came first
            try:
                chunk = json.loads(data)
            except ValueError:
                raise BackendError(
                    f"the model server at {base_url} sent a malformed stream event: "
                    f"{scrub(data[:120])!r}"
                ) from None
            if isinstance(chunk, dict) and chunk.get("error"):
                raise BackendError(
                    f"the model server at {base_url} failed mid-reply: "
                    f"{server_message(data.encode(), scrub)}"
                )
            for choice in (chunk.get("choices") or [])[:1]:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield piece
                if choice.get("finish_reason"):
                    finished = True
    except httpx.TimeoutException:
        if not finished:
            raise BackendTimeout(
                f"the model server at {base_url} stopped sending tokens for "
                f"{timeout:g}s; the reply is incomplete"
            ) from None
    except httpx.TransportError as exc:
        if not finished:
            raise BackendError(
                f"the connection to the model server at {base_url} dropped before the "
                f"reply finished ({type(exc).__name__}); retry the turn"
            ) from None
    if not finished:
        raise BackendError(
            f"the model server at {base_url} ended the stream before the reply "
            "finished (no finish_reason; another request may have interrupted it); "
            "retry the turn"
        )
