"""Rewind in O(turn) and a rebuild at 1M events (§13, issue 15).

For each world size (10k, 100k and 1M events of the realistic mix in core_world) the
log is appended in batches and replayed in bulk, except the last TAIL events (at most a
third of the world), which
are projected the usual way (one commit at a time, as turns do), so the notes of
recent changes (chat/eventlog/undo.py) cover them. Then, timed through `project()`
exactly as the writer runs it:

* rewind of the chat's last turn (target < 100 ms, not growing with the world);
* rewind of the 10 turns before it;
* the same last-turn rewind without the notes (the refold from the start that
  every rewind cost before), side by side, at the sizes up to --compare-max;
* cold load by snapshot + tail (a snapshot written, projections marked for rebuild,
  `cold_load`), the rebuild path of §10.6 (target at 1M: under 10 s).

    python benchmarks/bench_rewind.py [--sizes 10000,100000,1000000] [--json]

Building a 1M-event world takes many minutes; with ``KITH_BENCH_CACHE=DIR`` the
bulk-replayed part of each world is kept in DIR and copied on the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.cold_load_steps import snapshot_then_rebuild
from benchmarks.core_world import realistic_events
from chat.db.connection import database_path, open_db
from chat.db.migrate import apply_migrations
from chat.eventlog import undo
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project, rebuild, reverted_turns

SIZES = (10_000, 100_000, 1_000_000)
# The last events are projected as turns do, so the notes cover them; the app keeps
# 20,000-40,000 events of notes (undo.KEEP_EVENTS), the bench 30,000 or a third of the world.
TAIL = 30_000
BATCH = 5_000
COMMIT = 8  # events per commit in the tail, about one turn
TARGET_MS = 100.0
REBUILD_TARGET_S = 10.0


def _recent_turns(conn: Any, count: int) -> tuple[str, list[str]]:
    """The chat of the newest turn and its ``count`` newest turns that changed state."""
    gone = reverted_turns(conn)
    chat_id = conn.execute(
        "SELECT chat_id FROM events WHERE kind = 'turn_completed' ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]
    turns: list[str] = []
    for (turn_id,) in conn.execute(
        "SELECT turn_id FROM events WHERE chat_id = ? AND kind = 'turn_completed' ORDER BY id DESC",
        (chat_id,),
    ):
        if turn_id not in gone and turn_id not in turns:
            turns.append(turn_id)
        if len(turns) == count:
            break
    return chat_id, turns


def _revert(conn: Any, chat_id: str, turns: list[str]) -> dict[str, Any]:
    append_events(conn, [NewEvent("turns_reverted", {"chat_id": chat_id, "turn_ids": turns},
                                  chat_id=chat_id, actor="user")])
    started, cpu = time.perf_counter(), time.process_time()
    result = project(conn, checkpoints=lambda _c, _u: None)
    ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    return {"turns": len(turns), "ms": round(ms, 2), "cpu_ms": round(cpu_ms, 2),
            "rows_restored": result.rows_restored,
            "events_refolded": result.events_refolded, "refolds": result.refolds}


def _one_turn(conn: Any, chat_id: str, n: int) -> str:
    """A turn as the app writes it, committed as the app commits it: the user's message,
    the reply, a memory, a relationship change and a world fact."""
    bot = conn.execute("SELECT id FROM bots ORDER BY created_event_id LIMIT 1").fetchone()[0]
    turn = f"turn_bench_{n}"
    steps = [
        [NewEvent("message_posted", {"id": f"msg_bench_u{n}", "chat_id": chat_id, "author": "you",
                                     "text": f"bench message {n}"}, chat_id=chat_id, turn_id=turn),
         NewEvent("turn_queued", {"id": turn, "chat_id": chat_id}, chat_id=chat_id, turn_id=turn)],
        [NewEvent("turn_started", {"id": turn}, chat_id=chat_id, turn_id=turn)],
        [NewEvent("message_posted", {"id": f"msg_bench_b{n}", "chat_id": chat_id, "author": bot,
                                     "text": f"bench reply {n}"}, chat_id=chat_id, turn_id=turn)],
        [NewEvent("memory_added", {"id": f"mem_bench_{n}", "owner": bot, "text": f"bench memory {n}",
                                   "importance": 4}, chat_id=chat_id, turn_id=turn),
         NewEvent("edge_changed", {"src": bot, "dst": "you", "affinity_delta": 1 - 2 * (n % 2)},
                  chat_id=chat_id, turn_id=turn),
         NewEvent("world_fact_set", {"key": "bench", "value": f"turn {n}"}, chat_id=chat_id, turn_id=turn)],
        [NewEvent("turn_completed", {"id": turn, "message_ids": [f"msg_bench_b{n}"]},
                  chat_id=chat_id, turn_id=turn)],
    ]
    for events in steps:
        append_events(conn, events)
        project(conn)
    return turn


def _copy(source: Path, target: Path) -> None:
    """Copy a cached world and flush it to disk, so the first timed commits do not wait
    for the kernel to write back a gigabyte of copy (at 1M, a second or more)."""
    shutil.copyfile(source, target)
    with open(target, "rb+") as copied:
        os.fsync(copied.fileno())


def _world(size: int, db: Path, say: Callable[[str], None]) -> None:
    """The world at ``db``: the body replayed in bulk, the tail projected a commit at a
    time. With ``KITH_BENCH_CACHE=DIR`` both stages are kept in DIR: the body, and the
    world after its tail (the same file for every later run, and for other code compared
    against it; at 1M the tail alone takes minutes)."""
    keep = min(TAIL, size // 3)
    cache = Path(os.environ["KITH_BENCH_CACHE"]) if os.environ.get("KITH_BENCH_CACHE") else None
    cached = cache / f"rewind-world-{size}-body{size - keep}.db" if cache else None
    after_tail = cache / f"rewind-world-{size}-tail{keep}.db" if cache else None
    if after_tail is not None and after_tail.exists():
        _copy(after_tail, db)
        apply_migrations(db)
        say(f"  copied the world after its {keep} tail events from {after_tail}")
        return
    events = list(realistic_events(size))
    body, tail = events[:-keep], events[-keep:]
    if cached is not None and cached.exists():
        _copy(cached, db)
        say(f"  copied {len(body)} events from {cached}")
    apply_migrations(db)
    with open_db(db) as conn:
        if cached is None or not cached.exists():
            started = time.perf_counter()
            for start in range(0, len(body), BATCH):
                append_events(conn, body[start : start + BATCH])
            rebuild(conn)
            say(f"  built {len(body)} events in {time.perf_counter() - started:.1f} s")
            if cached is not None:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cached.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(db, cached)
        for start in range(0, len(tail), COMMIT):
            append_events(conn, tail[start : start + COMMIT])
            project(conn)
        if after_tail is not None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(db, after_tail)


def measure(
    size: int, folder: Path, compare: bool, say: Callable[[str], None], rewind_only: bool = False
) -> dict[str, Any]:
    """The rewinds (and, unless ``rewind_only``, the notes-less rewind and the snapshot +
    tail cold load) in a world of ``size`` events."""
    data_dir = folder / f"world-{size}"
    data_dir.mkdir()
    db = database_path(data_dir)
    _world(size, db, say)
    with open_db(db) as conn:
        project(conn)  # nothing to apply: the handlers loaded, the notes checked, as in the app
        chat_id, turns = _recent_turns(conn, 11)
        first = conn.execute(
            f"SELECT MIN(id) FROM events WHERE turn_id IN ({','.join('?' for _ in turns)})", turns
        ).fetchone()[0]
        spanned = conn.execute("SELECT MAX(id) FROM events").fetchone()[0] - first + 1
        last = _revert(conn, chat_id, turns[:1])
        ten = _revert(conn, chat_id, turns[1:11])
        ten["events_spanned"] = spanned
        row: dict[str, Any] = {"events": size, "last_turn": last, "last_10_turns": ten}
        # One person in one chat: 10 turns back to back, nothing of other chats between.
        own = [_one_turn(conn, chat_id, n) for n in range(11)]
        row["own_last_turn"] = _revert(conn, chat_id, own[-1:])
        row["own_last_10_turns"] = _revert(conn, chat_id, own[:10])
        if rewind_only:
            return row
        if compare:
            chat_id, turns = _recent_turns(conn, 1)
            undo.invalidate(conn)  # no notes: the rewind refolds from the start, as before
            conn.commit()
            row["last_turn_without_notes"] = _revert(conn, chat_id, turns)
        timed = snapshot_then_rebuild(conn, data_dir)
        row["snapshot_write_s"], row["snapshot_bytes"] = timed["snapshot_write_s"], timed["snapshot_bytes"]
        row["rebuild_snapshot_tail_s"], row["rebuild_path"] = timed["cold_load_s"], timed["cold_load_path"]
    return row


def run(
    progress: bool = True,
    sizes: tuple[int, ...] = SIZES,
    compare_max: int = 100_000,
    rewind_only: bool = False,
) -> dict[str, Any]:
    say = print if progress else (lambda _m: None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kith-bench-rewind-") as tmp:
        for size in sizes:
            say(f"[rewind] {size} events…")
            rows.append(measure(size, Path(tmp), size <= compare_max, say, rewind_only))
    return {"rows": rows, "target_ms": TARGET_MS, "rebuild_target_s": REBUILD_TARGET_S}


def format_report(result: dict[str, Any]) -> str:
    lines = [
        "| events | rewind last turn | last 10 turns of one chat (mix: chats interleaved) | last turn, 10 turns back to back in one chat | last turn without notes (before) | snapshot write | rebuild: snapshot + tail |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        before = r.get("last_turn_without_notes")
        before_text = "—" if before is None else f"{before['ms']:.0f} ms"
        last, ten, own, own10 = r["last_turn"], r["last_10_turns"], r["own_last_turn"], r["own_last_10_turns"]
        snapshot = "—" if "snapshot_write_s" not in r else f"{r['snapshot_write_s']:.2f} s"
        cold = "—" if "rebuild_path" not in r else f"{r['rebuild_snapshot_tail_s']:.2f} s ({r['rebuild_path']})"
        lines.append(
            f"| {r['events']} | {_ms(last)} ({last['rows_restored']} rows, {last['events_refolded']} events) | "
            f"{_ms(ten)} ({ten['rows_restored']} rows, "
            f"{ten['events_refolded']} of {ten['events_spanned']} events spanned refolded) | "
            f"{_ms(own)} / {_ms(own10)} ({own['events_refolded']} / {own10['events_refolded']} events) | "
            f"{before_text} | {snapshot} | {cold} |"
        )
    return "\n".join(lines)


def _ms(timed: dict[str, Any]) -> str:
    return f"{timed['ms']:.1f} ms (CPU {timed['cpu_ms']:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--compare-max", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rewind-only", action="store_true",
                        help="only the four rewinds: no notes-less rewind, no snapshot + tail")
    args = parser.parse_args()
    result = run(sizes=tuple(int(s) for s in args.sizes.split(",")), compare_max=args.compare_max,
                 rewind_only=args.rewind_only)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
