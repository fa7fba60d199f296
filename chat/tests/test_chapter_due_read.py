"""A turn's chapter read rides with extraction's request (session 22): one hop to a reader
thread less a turn, and the same chapters as when it is read on its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chat.state.chapters import last_chapter_text
from chat.tests.test_chapters import LINES, backend, chapters_of
from chat.tests.turn_support import running, turn
from chat.turns import effects, worker

pytestmark = pytest.mark.anyio


async def _long_chat(data_dir: Path, *, alongside: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list, int]:
    if not alongside:  # the chapter's read on its own hop, as before
        original = effects.world_changes

        async def separately(*args: Any) -> Any:
            return await original(*args[:5])

        monkeypatch.setattr(worker, "world_changes", separately)
    data_dir.mkdir(parents=True)
    async with running(data_dir, backend=backend(data_dir), max_replies_per_turn=1) as rt:
        await rt.author_bot({"name": "Mara"})
        chat = await rt.create_chat(["mara"])
        reads = 0
        read = rt.read

        async def counted(fn: Any) -> Any:
            nonlocal reads
            reads += 1
            return await read(fn)

        rt.read = counted  # the worker reads through its host
        for n in range(18):
            assert (await turn(rt, chat["id"], f"Mara, {LINES[n % 6]} ({n})"))["status"] == "completed"
    monkeypatch.undo()
    chapters = [(c["text"], c["message_count"], c["owners"]) for c in chapters_of(data_dir, chat["id"])]
    return chapters, reads


async def test_the_chapter_read_alongside_extraction_writes_the_same_chapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apart, reads_apart = await _long_chat(tmp_path / "apart" / "data", alongside=False, monkeypatch=monkeypatch)
    along, reads_along = await _long_chat(tmp_path / "along" / "data", alongside=True, monkeypatch=monkeypatch)
    assert apart and along == apart  # chapters were due, and came out the same
    assert 0 < reads_apart - reads_along <= 18  # at most one read less a turn


def test_the_last_chapter_is_read_from_the_end_of_an_index(conn: sqlite3.Connection) -> None:
    """`last_chapter_text` reads one row of the chat's chapter order, no sort of them all."""
    rows = [
        (f"ch{i}", "default", "c1", f"m{i}", f"m{i}x", 10 * i + 1, 10 * i + 9, 2, f"chapter {i}", "[]", None, 10 * i + 9, 10 * i + 9, "t")
        for i in range(5)
    ]  # fmt: skip
    conn.executemany(f"INSERT INTO chapters VALUES ({', '.join('?' * 14)})", rows)  # noqa: S608
    asked: list[str] = []
    conn.set_trace_callback(asked.append)
    assert last_chapter_text(conn, "c1") == "chapter 4"
    conn.set_trace_callback(None)
    (sql,) = [s for s in asked if "chapters" in s]
    plan = " | ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "chapters_chat_order" in plan and "TEMP B-TREE" not in plan, plan
