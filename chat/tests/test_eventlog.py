"""The event log (§3.3, §9.1–§9.4): validation, immutability, reading, projection basics."""

from __future__ import annotations

import sqlite3

import pytest

from chat.errors import PayloadTooLarge, ProjectionFailed, UnknownEventKind, ValidationFailed
from chat.eventlog import upcasting
from chat.eventlog.log import NewEvent, append_event, append_events, last_event_id, read_events
from chat.eventlog.projector import canonical_dump, get_cursor, handles, project, rebuild
from chat.eventlog.schemas import SCHEMA_VERSIONS
from chat.state.chats import get_turn
from chat.state.edges import get_edge
from chat.state.entities import get_bot, get_entity
from chat.state.manual_edit import prepare_manual_edit
from chat.state.memory import get_memory


def _bot(bot_id: str = "ada", **extra: object) -> dict:
    return {"id": bot_id, "name": bot_id.capitalize(), **extra}


def _count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def test_append_returns_growing_ids_and_reads_back(conn: sqlite3.Connection) -> None:
    first = append_event(conn, kind="bot_authored", payload=_bot(), actor="user")
    second = append_event(conn, kind="world_fact_set", payload={"key": "weather", "value": "rain"},
                          chat_id="c1", turn_id="t1", actor="model")
    assert second == first + 1 == last_event_id(conn)
    events = read_events(conn)
    assert [e.id for e in events] == [first, second]
    assert events[0].payload["persona"] == ""  # defaults are filled in before storing
    assert events[1].to_dict() | {"created_at": None} == {
        "id": second, "kind": "world_fact_set", "payload": {"key": "weather", "value": "rain"},
        "created_at": None, "chat_id": "c1", "turn_id": "t1", "actor": "model",
    }
    assert events[1].created_at.endswith("Z")


def test_read_events_filters(conn: sqlite3.Connection) -> None:
    append_events(conn, [
        NewEvent("world_fact_set", {"key": "a", "value": "1"}, chat_id="c1"),
        NewEvent("world_fact_set", {"key": "b", "value": "2"}, chat_id="c2", turn_id="t9"),
        NewEvent("world_fact_deleted", {"key": "a"}, chat_id="c1"),
    ])
    assert [e.id for e in read_events(conn, kind="world_fact_set")] == [1, 2]
    assert [e.id for e in read_events(conn, chat_id="c1")] == [1, 3]
    assert [e.id for e in read_events(conn, turn_id="t9")] == [2]
    assert [e.id for e in read_events(conn, after=1, limit=1)] == [2]


def test_batched_append_is_all_or_nothing(conn: sqlite3.Connection) -> None:
    ids = append_events(conn, [NewEvent("bot_authored", _bot("a1")), NewEvent("bot_authored", _bot("a2"))])
    assert ids == [1, 2]
    with pytest.raises(ValidationFailed, match="importance"):
        append_events(conn, [
            NewEvent("world_fact_set", {"key": "k", "value": "v"}),
            NewEvent("memory_added", {"id": "m1", "owner": "a1", "text": "x", "importance": 11}),
        ])
    assert _count(conn) == 2


@pytest.mark.parametrize(
    ("kind", "payload", "field", "rule"),
    [
        ("bot_authored", {"id": "ada"}, "name", "required field is missing"),
        ("bot_authored", {"id": "Not A Slug", "name": "Ada"}, "id", "should match pattern"),
        ("memory_added", {"id": "m1", "owner": "ada", "text": "x", "importance": 11}, "importance",
         "less than or equal to 10"),
        ("memory_added", {"id": "m1", "owner": "ada", "text": "x", "importance": 0}, "importance",
         "greater than or equal to 1"),
        ("edge_changed", {"src": "ada", "dst": "you", "affinity_delta": 25}, "affinity_delta",
         "less than or equal to 10"),
        ("world_fact_set", {"key": "k", "value": "v", "colour": "red"}, "colour", "unknown field"),
        ("bot_revised", {"id": "ada", "changes": {"wings": 2}}, "changes", "unknown bot field"),
    ],
)
def test_validation_names_the_field_and_appends_nothing(
    conn: sqlite3.Connection, kind: str, payload: dict, field: str, rule: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        append_event(conn, kind=kind, payload=payload)
    assert caught.value.field == field
    assert field in caught.value.message and rule in caught.value.message
    assert _count(conn) == 0


def test_unknown_kind_is_an_error(conn: sqlite3.Connection) -> None:
    with pytest.raises(UnknownEventKind, match="unknown event kind 'bot_deleted'") as caught:
        append_event(conn, kind="bot_deleted", payload={"id": "ada"})
    assert caught.value.field == "kind"
    assert _count(conn) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"actor": "robot"}, "actor"),
        ({"chat_id": "bad id with spaces"}, "chat_id"),
        ({"turn_id": ""}, "turn_id"),
    ],
)
def test_envelope_fields_are_validated(conn: sqlite3.Connection, kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        append_event(conn, kind="world_fact_set", payload={"key": "k", "value": "v"}, **kwargs)
    assert caught.value.field == field
    assert _count(conn) == 0


def test_non_object_and_oversized_payloads_are_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValidationFailed, match="must be a JSON object"):
        append_event(conn, kind="world_fact_set", payload=["k", "v"])  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLarge):
        append_event(conn, kind="proposal_dropped", payload={"reason": "r", "proposal": "x" * 9_000_000})
    with pytest.raises(ValidationFailed, match="cannot be stored as JSON"):
        append_event(conn, kind="proposal_dropped", payload={"reason": "r", "proposal": object()})
    assert _count(conn) == 0


def test_the_log_refuses_update_and_delete(conn: sqlite3.Connection) -> None:
    append_event(conn, kind="world_fact_set", payload={"key": "k", "value": "v"})
    with pytest.raises(sqlite3.IntegrityError, match="refuses UPDATE"):
        conn.execute("UPDATE events SET payload = '{}' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="refuses DELETE"):
        conn.execute("DELETE FROM events WHERE id = 1")
    assert read_events(conn)[0].payload == {"key": "k", "value": "v"}


def test_project_applies_once_and_moves_the_cursor(conn: sqlite3.Connection) -> None:
    append_event(conn, kind="bot_authored", payload=_bot(initial_relationship_to_you="coworker"))
    result = project(conn)
    assert (result.applied, result.last_event_id, get_cursor(conn)) == (1, 1, 1)
    assert project(conn).applied == 0
    assert get_bot(conn, "ada")["name"] == "Ada"
    assert get_entity(conn, "you")["kind"] == "you"
    assert get_edge(conn, "ada", "you")["label"] == "coworker"


def test_a_failing_handler_rolls_the_batch_back_and_names_the_event(conn: sqlite3.Connection) -> None:
    append_event(conn, kind="world_fact_set", payload={"key": "fine", "value": "v"})
    append_event(conn, kind="memory_added", payload={"id": "m1", "owner": "ada", "text": "x", "importance": 3})
    append_event(conn, kind="memory_added", payload={"id": "m1", "owner": "ada", "text": "y", "importance": 3})
    with pytest.raises(ProjectionFailed, match="event 3 \\(memory_added\\)") as caught:
        project(conn)
    assert (caught.value.event_id, caught.value.kind) == (3, "memory_added")
    assert get_cursor(conn) == 0
    assert conn.execute("SELECT COUNT(*) FROM world_facts").fetchone()[0] == 0


def test_rebuild_equals_incremental(conn: sqlite3.Connection) -> None:
    append_event(conn, kind="bot_authored", payload=_bot())
    project(conn)
    append_event(conn, kind="edge_changed", payload={"src": "ada", "dst": "you", "affinity_delta": 7})
    append_event(conn, kind="memory_added",
                 payload={"id": "m1", "owner": "ada", "text": "likes tea", "importance": 4})
    project(conn)
    incremental = canonical_dump(conn)
    assert rebuild(conn).last_event_id == 3
    assert canonical_dump(conn) == incremental
    hits = conn.execute("SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'tea'").fetchall()
    assert len(hits) == 1  # the full-text index is rebuilt with the rows


def test_rewind_reverts_the_turns_state_but_keeps_the_turn_visible(conn: sqlite3.Connection) -> None:
    append_event(conn, kind="bot_authored", payload=_bot())
    append_event(conn, kind="turn_queued", payload={"id": "t1", "chat_id": "c1"}, turn_id="t1")
    append_event(conn, kind="memory_added", turn_id="t1",
                 payload={"id": "m1", "owner": "ada", "text": "x", "importance": 3})
    append_event(conn, kind="edge_changed", turn_id="t1",
                 payload={"src": "ada", "dst": "you", "affinity_delta": 10})
    append_event(conn, kind="turn_completed", payload={"id": "t1"}, turn_id="t1")
    project(conn)
    assert get_memory(conn, "m1") is not None and get_edge(conn, "ada", "you")["affinity"] == 10
    append_event(conn, kind="turns_reverted", payload={"chat_id": "c1", "turn_ids": ["t1"]})
    assert project(conn).refolds == 1
    assert get_memory(conn, "m1") is None and get_edge(conn, "ada", "you")["affinity"] == 0
    assert get_turn(conn, "t1")["status"] == "reverted"
    # A late event of the reverted turn changes nothing, and its status stays "reverted".
    append_event(conn, kind="turn_failed", payload={"id": "t1", "reason": "cancelled"}, turn_id="t1")
    append_event(conn, kind="world_fact_set", payload={"key": "k", "value": "v"}, turn_id="t1")
    project(conn)
    assert get_turn(conn, "t1")["status"] == "reverted"
    assert conn.execute("SELECT COUNT(*) FROM world_facts").fetchone()[0] == 0
    assert len(read_events(conn)) == 8  # reverted events stay in the log


def test_manual_edit_of_a_deleted_field_needs_the_delete_action(conn: sqlite3.Connection) -> None:
    append_event(conn, kind="memory_added", payload={"id": "m1", "owner": "ada", "text": "x", "importance": 3})
    project(conn)
    with pytest.raises(ValidationFailed, match="action 'delete'"):
        prepare_manual_edit(conn, "memory", "m1", "deleted", True)
    payload = prepare_manual_edit(conn, "memory", "m1", "deleted", action="delete")
    append_event(conn, kind="manual_edit", payload=payload, actor="user")
    project(conn)
    assert get_memory(conn, "m1") is None


def test_old_payload_versions_are_upcast_when_read(conn: sqlite3.Connection, monkeypatch) -> None:
    conn.execute(
        "INSERT INTO events (kind, version, payload, created_at) VALUES"
        " ('world_fact_set', 1, '{\"name\": \"k\", \"value\": \"v\"}', '2026-01-01T00:00:00Z')"
    )
    monkeypatch.setitem(SCHEMA_VERSIONS, "world_fact_set", 2)
    monkeypatch.setitem(upcasting.UPCASTERS, ("world_fact_set", 1),
                        lambda p: {"key": p["name"], "value": p["value"]})
    event = read_events(conn)[0]
    assert event.payload == {"key": "k", "value": "v"} and event.version == 1
    raw = conn.execute("SELECT payload FROM events").fetchone()[0]
    assert '"name"' in raw  # the stored row is never rewritten


def test_unknown_kind_in_the_log_stops_projection_with_its_id(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO events (kind, payload, created_at) VALUES ('mystery', '{}', '2026-01-01T00:00:00Z')"
    )
    with pytest.raises(ProjectionFailed, match="no projection handler for event 1 of kind 'mystery'"):
        project(conn)


def test_handles_registers_once() -> None:
    def handler(conn: sqlite3.Connection, event: object) -> None:
        return None

    from chat.eventlog import projector

    handles("test_only_kind")(handler)
    handles("test_only_kind")(handler)
    try:
        assert projector._HANDLERS["test_only_kind"] == [handler]
    finally:
        del projector._HANDLERS["test_only_kind"]
