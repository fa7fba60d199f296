"""Disk per turn of a long chat, and a 30k-message chat against its SillyTavern JSONL (§13).

Two measurements, both on real SQLite files and real snapshot files:

1. **Real turns.** The demo world, a new 1:1 chat with Mara, ``turns`` turns through the
   real `Runtime` on the scripted backend (periodic snapshots on, as the app runs). The
   disk is read at half way and at the end, so the growth per turn is that of a chat
   already going: the event log (the ``events`` table and its indexes), the projections
   (every other table and index; the undo notes of chat/eventlog/undo.py apart: they
   cover only the last 20k-40k events, so they stop growing) and the snapshot files, each
   per turn, less the bytes of the message texts the turns added (the §13 target is
   <= 2 KB per turn beyond the message text). The log's bytes are also split by event
   kind (payload bytes per turn).
2. **A 30,000-message chat** built through the bulk path of chat/tests/long_chat.py (the
   events a turn appends: your message, ``turn_queued``, the reply, ``turn_completed``;
   validated and projected by the real code), one periodic snapshot written, then
   exported with chat/world/chat_export.py as SillyTavern JSONL. Disk = database + the
   snapshots the app keeps (``KEEP`` of them once the chat is long), against that
   JSONL (target <= 3x). That chat lacks what a live turn adds besides its messages
   (``turn_started``, ``prompt_recorded``, extraction's events); the report adds the
   per-turn bytes of those kinds measured in part 1 for an estimate of a chat written
   turn by turn.

    kith bench growth [--sizes TURNS,MESSAGES]     (default 200,30000)
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_prompt import LINES
from chat.config import Settings
from chat.db.connection import open_db
from chat.demo import create_demo_world
from chat.llm.scripted import ScriptedBackend
from chat.runtime.runtime import Runtime
from chat.snapshots.api import KEEP, take_snapshot
from chat.snapshots.packing import unpacked
from chat.world.chat_export import st_jsonl

SIZES = (200, 30_000)
BULK_KINDS = frozenset({"message_posted", "turn_queued", "turn_completed"})


def disk(data_dir: Path) -> dict[str, Any]:
    """Bytes of the log, the projections and the snapshot files; per table too."""
    with sqlite3.connect(data_dir / "kith.db") as conn:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall())
        kinds = conn.execute(
            "SELECT kind, COUNT(*), SUM(length(CAST(payload AS BLOB))) FROM events GROUP BY kind"
        ).fetchall()
        text = conn.execute("SELECT COALESCE(SUM(length(CAST(text AS BLOB))), 0) FROM messages").fetchone()[0]
    tables = {name: size for name, size in rows if name != "sqlite_schema"}
    log = sum(size for name, size in tables.items() if owner.get(name, name) == "events")
    undo = sum(size for name, size in tables.items() if owner.get(name, name).startswith("undo_"))
    snapshots = sum(p.stat().st_size for p in (data_dir / "snapshots").rglob("*") if p.is_file())
    return {
        "log": log,
        "undo": undo,
        "projections": sum(tables.values()) - log - undo,
        "snapshots": snapshots,
        "text": text,
        "tables": tables,
        "kinds": {kind: (count, size) for kind, count, size in kinds},
    }


async def _turns(data_dir: Path, turns: int) -> tuple[dict[str, Any], dict[str, Any]]:
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted"), backend=ScriptedBackend())
    await rt.start()
    try:
        await create_demo_world(rt)
        chat = await rt.create_chat(["mara"], title="Bench")
        half: dict[str, Any] = {}
        for n in range(turns):
            if n == turns // 2:
                half = disk(data_dir)
            await rt.post_message(chat["id"], f"{LINES[n % len(LINES)]} ({n})")
            await rt.wait_idle(chat["id"], timeout=120)
        return half, disk(data_dir)
    finally:
        await rt.stop()


def _per_turn(half: dict[str, Any], end: dict[str, Any], turns: int) -> dict[str, Any]:
    added = turns - turns // 2
    text = (end["text"] - half["text"]) / added
    parts = {part: (end[part] - half[part]) / added for part in ("log", "projections", "snapshots")}
    undo = (end["undo"] - half["undo"]) / added
    kinds = {
        kind: (size - half["kinds"].get(kind, (0, 0))[1]) / added
        for kind, (_, size) in end["kinds"].items()
    }
    tables = {name: (size - half["tables"].get(name, 0)) / added for name, size in end["tables"].items()}
    return {
        "text_per_turn": round(text),
        **{f"{part}_per_turn": round(value) for part, value in parts.items()},
        "beyond_text_per_turn": round(sum(parts.values()) - text),
        "undo_notes_per_turn": round(undo),
        "log_beyond_text_per_turn": round(parts["log"] - text),
        "payload_per_turn_by_kind": {k: round(v) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]) if v},
        "tables_per_turn": {k: round(v) for k, v in sorted(tables.items(), key=lambda kv: -kv[1]) if v >= 1},
    }


_PROSE = (
    "the fog sat on harbour like a wet sail and lamps along quay burned low somewhere past Teeth"
    " bell rang twice nobody pier would say whose boat it was though everyone had guess most of"
    " guesses were unkind Mara coiled rope Tobias poured chowder tide turned early gulls cried over"
    " nets salt cracked her hands she laughed once then looked away toward lighthouse where keeper"
    " hid brass key under third step while wind pulled at shutters of inn and old men argued about"
    " weather debts ships that never came back"
)
WORDS = _PROSE.split()


def _padding(n: int, size: int = 440) -> str:
    """Words picked by a seeded generator: text that compresses about as prose does
    (a repeated sentence would flatter the compressed snapshots)."""
    pick = random.Random(n)
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < size:
        out.append(pick.choice(WORDS))
    return " " + " ".join(out) + "."


def _long_chat(data_dir: Path, messages: int, long_texts: bool = False) -> dict[str, Any]:
    """The bulk-built chat; ``long_texts``: each message ~500 bytes, like the chat issue 15
    measured (its SillyTavern JSONL: 22.7 MB for 30,001 messages), not ~60."""
    from chat.tests import long_chat
    from chat.tests.long_chat import build_long_chat

    if long_texts:
        short_user, short_bot = long_chat.user_text, long_chat.bot_text
        long_chat.user_text = lambda n: short_user(n) + _padding(2 * n)  # type: ignore[assignment]
        long_chat.bot_text = lambda n: short_bot(n) + _padding(2 * n + 1)  # type: ignore[assignment]
    try:
        chat = build_long_chat(data_dir, messages)
    finally:
        if long_texts:
            long_chat.user_text, long_chat.bot_text = short_user, short_bot
    with open_db(data_dir / "kith.db") as conn:
        written = take_snapshot(conn, data_dir=data_dir)
        jsonl = st_jsonl(conn, chat.chat_id)
    plain = len(unpacked(written.read_bytes(), written.name))
    size = disk(data_dir)
    db = size["log"] + size["projections"] + size["undo"]
    return {
        "undo_bytes": size["undo"],
        "messages": chat.messages,
        "db_bytes": db,
        "log_bytes": size["log"],
        "projection_bytes": size["projections"],
        "snapshot_bytes": size["snapshots"],
        "st_jsonl_bytes": len(jsonl),
        "text_bytes": size["text"],
        "ratio_one_snapshot": round((db + size["snapshots"]) / len(jsonl), 2),
        "ratio_kept_snapshots": round((db + KEEP * size["snapshots"]) / len(jsonl), 2),
        "snapshot_json_bytes": plain,
        "ratio_kept_snapshots_uncompressed": round((db + KEEP * plain) / len(jsonl), 2),
    }


def run(progress: bool = True, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    turns = sizes[0]
    messages = sizes[1] if len(sizes) > 1 else SIZES[1]
    with tempfile.TemporaryDirectory(prefix="kith-bench-growth-") as tmp:
        half, end = asyncio.run(_turns(Path(tmp), turns))
        live = _per_turn(half, end, turns)
    extra = sum(v for k, v in live["payload_per_turn_by_kind"].items() if k not in BULK_KINDS)
    chats = []
    for long_texts in (False, True):
        with tempfile.TemporaryDirectory(prefix="kith-bench-growth-") as tmp:
            long = _long_chat(Path(tmp), messages, long_texts)
        long["long_texts"] = long_texts
        long["live_turn_extra_bytes_estimate"] = round(extra * long["messages"] / 2)
        long["ratio_kept_snapshots_with_live_turn_events"] = round(
            (long["db_bytes"] + KEEP * long["snapshot_bytes"] + long["live_turn_extra_bytes_estimate"])
            / long["st_jsonl_bytes"], 2,
        )  # fmt: skip
        chats.append(long)
    return {"turns": turns, "live": live, "long_chats": chats, "keep_snapshots": KEEP}


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def format_report(r: dict[str, Any]) -> str:
    live = r["live"]
    kinds = ", ".join(f"{k} {v} B" for k, v in live["payload_per_turn_by_kind"].items())
    tables = ", ".join(f"{k} {v} B" for k, v in list(live["tables_per_turn"].items())[:12])
    return "\n".join([
        f"Real turns ({r['turns']}, growth over the second half), per turn:",
        "",
        "| log | projections | snapshots | message text | beyond the text (target <= 2048 B)"
        " | undo notes (bounded: the last 20k-40k events) |",
        "|---|---|---|---|---|---|",
        f"| {live['log_per_turn']} B | {live['projections_per_turn']} B | {live['snapshots_per_turn']} B"
        f" | {live['text_per_turn']} B | **{live['beyond_text_per_turn']} B** (log alone: "
        f"{live['log_beyond_text_per_turn']} B) | {live['undo_notes_per_turn']} B |",
        "",
        f"Log payload per turn by kind: {kinds}.",
        f"Largest tables and indexes per turn: {tables}.",
        "",
        f"{r['long_chats'][0]['messages']:,}-message chat (bulk path) against its SillyTavern JSONL:",
        "",
        "| messages | database (log + projections) | one snapshot | SillyTavern JSONL | ratio, 1 snapshot"
        f" | ratio, {r['keep_snapshots']} snapshots kept | + live-turn events (estimate) |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {'~500' if long['long_texts'] else '~60'} B each (text {_kb(long['text_bytes'])})"
            f" | {_kb(long['db_bytes'])} (log {_kb(long['log_bytes'])}, undo notes {_kb(long['undo_bytes'])})"
            f" | {_kb(long['snapshot_bytes'])} ({_kb(long['snapshot_json_bytes'])} as JSON:"
            f" {long['ratio_kept_snapshots_uncompressed']}x with {r['keep_snapshots']})"
            f" | {_kb(long['st_jsonl_bytes'])} | {long['ratio_one_snapshot']}x | {long['ratio_kept_snapshots']}x"
            f" | {long['ratio_kept_snapshots_with_live_turn_events']}x (target <= 3x) |"
            for long in r["long_chats"]
        ),
    ])  # fmt: skip
