"""The extraction question (§5.5) names the newest known entities: read from the end of
`entity_names`' order, they are its last ones (ties of first event broken by id)."""

from __future__ import annotations

import random
import sqlite3

from chat.memory.extraction_request import extraction_request, newest_entities
from chat.state.entities import entity_names


def test_the_newest_entities_are_the_last_of_all_of_them(conn: sqlite3.Connection) -> None:
    rnd = random.Random(11)
    for n in range(150):
        conn.execute(
            "INSERT INTO entities (world_id, id, kind, name, aliases, description, facts, first_event_id,"
            " last_event_id) VALUES (?, ?, 'person', ?, '[]', '', '{}', ?, 0)",
            (rnd.choice(["default", "w2"]), f"e{rnd.randrange(10**6):06d}-{n}", f"Name {n}", rnd.randrange(30)),
        )
    for world in ("default", "w2", "nowhere"):
        every = [(eid, name, kind) for eid, (name, kind) in entity_names(conn, world_id=world).items()]
        for count in (0, 1, 7, 60, 500):
            assert newest_entities(conn, world, count) == (every[-count:] if count else [])


def test_the_extraction_question_lists_the_last_60_entities(conn: sqlite3.Connection) -> None:
    for n in range(80):
        conn.execute(
            "INSERT INTO entities (world_id, id, kind, name, aliases, description, facts, first_event_id,"
            " last_event_id) VALUES ('default', ?, 'place', ?, '[]', '', '{}', ?, 0)",
            (f"p{n:02d}", f"Place {n}", n // 3),
        )
    request = extraction_request(conn, chat_id="none", bots=[], user_name="You", user_text="hi", replies=[])
    listed = [line for line in request.messages[0].content.splitlines() if line.startswith("- p")]
    assert listed == [f"- p{n:02d}: Place {n} (place)" for n in range(20, 80)]
