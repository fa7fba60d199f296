"""The backend interface (§7.1): stream a reply, return schema-valid JSON, count tokens.

Like simonw/llm's `Model`: a small abstract class with capability flags and a
pydantic `Options` (extra="forbid") that holds everything the backend needs.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from functools import cached_property, lru_cache
from typing import Any, ClassVar

import pydantic

from chat.errors import GenerationCancelled
from chat.llm.types import JsonRequest, ReplyRequest


class Backend(ABC):
    """A model backend. Built-in ones are registered in `chat.llm.registry` like any other."""

    name: ClassVar[str]
    supports_json_schema: ClassVar[bool] = False
    """True when output is constrained by the schema itself (grammar / response_format)."""
    has_tokenizer: ClassVar[bool] = False
    """True when `count_tokens` is exact for the model, not an approximation."""

    class Options(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")

    options: pydantic.BaseModel

    def __init__(self, options: pydantic.BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        """Yield the reply in pieces; raise `GenerationCancelled` soon after `cancel` is set."""

    @abstractmethod
    async def complete_json(self, req: JsonRequest) -> pydantic.BaseModel:
        """Return a validated instance of `req.schema` (one repair attempt, then ModelOutputInvalid)."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes in this backend's model."""

    @cached_property
    def cached_count_tokens(self) -> Callable[[str], int]:
        """`count_tokens` with a bounded cache that lives and dies with this backend: the
        same transcript is counted every turn, and tokenizing it again is most of the cost
        of assembling a prompt. A swapped-in backend starts with an empty cache."""
        return lru_cache(maxsize=20_000)(self.count_tokens)

    @abstractmethod
    def context_length(self) -> int:
        """Context window of the model, in tokens."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the backend is not used afterwards."""

    async def reply_text(self, req: ReplyRequest, cancel: asyncio.Event | None = None) -> str:
        """The whole reply as one string (convenience over `stream_reply`)."""
        return "".join([piece async for piece in self.stream_reply(req, cancel)])

    def info(self) -> dict[str, Any]:
        """What the UI and /api/health may show about this backend; never secrets."""
        return {"name": self.name}

    async def check(self) -> str | None:
        """Why this backend cannot answer now, in words, or None when nothing is known to
        be wrong. Local backends are checked when built; a server only when asked."""
        return None


def check_cancel(cancel: asyncio.Event | None) -> None:
    """Raise `GenerationCancelled` if the user pressed stop."""
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation stopped by the user")


async def sleep_or_cancel(seconds: float, cancel: asyncio.Event | None) -> None:
    """Sleep, waking early (and raising `GenerationCancelled`) when `cancel` is set."""
    if cancel is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(cancel.wait(), timeout=seconds)
    except TimeoutError:
        return
    check_cancel(cancel)


async def iterate_with_cancel(
    source: AsyncIterator[Any], cancel: asyncio.Event | None
) -> AsyncIterator[Any]:
    """Iterate `source`, giving up as soon as `cancel` is set even while it waits for an item."""
    if cancel is None:
        async for item in source:
            yield item
        return
    check_cancel(cancel)
    waiter = asyncio.ensure_future(cancel.wait())
    step: asyncio.Future[Any] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({step, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if step not in done:
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
                check_cancel(cancel)
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            check_cancel(cancel)
            yield item
    finally:
        pending = [f for f in (waiter, step) if f is not None and not f.done()]
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
