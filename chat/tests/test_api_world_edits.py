"""HTTP API: a person sets a chat's scene and adds entities (§5.1, §5.4, §6.1, §6.3).

Each is one event by the user; every error is a 4xx naming the field and appends nothing.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chat.db.connection import open_db
from chat.eventlog.log import read_events
from chat.state.manual_edit import list_pins
from chat.tests.api_support import assert_error, make_bot, make_chat, make_settings, running_app

pytestmark = pytest.mark.anyio


async def _end(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/health")).json()["last_event_id"]


def _last_event(data_dir: Path):  # noqa: ANN202 - an Event
    with open_db(data_dir / "kith.db") as conn:
        return read_events(conn, limit=100_000)[-1]


async def test_set_the_scene(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        await make_bot(client, id="bo", name="Bo")
        chat = await make_chat(client, ["ada"])
        path = f"/api/chats/{chat['id']}/scene"

        response = await client.put(path, json={"location": "  The lighthouse  ", "present": ["you", "bo"]})
        assert response.status_code == 200, response.text
        scene = response.json()
        assert (scene["chat_id"], scene["location"], scene["present"]) == (
            chat["id"], "The lighthouse", ["you", "bo"],
        )  # fmt: skip
        with open_db(data_dir / "kith.db") as conn:
            edits = read_events(conn, limit=100_000, kind="manual_edit")
            pins = list_pins(conn)
        assert [(e.actor, e.chat_id, e.payload["target_type"], e.payload["field"]) for e in edits] == [
            ("user", chat["id"], "scene", "location"),
            ("user", chat["id"], "scene", "present"),
        ]
        assert [e.payload["value"] for e in edits] == ["The lighthouse", ["you", "bo"]]
        assert [e.payload["previous"] for e in edits] == ["", ["you", "ada"]]
        assert {(p["target_type"], p["target_id"], p["field"]) for p in pins} == {
            ("scene", chat["id"], "location"), ("scene", chat["id"], "present"),
        }  # a scene set by hand is pinned against extraction (§6.2)

        only_location = await client.put(path, json={"location": ""})
        assert only_location.json()["present"] == ["you", "bo"] and only_location.json()["location"] == ""
        read = (await client.get(f"/api/chats/{chat['id']}")).json()["scene"]
        assert read["location"] == "" and read["present"] == ["you", "bo"]
        world = (await client.get("/api/world")).json()["scenes"]
        assert [(s["chat_id"], s["present"]) for s in world] == [(chat["id"], ["you", "bo"])]

        before = await _end(client)
        same = await client.put(path, json={"present": ["you", "bo", "you"]})
        assert same.status_code == 200 and same.json()["present"] == ["you", "bo"]
        assert await _end(client) == before  # nothing changed, nothing appended

        history = (await client.get(f"/api/items/scene/{chat['id']}/history")).json()
        assert [(h["field"], h["new"], h["actor"]) for h in history if h["field"] == "location"][-1] == (
            "location", "", "user",
        )  # fmt: skip


async def test_bad_scene_edits_append_nothing(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        path = f"/api/chats/{chat['id']}/scene"
        before = await _end(client)
        assert_error(await client.put("/api/chats/chat-nope/scene", json={"location": "x"}), 404)
        assert_error(await client.put(path, json={"present": ["you", "ghost"]}), 422, "present")
        assert_error(await client.put(path, json={"location": "x" * 201}), 422, "location")
        assert_error(await client.put(path, json={"present": "you"}), 422, "present")
        assert_error(await client.put(path, json={"present": ["Not A Slug"]}), 422)
        assert_error(await client.put(path, json={}), 422, "body")
        assert_error(await client.put(path, json={"weather": "rain"}), 422, "weather")
        assert await _end(client) == before
        scene = (await client.get(f"/api/chats/{chat['id']}")).json()["scene"]
        assert scene["location"] == "" and scene["present"] == ["you", "ada"]


async def test_add_an_entity(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        response = await client.post(
            "/api/entities",
            json={
                "name": "Old Harbor", "kind": "place", "description": "Fog and rope.",
                "aliases": ["the harbor", " "], "facts": {"smell": "tar"},
            },
        )  # fmt: skip
        assert response.status_code == 201, response.text
        harbor = response.json()
        assert harbor["id"] == "old-harbor" and harbor["kind"] == "place"
        assert harbor["aliases"] == ["the harbor"] and harbor["facts"] == {"smell": "tar"}
        event = _last_event(data_dir)
        assert (event.kind, event.actor, event.payload["id"]) == ("entity_added", "user", "old-harbor")

        again = (await client.post("/api/entities", json={"name": "Old Harbor", "kind": "place"})).json()
        assert again["id"] == "old-harbor-2" and again["description"] == ""
        ming = (await client.post("/api/entities", json={"name": "小明", "kind": "person"})).json()
        assert ming["id"].startswith("xiaoming-") and ming["name"] == "小明"
        named = await client.post("/api/entities", json={"id": "gull", "name": "A gull", "kind": "thing"})
        assert named.status_code == 201 and named.json()["id"] == "gull"
        assert (await client.get("/api/entities/old-harbor-2")).json()["name"] == "Old Harbor"

        chat = await make_chat(client, [(await make_bot(client, id="ada"))["id"]])
        scene = await client.put(f"/api/chats/{chat['id']}/scene", json={"present": ["you", ming["id"]]})
        assert scene.status_code == 200 and scene.json()["present"] == ["you", ming["id"]]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "place"}, 422, "name"),
        ({"name": "", "kind": "place"}, 422, "name"),
        ({"name": "   ", "kind": "place"}, 422, "name"),
        ({"name": "x" * 121, "kind": "place"}, 422, "name"),
        ({"name": "Harbor"}, 422, "kind"),
        ({"name": "Harbor", "kind": "dragon"}, 422, "kind"),
        ({"name": "Harbor", "kind": "bot"}, 422, "kind"),
        ({"name": "Harbor", "kind": "you"}, 422, "kind"),
        ({"name": "Harbor", "kind": "place", "aliases": "harbour"}, 422, "aliases"),
        ({"name": "Harbor", "kind": "place", "facts": ["x"]}, 422, "facts"),
        ({"name": "Harbor", "kind": "place", "colour": "grey"}, 422, "colour"),
        ({"name": "Harbor", "kind": "place", "id": "Bad Id"}, 422, "id"),
        ({"name": "Harbor", "kind": "place", "id": "you"}, 409, "id"),
        ({"name": "Harbor", "kind": "place", "id": "ada"}, 409, "id"),
    ],
)
async def test_bad_entities_are_refused_and_append_nothing(
    data_dir: Path, body: dict, status: int, field: str
) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        before = await _end(client)
        assert_error(await client.post("/api/entities", json=body), status, field)
        assert await _end(client) == before
        assert {e["id"] for e in (await client.get("/api/entities")).json()} == {"you", "ada"}
