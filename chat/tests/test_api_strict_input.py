"""HTTP API input is taken as given (§6.3, §12.3): JSON types are never coerced, world keys
follow the rule of §5.5, limits are the event schemas' own, a PATCH lands whole or not
at all, and a missing bot in a new chat is named by the request's field (§3.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat.eventlog.log import NewEvent
from chat.tests.api_support import (
    api_log_end,
    assert_error,
    log_end,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    runtime_of,
)

pytestmark = pytest.mark.anyio


async def _with_memory(app: Any) -> str:
    payload = {"id": "mem-1", "owner": "ada", "text": "The lamp is lit.", "importance": 5}
    await runtime_of(app).commit(lambda conn: [NewEvent("memory_added", payload)])
    return "mem-1"


async def test_a_new_chat_with_an_unknown_or_retired_bot_names_bot_ids(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        await make_bot(client, id="bo", name="Bo")
        assert (await client.delete("/api/bots/bo")).status_code in (200, 204)
        before = await api_log_end(client)
        for bot_ids in (["no-such-bot"], ["ada", "no-such-bot"], ["bo"]):
            assert_error(await client.post("/api/chats", json={"bot_ids": bot_ids}), 404, "bot_ids")
        assert await api_log_end(client) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/edges/ada/you", {"affinity": True}, "affinity"),
        ("/api/edges/ada/you", {"affinity": "10"}, "affinity"),
        ("/api/edges/ada/you", {"trust": 5.5}, "trust"),
        ("/api/edges/ada/you", {"label": 7}, "label"),
        ("/api/memories/mem-1", {"importance": "5"}, "importance"),
        ("/api/memories/mem-1", {"importance": True}, "importance"),
        ("/api/entities/ada", {"aliases": "Ada"}, "aliases"),
        ("/api/entities/ada", {"facts": {"age": 30}}, "facts.age"),
    ],
)
async def test_patch_bodies_are_not_coerced(data_dir: Path, path: str, body: dict, field: str) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        await _with_memory(app)
        before = await api_log_end(client)
        assert_error(await client.patch(path, json=body), 422, field)
        assert await api_log_end(client) == before


@pytest.mark.parametrize("value", [True, "10", 10.5, None, [10]])
async def test_a_manual_edit_value_is_not_coerced(data_dir: Path, value: Any) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        before = await api_log_end(client)
        body = {"target_type": "edge", "target_id": "ada/you", "field": "affinity", "value": value}
        assert_error(await client.post("/api/edits", json=body), 422, "value")
        assert await api_log_end(client) == before
        body["value"] = 10
        done = await client.post("/api/edits", json=body)
        assert done.status_code == 200, done.text
        assert (await client.get("/api/edges/ada/you")).json()["affinity"] == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"aliases": ["a"] * 31}, "aliases"),
        ({"aliases": ["a" * 121]}, "aliases"),
        ({"facts": {"k" * 101: "v"}}, "facts"),
        ({"facts": {"k": "v" * 2001}}, "facts"),
        ({"name": "n" * 121}, "name"),
        ({"name": "   "}, "name"),
    ],
)
async def test_entity_edits_keep_the_event_schema_limits(data_dir: Path, body: dict, field: str) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        before = await api_log_end(client)
        assert_error(await client.patch("/api/entities/ada", json=body), 422, field)
        edit = {"target_type": "entity", "target_id": "ada", "field": field, "value": body[field]}
        assert_error(await client.post("/api/edits", json=edit), 422, "value")
        assert await api_log_end(client) == before


@pytest.mark.parametrize("key", ["%00", "Time%20of%20day", "a%0Ab", "weather!", "x" * 61, "_x"])
async def test_a_new_world_key_must_be_a_short_snake_case_name(data_dir: Path, key: str) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = await api_log_end(client)
        assert_error(await client.put(f"/api/world/{key}", json={"value": "v"}), 422, "key")
        edit = {"target_type": "world", "target_id": key.replace("%00", "\x00"), "field": "value",
                "value": "v"}  # fmt: skip
        assert_error(await client.post("/api/edits", json=edit), 422)
        assert await api_log_end(client) == before
        assert (await client.get("/api/world")).json()["facts"] == {}


async def test_an_existing_world_key_stays_editable_whatever_its_shape(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        legacy = NewEvent("world_fact_set", {"key": "time of day", "value": "dawn"})
        await runtime_of(app).commit(lambda conn: [legacy])
        put = await client.put("/api/world/time%20of%20day", json={"value": "dusk"})
        assert put.status_code == 200, put.text
        assert (await client.put("/api/world/time_of_day", json={"value": "dusk"})).status_code == 200
        assert (await client.delete("/api/world/time%20of%20day")).status_code == 200
        assert (await client.get("/api/world")).json()["facts"] == {"time_of_day": "dusk"}


async def test_a_patch_of_several_fields_is_one_write(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        await make_chat(client, ["ada"])
        sub = runtime_of(app).bus.subscribe()
        patch = await client.patch("/api/edges/ada/you", json={"affinity": 20, "trust": -5, "label": "ally"})
        assert patch.status_code == 200, patch.text
        writes = []
        while not sub.queue.empty():
            event = await sub.get(timeout=1)
            if event.type == "state":
                writes.append(event.data)
        sub.close()
    assert len(writes) == 1, writes  # one transaction for the three fields
    assert writes[0]["kinds"] == ["manual_edit"] * 3


async def test_a_patch_with_one_bad_field_appends_nothing(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        await _with_memory(app)
        before = await api_log_end(client)
        bad = await client.patch("/api/memories/mem-1", json={"text": "Changed.", "importance": 11})
        assert_error(bad, 422, "importance")
        bad = await client.patch("/api/edges/ada/you", json={"affinity": 5, "trust": 101})
        assert_error(bad, 422, "trust")
        assert await api_log_end(client) == before
        assert (await client.get("/api/memories/mem-1")).json()["text"] == "The lamp is lit."
    assert log_end(data_dir) == before
