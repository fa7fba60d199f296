"""What a turn costs on disk before any payload or text: the floor under §13's "disk per
turn beyond the message text <= 2 KB" for this design (an event log, projections, §10.4's
snapshots).

``python -m benchmarks.disk_floor [--turns 300]`` runs the chat of ``kith bench growth``
(the demo world, 1:1 with Mara, real turns on the scripted backend) and copies the
database at half way and at the end. Each copy is measured as it is and stripped: every
event's payload made ``{}``, every message's and memory's text made empty (the full-text
index follows through its triggers), then vacuumed. The stripped growth per turn is what
the rows themselves cost, with their columns (times, ids, kinds) and indexes: no
encoding of the payloads and no cut of the texts can go below it. The undo notes are
apart, as in ``bench growth`` (bounded to the last 20k-40k events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_growth import disk
from benchmarks.bench_prompt import LINES
from chat.config import Settings
from chat.demo import create_demo_world
from chat.llm.scripted import ScriptedBackend
from chat.runtime.runtime import Runtime

STRIP = (
    "DROP TRIGGER IF EXISTS events_no_update",
    "UPDATE events SET payload = '{}'",
    "UPDATE messages SET text = ''",
    "UPDATE memories SET text = ''",
    "INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')",  # no delete markers left behind
)


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _stripped(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        for sql in STRIP:
            conn.execute(sql)
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()


def _sizes(directory: Path) -> dict[str, int]:
    size = disk(directory)
    tables = {f"table {name}": n for name, n in size["tables"].items()}
    return {"log": size["log"], "projections": size["projections"], "undo": size["undo"], "text": size["text"], **tables}


async def _chat(data_dir: Path, turns: int, copies: Path) -> None:
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted"), backend=ScriptedBackend())
    await rt.start()
    try:
        await create_demo_world(rt)
        chat = await rt.create_chat(["mara"], title="Bench")
        for n in range(turns):
            if n == turns // 2:
                _copy(data_dir / "kith.db", copies / "half" / "kith.db")
            await rt.post_message(chat["id"], f"{LINES[n % len(LINES)]} ({n})")
            await rt.wait_idle(chat["id"], timeout=120)
    finally:
        await rt.stop()
    _copy(data_dir / "kith.db", copies / "end" / "kith.db")


def run(turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kith-disk-floor-") as tmp:
        root = Path(tmp)
        for part in ("data", "half", "end"):
            (root / part / "snapshots").mkdir(parents=True)
        asyncio.run(_chat(root / "data", turns, root))
        added = turns - turns // 2
        result: dict[str, Any] = {"turns": turns}
        for label in ("as_stored", "stripped"):
            if label == "stripped":
                _stripped(root / "half" / "kith.db")
                _stripped(root / "end" / "kith.db")
            else:
                for part in ("half", "end"):  # the same pages as vacuumed, for a fair difference
                    with sqlite3.connect(root / part / "kith.db") as conn:
                        conn.execute("VACUUM")
            half, end = _sizes(root / "half"), _sizes(root / "end")
            result[label] = {key: round((end[key] - half.get(key, 0)) / added) for key in end}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.turns)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    for label in ("as_stored", "stripped"):
        r = result[label]
        print(f"{label:10s} per turn: log {r['log']} B, projections {r['projections']} B,"
              f" log + projections {r['log'] + r['projections']} B (text {r['text']} B; undo notes {r['undo']} B)")  # fmt: skip
        tables = sorted(((k[6:], v) for k, v in r.items() if k.startswith("table ") and v > 0), key=lambda kv: -kv[1])
        print("    " + ", ".join(f"{k} {v}" for k, v in tables if not k.startswith("undo_")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
