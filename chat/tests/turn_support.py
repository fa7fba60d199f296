"""Helpers for the turn tests: a started runtime on a real data directory, scripted model."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from chat.config import Settings
from chat.db.connection import open_db
from chat.eventlog.log import Event, read_events
from chat.llm.base import Backend
from chat.llm.scripted import ScriptedBackend
from chat.runtime.runtime import Runtime

MARA = {
    "name": "Mara",
    "persona": "A harbour pilot who knows every current.",
    "traits": ["blunt", "loyal"],
    "voice_samples": ["Tide waits for no one."],
    "initial_relationship_to_you": "coworker",
}


def write_script(path: Path, rules: list[dict[str, Any]]) -> Path:
    """Write a scripted-backend script; a later write is picked up (mtime changes)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")
    if path.stat().st_mtime_ns == before:  # same clock tick: force a visible change
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    return path


@asynccontextmanager
async def running(
    data_dir: Path,
    rules: list[dict[str, Any]] | None = None,
    *,
    backend: Backend | None = None,
    **settings: Any,
) -> AsyncIterator[Runtime]:
    """A started runtime with a scripted backend (script file ``data_dir/../script.json``)."""
    if backend is None:
        script = write_script(data_dir.parent / "script.json", rules or [])
        backend = ScriptedBackend(ScriptedBackend.Options(script_path=script))
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted", **settings), backend=backend)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def events(data_dir: Path, **filters: Any) -> list[Event]:
    with open_db(data_dir / "kith.db") as conn:
        return read_events(conn, limit=100_000, **filters)


def kinds(data_dir: Path, **filters: Any) -> list[str]:
    return [e.kind for e in events(data_dir, **filters)]


async def one_to_one(rt: Runtime, fields: dict[str, Any] | None = None) -> tuple[dict, dict]:
    bot = await rt.author_bot(fields or MARA)
    chat = await rt.create_chat([bot["id"]])
    return bot, chat


async def turn(rt: Runtime, chat_id: str, text: str) -> dict[str, Any]:
    """Post ``text``, wait for the turn to finish, return it."""
    _, turn_id = await rt.post_message(chat_id, text)
    await rt.wait_idle(chat_id)
    return rt.get_turn(turn_id)
