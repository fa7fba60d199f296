"""The one FTS5 query builder (chat/state/fts.py): always safe, and the UI's memory
search splits words exactly as recall does (architecture review §5.1 item 4)."""

from __future__ import annotations

import sqlite3

import pytest

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.state.fts import fts_query, fts_terms
from chat.state.memory import search_memories


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('say "hello', '"say" OR "hello"'),
        ("lamp NEAR(tide, 2)", '"lamp" OR "near" OR "tide"'),
        ("foo* AND bar", '"foo" OR "bar"'),
        ("(a OR b) NOT c)", '"b" OR "c"'),
        ("col:value ^start -minus +plus", '"col" OR "value" OR "start" OR "minus" OR "plus"'),
        ("the and of", None),
        ("", None),
        ("'; DROP TABLE memories; --", '"drop" OR "table" OR "memories"'),
        ("Café crème", '"café" OR "crème"'),
        ("lamp lamp LAMP", '"lamp"'),
    ],
)
def test_fts_query_is_always_safe(conn: sqlite3.Connection, text: str, expected: str | None) -> None:
    query = fts_query(text)
    assert query == expected
    if query is not None:  # never an FTS syntax error
        conn.execute("SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?", (query,)).fetchall()


def test_fts_query_keeps_the_longest_words_when_there_are_many() -> None:
    text = " ".join(f"w{i:02d}" + "x" * (i % 5) for i in range(40))
    assert fts_query(text, max_terms=4) == '"w04xxxx" OR "w09xxxx" OR "w14xxxx" OR "w19xxxx"'


def test_ui_search_drops_the_words_recall_drops(conn: sqlite3.Connection) -> None:
    events = [NewEvent("bot_authored", {"id": "mara", "name": "Mara"})]
    texts = {"m1": "The lamp of the lighthouse broke.", "m2": "Fish prices went up."}
    events += [
        NewEvent("memory_added", {"id": mid, "owner": "mara", "text": text, "importance": 5})
        for mid, text in texts.items()
    ]
    append_events(conn, events)
    project(conn)
    assert search_memories(conn, "the of") == []  # only stopwords: recall finds nothing either
    assert fts_terms("the of") == []
    assert [m["id"] for m in search_memories(conn, "Is THE LAMP fixed?")] == ["m1"]
    assert {m["id"] for m in search_memories(conn, "lamp prices", owner="mara")} == {"m1", "m2"}
    assert len(search_memories(conn, "lamp prices", limit=1)) == 1
    assert search_memories(conn, "lamp", owner="bo") == []
