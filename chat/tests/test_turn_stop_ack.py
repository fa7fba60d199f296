"""A stop is answered once the turn's end is committed (§4.3, §10.3).

Answered at once, a kill between the answer and the worker writing the turn's end would
run the stopped turn again on the next start: an acknowledged action lost. These tests
read the database through a connection of their own right after `cancel_turn` returns,
so an answer that comes before the commit fails them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import ReplyRequest
from chat.runtime import turn_api
from chat.tests.turn_support import kinds, one_to_one, running, write_script

pytestmark = pytest.mark.anyio


def committed_status(data_dir: Path, turn_id: str) -> str:
    """The turn's status as another connection sees it: what a crash now would keep."""
    with open_db(data_dir / "kith.db") as conn:
        return str(conn.execute("SELECT status FROM turns WHERE id = ?", (turn_id,)).fetchone()[0])


class Asked(ScriptedBackend):
    """Scripted replies; `asked` is set once the worker has asked for one (the turn runs)."""

    def __init__(self, options: ScriptedBackend.Options) -> None:
        super().__init__(options)
        self.asked = asyncio.Event()

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        self.asked.set()
        async for piece in super().stream_reply(req, cancel):
            yield piece


async def test_a_stop_before_any_reply_is_answered_after_the_failure_is_committed(data_dir: Path) -> None:
    script = write_script(data_dir.parent / "script.json", [{"match": "slow", "reply": "late", "delay_ms": 5000}])
    backend = Asked(ScriptedBackend.Options(script_path=script))
    async with running(data_dir, backend=backend) as rt:
        _, chat = await one_to_one(rt)
        _, turn_id = await rt.post_message(chat["id"], "slow please")
        await backend.asked.wait()  # running in the worker, not only queued
        answered = await rt.cancel_turn(turn_id)
        on_disk = committed_status(data_dir, turn_id)
    assert answered["status"] == "failed" and on_disk == "failed"
    assert kinds(data_dir, turn_id=turn_id)[-1] == "turn_failed"


async def test_a_stop_mid_reply_is_answered_after_the_kept_reply_is_committed(data_dir: Path) -> None:
    backend = ScriptedBackend(ScriptedBackend.Options(token_delay_ms=40))
    async with running(data_dir, backend=backend) as rt:
        _, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        _, turn_id = await rt.post_message(chat["id"], "tell me about the tides in the channel")
        while (await sub.queue.get()).type != "token":
            pass  # the reply has begun
        answered = await rt.cancel_turn(turn_id)
        on_disk = committed_status(data_dir, turn_id)
        replies = [m for m in rt.transcript(chat["id"]) if m["author"] != "you"]
    # §4.3: what came so far is kept, and the turn ends with it
    assert answered["status"] == on_disk == "completed"
    assert len(replies) == 1 and "Mara heard you say: tell me about the tides".startswith(replies[0]["text"])
    assert kinds(data_dir, turn_id=turn_id)[-1] == "turn_completed"


class IgnoresStop(Asked):
    """A model that does not listen to the stop: its reply waits until `release` is set."""

    def __init__(self, options: ScriptedBackend.Options) -> None:
        super().__init__(options)
        self.release = asyncio.Event()

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        self.asked.set()
        await self.release.wait()
        yield "late"


async def test_a_model_that_ignores_the_stop_holds_the_answer_only_so_long(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turn_api, "STOP_WAIT_S", 0.3)
    backend = IgnoresStop(ScriptedBackend.Options())
    async with running(data_dir, backend=backend) as rt:
        _, chat = await one_to_one(rt)
        _, turn_id = await rt.post_message(chat["id"], "hello")
        await backend.asked.wait()
        started = time.monotonic()
        answered = await rt.cancel_turn(turn_id)
        waited = time.monotonic() - started
        backend.release.set()  # the stop takes effect at its first piece
        await rt.wait_idle()
        ended = rt.get_turn(turn_id)
    assert answered["status"] == "running"  # said as it stands; a `turn` event follows
    assert 0.25 <= waited < 5, waited
    assert ended["status"] == "failed"
