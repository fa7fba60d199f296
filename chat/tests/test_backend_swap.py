"""Swapping the backend while a turn runs (settings page): the running turn finishes on
the old backend, which is closed once that turn ends; new turns use the new one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pydantic
import pytest

from chat.llm.scripted import ScriptedBackend
from chat.llm.types import JsonRequest, ReplyRequest
from chat.runtime.backend_slot import BackendSlot
from chat.tests.turn_support import one_to_one, running, turn, write_script

pytestmark = pytest.mark.anyio


class Tracked(ScriptedBackend):
    """A scripted backend that fails loudly when used after `aclose`, like a real client."""

    def __init__(self, script: Path, label: str) -> None:
        super().__init__(ScriptedBackend.Options(script_path=script))
        self.label = label
        self.closed = False
        self.calls: list[str] = []

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        async for piece in super().stream_reply(req, cancel):
            assert not self.closed, f"{self.label} streamed after it was closed"
            yield piece
        self.calls.append("reply")

    async def complete_json(self, req: JsonRequest) -> pydantic.BaseModel:
        assert not self.closed, f"{self.label} was asked for JSON after it was closed"
        self.calls.append(req.purpose)
        return await super().complete_json(req)

    async def aclose(self) -> None:
        self.closed = True


async def test_a_running_turn_finishes_on_the_old_backend(data_dir: Path, tmp_path: Path) -> None:
    old_script = write_script(
        tmp_path / "old.json", [{"match": "", "reply": "old one two three four five", "delay_ms": 60}]
    )
    new_script = write_script(tmp_path / "new.json", [{"match": "", "reply": "new model here"}])
    old, new = Tracked(old_script, "old"), Tracked(new_script, "new")
    async with running(data_dir) as rt:
        await rt.set_backend(old)
        _, chat = await one_to_one(rt)
        sub = rt.bus.subscribe(chat["id"])
        _, turn_id = await rt.post_message(chat["id"], "tell me")
        while (await sub.get(timeout=5)).type != "token":
            pass
        await rt.set_backend(new)
        assert rt.backend is new
        assert not old.closed, "the old backend was closed under a running turn"
        await rt.wait_idle(chat["id"])
        first = rt.get_turn(turn_id)
        assert old.closed, "the old backend stays open after its last turn ended"
        second = await turn(rt, chat["id"], "and now?")
        texts = [m["text"] for m in rt.transcript(chat["id"])]
    assert first["status"] == "completed" and second["status"] == "completed"
    assert texts[-3:] == ["old one two three four five", "and now?", "new model here"]
    assert old.calls == ["reply", "extraction"] and new.calls[0] == "reply"
    assert new.closed  # the runtime owns a backend it was given through set_backend


async def test_an_idle_swap_closes_the_old_backend_at_once(data_dir: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", [])
    first, second = Tracked(script, "first"), Tracked(script, "second")
    async with running(data_dir) as rt:
        given = rt.backend
        await rt.set_backend(first)
        await rt.set_backend(second)
        assert first.closed and not second.closed
        assert rt.backend is second and given is not first


async def test_the_slot_closes_a_replaced_backend_after_its_last_holder() -> None:
    closed: list[str] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    a, b = Fake("a"), Fake("b")
    slot = BackendSlot(a, owned=True)  # type: ignore[arg-type]
    one, two = slot.acquire(), slot.acquire()
    await slot.replace(b)  # type: ignore[arg-type]
    assert slot.acquire() is b and closed == []
    await slot.release(one)
    assert closed == [] and slot.holders(a) == 1
    await slot.release(two)
    assert closed == ["a"] and slot.retired == []
    await slot.close()
    assert closed == ["a", "b"]


async def test_a_backend_passed_in_is_not_closed_by_the_runtime(data_dir: Path) -> None:
    script = write_script(data_dir.parent / "mine.json", [])
    mine = Tracked(script, "mine")
    async with running(data_dir, backend=mine) as rt:
        await rt.set_backend(Tracked(script, "theirs"))
        assert not mine.closed
    assert not mine.closed
