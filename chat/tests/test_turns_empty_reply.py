"""An empty reply (a tiny model that stops at once) is sampled again before the turn fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.llm.scripted import ScriptedBackend
from chat.llm.types import ReplyRequest
from chat.tests.turn_support import events, one_to_one, running, turn

pytestmark = pytest.mark.anyio


class EmptyAtFirst(ScriptedBackend):
    """The scripted model, but its first ``empty_replies`` replies are whitespace only."""

    def __init__(self, empty_replies: int) -> None:
        super().__init__()
        self.empty_replies = empty_replies
        self.temperatures: list[float] = []

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        self.temperatures.append(req.temperature)
        if len(self.temperatures) <= self.empty_replies:
            yield "  \n"
            return
        async for piece in super().stream_reply(req, cancel):
            yield piece


async def test_one_empty_reply_is_sampled_again_and_the_turn_completes(data_dir: Path) -> None:
    backend = EmptyAtFirst(empty_replies=1)
    async with running(data_dir, backend=backend, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "hello there")
    assert result["status"] == "completed"
    assert len(backend.temperatures) == 2
    assert backend.temperatures[1] > backend.temperatures[0]
    replies = [e for e in events(data_dir, kind="message_posted") if e.payload["author"] != "you"]
    assert [e.payload["text"] for e in replies] == ["Mara heard you say: hello there"]


async def test_two_empty_replies_fail_the_turn_with_a_reason(data_dir: Path) -> None:
    backend = EmptyAtFirst(empty_replies=2)
    async with running(data_dir, backend=backend, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "hello there")
    assert result["status"] == "failed"
    assert result["error"] == "the model gave Mara an empty reply twice; retry the turn"
    authors = [e.payload["author"] for e in events(data_dir, kind="message_posted")]
    assert authors == ["you"]


class EmptyFor(ScriptedBackend):
    """The scripted model, but every reply of the bots in ``silent`` is empty."""

    def __init__(self, silent: set[str]) -> None:
        super().__init__()
        self.silent = silent
        self.asked: list[str] = []

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        self.asked.append(req.bot_id)
        if req.bot_id in self.silent:
            yield ""
            return
        async for piece in super().stream_reply(req, cancel):
            yield piece


async def _group(rt) -> dict:  # noqa: ANN001 - the runtime
    await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
    await rt.author_bot({"name": "Bo", "talkativeness": 0.5})
    return await rt.create_chat(["ana", "bo"])


@pytest.mark.parametrize("silent", ["ana", "bo"])
async def test_a_silent_speaker_of_a_group_is_skipped_and_the_turn_completes(
    data_dir: Path, silent: str
) -> None:
    backend = EmptyFor({silent})
    async with running(data_dir, backend=backend, extraction_enabled=False) as rt:
        chat = await _group(rt)
        result = await turn(rt, chat["id"], "Evening, both")
    assert result["status"] == "completed" and result["error"] is None
    assert backend.asked.count(silent) == 2  # sampled once more before skipping
    authors = [e.payload["author"] for e in events(data_dir, kind="message_posted")]
    other = "bo" if silent == "ana" else "ana"
    assert authors == ["you", other]
    completed = events(data_dir, kind="turn_completed")[-1].payload
    name = silent.title()
    assert completed["skipped"] == {silent: f"the model gave {name} an empty reply twice; retry the turn"}


async def test_a_group_turn_fails_only_when_nobody_replied(data_dir: Path) -> None:
    backend = EmptyFor({"ana", "bo"})
    async with running(data_dir, backend=backend, extraction_enabled=False) as rt:
        chat = await _group(rt)
        result = await turn(rt, chat["id"], "Evening, both")
    assert result["status"] == "failed"
    assert "Ana an empty reply twice" in result["error"] and "Bo an empty reply twice" in result["error"]
    assert [e.payload["author"] for e in events(data_dir, kind="message_posted")] == ["you"]
