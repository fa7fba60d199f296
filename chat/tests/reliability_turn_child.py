"""Child process for the turn-level kill -9 tests (§14.1, §10.3): a runtime taking turns.

``python -m chat.tests.reliability_turn_child DATA_DIR MODE SEED``

It starts a `Runtime` like the app does (migrate, cold load, recover turns) with
the scripted backend, which streams word by word with a small delay so a kill
lands mid-reply. Every line it prints is something the parent may rely on; each
is printed only after the runtime returned, i.e. after the commit:

* ``ready {json}``    after start: the cold-load path and every turn's status
                      and error, read before this process retries anything
* ``ack CHAT MSG TURN {text as json}``  post_message returned (the API's 202)
* ``regen CHAT TURN`` regenerate returned
* ``retry TURN``      retry_turn returned
* ``stop TURN``       printed just before cancel_turn (the user stops a turn now and
                      then): its replies may be stored as far as they got
* ``stopped TURN``    cancel_turn returned (the API acknowledged the stop): the turn's
                      end is committed, so no later start runs it again
* ``turn TURN STATUS`` a turn ended (completed or failed)
* ``settled {json}``  (mode settle) every turn has finished; the process exits

Modes: ``talk`` posts to a 1:1 and a group chat in parallel until it is killed,
with a periodic snapshot every few turns (written while turns run, so kills land
during snapshots too). ``settle`` retries what crashes left failed and waits for
every turn. ``hold`` posts one message to a backend whose extraction never
answers and prints ``stored TURN`` once the reply is stored (the parent kills
it there: between the stored reply and ``turn_completed``). ``hang`` posts one
message to a backend whose reply never comes and prints ``started TURN`` once
the turn runs (the parent kills it there: before any reply); ``idle`` only
starts, on that model (what it recovers never ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic

from chat.config import Settings
from chat.errors import Conflict
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import JsonRequest, ReplyRequest
from chat.runtime.runtime import Runtime

MARA = {"name": "Mara", "persona": "A harbour pilot.", "traits": ["blunt"]}
FINN = {"name": "Finn", "persona": "A ferryman who hums.", "traits": ["cheerful"]}
CHATS = {"one": ["mara"], "group": ["mara", "finn"]}
TOKEN_DELAY_MS = 2
SNAPSHOT_EVERY_EVENTS = 12


class HeldExtraction(ScriptedBackend):
    """Scripted replies; extraction waits forever (a model that hangs after the reply)."""

    async def complete_json(self, req: JsonRequest) -> pydantic.BaseModel:
        if req.purpose == "extraction":
            await asyncio.Event().wait()
        return await super().complete_json(req)


class HeldReply(ScriptedBackend):
    """A model that never starts its reply."""

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        await asyncio.Event().wait()
        yield ""  # never reached: makes this an async generator like the real one


def say(*parts: object) -> None:
    print(" ".join(str(p) for p in parts), flush=True)


def make_runtime(data_dir: Path, backend: ScriptedBackend) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        backend="scripted",
        snapshot_every_events=SNAPSHOT_EVERY_EVENTS,
        snapshot_keep=3,
        max_replies_per_turn=2,
    )
    return Runtime(settings, backend=backend)


async def start(rt: Runtime) -> None:
    report = await rt.start()
    rows = await rt.read(
        lambda conn: conn.execute("SELECT id, status, error FROM turns").fetchall()
    )
    turns = {row[0]: [row[1], row[2]] for row in rows}
    say(
        "ready",
        json.dumps({"path": report.path, "quarantined": list(report.quarantined), "turns": turns}),
    )


async def ensure_world(rt: Runtime) -> dict[str, str]:
    """Bots and chats, created once; a kill during setup is picked up on the next start."""
    known = {bot["id"] for bot in rt.list_bots()}
    for fields in (MARA, FINN):
        if fields["name"].lower() not in known:
            await rt.author_bot(fields)
    chats = {chat["title"]: chat["id"] for chat in rt.list_chats()}
    for title, bot_ids in CHATS.items():
        if title not in chats:
            chats[title] = (await rt.create_chat(bot_ids, title=title))["id"]
    return {title: chats[title] for title in CHATS}


async def report_turns(rt: Runtime) -> None:
    async with rt.bus.subscribe() as sub:
        async for item in sub:
            if item.type == "turn" and item.data.get("status") in ("completed", "failed"):
                say("turn", item.data["id"], item.data["status"])


async def retry_crashed(rt: Runtime, rng: random.Random, share: float) -> None:
    rows = await rt.read(
        lambda conn: conn.execute(
            "SELECT id FROM turns WHERE status = 'failed' ORDER BY id"
        ).fetchall()
    )
    for (turn_id,) in rows:
        if rng.random() < share:
            await rt.retry_turn(turn_id)
            say("retry", turn_id)


async def talk(rt: Runtime, title: str, chat_id: str, rng: random.Random, tag: str) -> None:
    count = 0
    while True:
        last = rt.transcript(chat_id)[-2:]
        answered = (
            len(last) == 2
            and last[0]["author"] == "you"
            and last[1]["turn_id"] == last[0]["turn_id"]
        )
        if title == "one" and answered and rng.random() < 0.15:
            try:
                turn_id = await rt.regenerate(chat_id)
                say("regen", chat_id, turn_id)
            except Conflict:
                pass
        else:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                text = f"{tag} {title} {count}: is the tide turning?"
                count += 1
                message, turn_id = await rt.post_message(chat_id, text)
                say("ack", chat_id, message["id"], turn_id, json.dumps(text))
                if rng.random() < 0.1:  # the user stops it: a failed turn a later round retries
                    await asyncio.sleep(rng.uniform(0, 0.05))
                    say("stop", turn_id)
                    with contextlib.suppress(Conflict):
                        stopped = await rt.cancel_turn(turn_id)
                        if stopped["status"] not in ("queued", "running"):  # not past STOP_WAIT_S
                            say("stopped", turn_id)
        await rt.wait_turns(chat_id)


async def main(data_dir: Path, mode: str, seed: int) -> None:
    rng = random.Random(seed)
    backend_cls = {"hold": HeldExtraction, "hang": HeldReply, "idle": HeldReply}.get(
        mode, ScriptedBackend
    )
    rt = make_runtime(data_dir, backend_cls(ScriptedBackend.Options(token_delay_ms=TOKEN_DELAY_MS)))
    await start(rt)
    reporter = asyncio.create_task(report_turns(rt))
    chats = await ensure_world(rt)
    if mode == "talk":
        await retry_crashed(rt, rng, share=0.6)
        tag = f"s{seed}"
        await asyncio.gather(
            *(talk(rt, title, chat_id, rng, tag) for title, chat_id in chats.items())
        )
    elif mode == "settle":
        await retry_crashed(rt, rng, share=1.0)
        await rt.wait_idle(timeout=60)
        summary = await rt.read(
            lambda conn: dict(conn.execute("SELECT id, status FROM turns").fetchall())
        )
        await rt.stop()
        reporter.cancel()
        say("settled", json.dumps(summary))
    elif mode == "hold":
        await hold(rt, chats["one"])
    elif mode == "idle":  # what start recovered runs on a model that never answers
        await asyncio.Event().wait()
    elif mode == "hang":
        _, turn_id = await rt.post_message(chats["one"], "Remember this: the buoy moved.")
        while (rt.get_turn(turn_id) or {}).get("status") != "running":
            await asyncio.sleep(0.01)
        say("started", turn_id)
        await asyncio.Event().wait()


async def hold(rt: Runtime, chat_id: str) -> None:
    async with rt.bus.subscribe(chat_id) as sub:
        _, turn_id = await rt.post_message(chat_id, "Remember this: the buoy moved.")
        async for item in sub:
            data: dict[str, Any] = item.data
            if item.type == "message" and data.get("author") != "you":
                say("stored", turn_id)
                break
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
