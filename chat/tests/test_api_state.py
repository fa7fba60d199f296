"""HTTP API: the state panel — entities, edges, memories, world, events, snapshots, manual-edit
history and pins, settings, health (§5, §6, §10.5, §11.2)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chat.config import read_settings_file
from chat.tests.api_support import (
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    say,
)

pytestmark = pytest.mark.anyio


async def _end(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/health")).json()["last_event_id"]


async def _world(client: httpx.AsyncClient, app) -> dict:  # noqa: ANN001 - test helper
    await make_bot(client, id="ada")
    await make_bot(client, id="bo", name="Bo", initial_relationship_to_you="neighbour")
    chat = await make_chat(client, ["ada"])
    await say(app, client, chat["id"], "I found a lighthouse key")
    return chat


async def test_health(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        health = (await client.get("/api/health")).json()
        assert {"status", "last_event_id", "projected_event_id", "backend"} <= set(health)
        assert health["status"] == "ok" and health["backend"] == "scripted"
        assert health["last_event_id"] == health["projected_event_id"] == 0
        await make_bot(client, id="ada")
        health = (await client.get("/api/health")).json()
        assert health["last_event_id"] == health["projected_event_id"] > 0


async def test_entities_read_and_edit(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        ids = [e["id"] for e in (await client.get("/api/entities")).json()]
        assert set(ids) == {"ada", "you"}
        response = await client.patch(
            "/api/entities/you", json={"name": "Sam", "facts": {"job": "keeper"}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Sam" and response.json()["facts"] == {"job": "keeper"}
        assert (await client.get("/api/entities/you")).json()["name"] == "Sam"

        pins = (await client.get("/api/pins")).json()
        assert {(p["target_type"], p["target_id"], p["field"]) for p in pins} == {
            ("entity", "you", "name"),
            ("entity", "you", "facts"),
        }
        history = (await client.get("/api/items/entity/you/history")).json()
        name_change = [h for h in history if h["field"] == "name"][-1]
        assert name_change["old"] == "You" and name_change["new"] == "Sam"
        assert name_change["actor"] == "user"

        before = await _end(client)
        assert_error(await client.get("/api/entities/ghost"), 404)
        assert_error(await client.patch("/api/entities/ghost", json={"name": "x"}), 404)
        assert_error(await client.patch("/api/entities/you", json={"kind": "dragon"}), 422, "kind")
        assert_error(await client.patch("/api/entities/you", json={"name": ""}), 422, "name")
        assert_error(
            await client.patch("/api/entities/you", json={"name": "Ok", "aliases": "nope"}),
            422,
            "aliases",
        )
        assert_error(await client.patch("/api/entities/you", json={}), 422, "body")
        assert_error(await client.patch("/api/entities/you", json={"colour": "x"}), 422, "colour")
        assert await _end(client) == before
        assert (await client.get("/api/entities/you")).json()["name"] == "Sam"


async def test_edges_read_edit_and_history(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        await make_bot(client, id="bo", name="Bo")
        edges = (await client.get("/api/edges")).json()
        assert {(e["src"], e["dst"]) for e in edges} == {("ada", "you"), ("bo", "you")}

        response = await client.patch("/api/edges/ada/you", json={"affinity": 40, "label": "friend"})
        assert response.status_code == 200, response.text
        assert response.json()["affinity"] == 40 and response.json()["label"] == "friend"

        created = await client.patch("/api/edges/ada/bo", json={"trust": -20})
        assert created.status_code == 200, created.text
        assert created.json()["trust"] == -20

        history = (await client.get("/api/edges/ada/you/history")).json()
        assert [h["affinity"] for h in history] == [0, 0, 40]
        assert [h["label"] for h in history] == ["coworker", "friend", "friend"]
        assert [h["actor"] for h in history][1:] == ["user", "user"]

        before = await _end(client)
        assert_error(await client.get("/api/edges/ada/ghost"), 404)
        assert_error(await client.get("/api/edges/ada/ghost/history"), 404)
        assert_error(await client.patch("/api/edges/ada/ghost", json={"trust": 1}), 404, "dst")
        assert_error(await client.patch("/api/edges/ada/you", json={"affinity": 101}), 422,
                     "affinity")
        assert_error(await client.patch("/api/edges/ada/you", json={"trust": "lots"}), 422,
                     "trust")
        assert_error(await client.patch("/api/edges/ada/you", json={"label": ""}), 422, "label")
        assert_error(await client.patch("/api/edges/ada/ada", json={"affinity": 5}), 422)
        assert await _end(client) == before


async def test_memories_list_search_edit_delete(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await _world(client, app)
        listed = (await client.get("/api/memories", params={"owner": "ada"})).json()
        witnessed = [m for m in listed if m["message_id"] is not None]  # §5.3.1
        memories = [m for m in listed if m["message_id"] is None]
        assert len(memories) == 1 and "lighthouse" in memories[0]["text"]
        assert len(witnessed) == 2 and witnessed[-1]["text"] == "You: I found a lighthouse key"
        memory_id = memories[0]["id"]
        assert (await client.get("/api/memories", params={"owner": "bo"})).json() == []

        found = (await client.get("/api/memories", params={"q": "LIGHTHOUSE keys?"})).json()
        assert {memory_id, witnessed[-1]["id"]} <= {m["id"] for m in found}
        assert all("lighthouse" in m["text"].lower() for m in found)
        assert (await client.get("/api/memories", params={"q": "submarine"})).json() == []
        assert (await client.get("/api/memories", params={"q": '"*)( OR'})).status_code == 200

        edited = await client.patch(f"/api/memories/{memory_id}", json={"importance": 9})
        assert edited.status_code == 200 and edited.json()["importance"] == 9

        before = await _end(client)
        assert_error(await client.patch(f"/api/memories/{memory_id}", json={"importance": 11}),
                     422, "importance")
        assert_error(await client.patch(f"/api/memories/{memory_id}", json={"text": ""}), 422,
                     "text")
        assert_error(await client.patch("/api/memories/ghost", json={"importance": 2}), 404)
        assert_error(await client.delete("/api/memories/ghost"), 404)
        assert await _end(client) == before

        deleted = await client.delete(f"/api/memories/{memory_id}")
        assert deleted.status_code == 204
        left = (await client.get("/api/memories")).json()
        assert [m["id"] for m in left] == [m["id"] for m in witnessed]
        assert_error(await client.get(f"/api/memories/{memory_id}"), 404)


async def test_world_facts(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        chat = await _world(client, app)
        put = await client.put("/api/world/weather", json={"value": "fog"})
        assert put.status_code == 200 and put.json() == {"key": "weather", "value": "fog"}
        world = (await client.get("/api/world")).json()
        assert world["facts"] == {"weather": "fog"}
        assert [s["chat_id"] for s in world["scenes"]] == [chat["id"]]

        before = await _end(client)
        assert_error(await client.put("/api/world/weather", json={"value": 3}), 422, "value")
        assert_error(await client.put("/api/world/weather", json={}), 422, "value")
        assert_error(await client.delete("/api/world/ghost"), 404)
        assert await _end(client) == before

        gone = await client.delete("/api/world/weather")
        assert gone.status_code == 200
        assert (await client.get("/api/world")).json()["facts"] == {}


async def test_generic_edit_and_unpin(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        edit = {"target_type": "edge", "target_id": "ada/you", "field": "notes", "value": "hm"}
        response = await client.post("/api/edits", json=edit)
        assert response.status_code == 200, response.text
        assert response.json()["previous"] == "" and response.json()["event_id"] > 0
        assert any(p["target_id"] == "ada/you" for p in (await client.get("/api/pins")).json())
        history = (await client.get("/api/items/edge/ada/you/history")).json()
        assert any(h["field"] == "notes" and h["new"] == "hm" for h in history)

        unpin = await client.post("/api/edits", json={**edit, "action": "unpin", "value": None})
        assert unpin.status_code == 200, unpin.text
        assert (await client.get("/api/pins")).json() == []

        before = await _end(client)
        assert_error(await client.post("/api/edits", json={**edit, "target_type": "planet"}), 422,
                     "target_type")
        assert_error(await client.post("/api/edits", json={**edit, "field": "mood"}), 422, "field")
        assert_error(await client.post("/api/edits", json={**edit, "target_id": "x/y"}), 404)
        assert await _end(client) == before


async def test_events_page_filter_and_errors(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await _world(client, app)
        events = (await client.get("/api/events", params={"limit": 1000})).json()
        ids = [e["id"] for e in events]
        assert ids == sorted(ids) and ids[0] == 1
        assert {"id", "kind", "payload", "created_at", "chat_id", "turn_id"} <= set(events[0])
        assert not any(e["reverted"] for e in events)

        page = (await client.get("/api/events", params={"after": 2, "limit": 3})).json()
        assert [e["id"] for e in page] == [3, 4, 5]
        bots = (await client.get("/api/events", params={"kind": "bot_authored"})).json()
        assert [e["payload"]["id"] for e in bots] == ["ada", "bo"]

        assert_error(await client.get("/api/events", params={"kind": "nope"}), 422, "kind")
        assert_error(await client.get("/api/events", params={"limit": 0}), 422, "limit")
        assert_error(await client.get("/api/events", params={"limit": 5000}), 422, "limit")
        assert_error(await client.get("/api/events", params={"after": -1}), 422, "after")
        assert_error(await client.get("/api/events", params={"after": "x"}), 422, "after")

        # the Event log page's kind filter: every kind the log knows, each one filterable
        from chat.eventlog.schemas import SCHEMAS

        kinds = (await client.get("/api/events/kinds")).json()
        assert kinds == sorted(SCHEMAS) and {"proposal_queued", "persona_set", "lore_set"} <= set(kinds)
        assert (await client.get("/api/events", params={"kind": kinds[-1]})).status_code == 200


async def test_snapshots_take_list_delete(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        taken = await client.post("/api/snapshots")
        assert taken.status_code == 201, taken.text
        snap = taken.json()
        assert snap["kind"] == "manual" and snap["last_event_id"] == await _end(client)
        listed = (await client.get("/api/snapshots")).json()
        assert snap["name"] in [s["name"] for s in listed]
        assert (await client.get(f"/api/snapshots/{snap['name']}")).json()["kind"] == "manual"

        assert_error(await client.get("/api/snapshots/kith.db"), 422, "name")
        sneaky = await client.get("/api/snapshots/..%2F..%2Fkith.db")
        assert sneaky.status_code in (404, 422) and "error" in sneaky.json()
        assert_error(await client.delete("/api/snapshots/kith.db"), 422, "name")
        assert_error(await client.delete("/api/snapshots/20000101T000000Z.json"), 404, "name")
        assert_error(await client.post("/api/snapshots", json={"kind": "periodic"}), 422, "kind")

        gone = await client.delete(f"/api/snapshots/{snap['name']}")
        assert gone.status_code == 204
        assert snap["name"] not in [s["name"] for s in (await client.get("/api/snapshots")).json()]
        assert (data_dir / "kith.db").is_file()


async def test_settings_masked_saved_and_validated(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        settings = (await client.get("/api/settings")).json()
        assert settings["api_key"] is None and settings["backend"] == "scripted"

        put = await client.put(
            "/api/settings", json={"extraction_enabled": False, "api_key": "sk-test-123456"}
        )
        assert put.status_code == 200, put.text
        assert put.json()["extraction_enabled"] is False and put.json()["api_key"] == "***"
        assert (await client.get("/api/settings")).json()["api_key"] == "***"
        saved = read_settings_file(data_dir / "kith.toml")
        assert saved == {"extraction_enabled": False}

        assert_error(await client.put("/api/settings", json={"colour": "red"}), 422, "colour")
        assert_error(await client.put("/api/settings", json={"memory_top_k": 0}), 422,
                     "memory_top_k")
        assert_error(await client.put("/api/settings", json={"data_dir": "/tmp"}), 422, "data_dir")
        assert_error(await client.put("/api/settings", json={"access_token": "t"}), 422,
                     "access_token")
        assert_error(await client.put("/api/settings", json=["x"]), 422)
        assert_error(await client.put("/api/settings", json={"backend": "nope"}), 422, "backend")
        assert_error(
            await client.put("/api/settings", json={"script_path": str(data_dir / "none.json")}),
            422,
            "script_path",
        )
        not_a_script = data_dir / "notes.txt"
        not_a_script.write_text("plain words, not a script")
        assert_error(
            await client.put("/api/settings", json={"script_path": str(not_a_script)}),
            422,
            "script_path",
        )
        not_a_model = data_dir / "model.gguf"
        not_a_model.write_bytes(b"this is not a model")
        for model in (str(not_a_model), str(data_dir / "missing.gguf")):
            assert_error(
                await client.put("/api/settings", json={"backend": "embedded", "model": model}),
                422,
                "model",
            )
        assert read_settings_file(data_dir / "kith.toml") == {"extraction_enabled": False}
        assert (await client.get("/api/settings")).json()["backend"] == "scripted"


async def test_settings_swap_the_backend(data_dir: Path) -> None:
    script = data_dir / "script.json"
    script.write_text('{"rules": [{"match": ".", "reply": "Scripted: {{message}}"}]}')
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        put = await client.put("/api/settings", json={"script_path": str(script)})
        assert put.status_code == 200, put.text
        turn = await say(app, client, chat["id"], "hello")
        assert turn["status"] == "completed"
        reply = (await client.get(f"/api/messages/{turn['message_ids'][0]}")).json()
        assert reply["text"] == "Scripted: hello"
        assert read_settings_file(data_dir / "kith.toml") == {"script_path": str(script)}


async def test_unknown_route_and_method_keep_the_error_shape(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        assert_error(await client.get("/api/nothing-here"), 404)
        assert_error(await client.put("/api/health", json={}), 405)
        assert_error(await client.post("/api/bots", content=b"{not json",
                                       headers={"content-type": "application/json"}), 422, "body")
