"""Every payload reads back as written (§9): the log stores some fields in a shorter form
(ids the row's columns hold left out, a reply's own recalled observations as ``*<rest>``,
defaults left out) and puts them back on read; a log export and its import keep every
row as stored. Random event sequences, so each form meets the others."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import append_events, iter_events
from chat.eventlog.recalled import recalled_ids
from chat.eventlog.schemas import payload_json
from chat.export import export_log, import_log
from chat.tests.event_strategies import event_sequences

ROWS = "SELECT id, kind, version, payload, created_at, chat_id, turn_id, actor FROM events ORDER BY id"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(event_sequences())
def test_payloads_read_back_as_written_and_survive_a_log_export(events: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "a.db"
        apply_migrations(db)
        with open_db(db) as conn:
            append_events(conn, events)
            for event, read in zip(events, list(iter_events(conn)), strict=True):
                want = json.loads(payload_json(event.kind, event.payload))  # validated, defaults left out
                if "retrieved_memory_ids" in want:
                    want["retrieved_memory_ids"] = recalled_ids(want)  # whole again
                assert read.payload == want, (event.kind, read.payload, want)
            before = conn.execute(ROWS).fetchall()
            exported = export_log(conn, Path(tmp) / "log.jsonl")
        import_log(exported.path, Path(tmp) / "copy")
        with open_db(Path(tmp) / "copy" / "kith.db") as copy:
            assert copy.execute(ROWS).fetchall() == before
