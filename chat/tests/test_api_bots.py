"""HTTP API: bots and character cards (§3, §11.2) — happy paths, 404s, 422s naming the field,
and nothing appended on error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chat.tests.api_support import BOT, UPLOAD, assert_error, make_bot, make_settings, running_app

pytestmark = pytest.mark.anyio



async def _end(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/health")).json()["last_event_id"]


async def test_author_list_read_revise_retire(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        bot = await make_bot(client, id="ada")
        assert bot["id"] == "ada" and bot["name"] == "Ada" and bot["traits"] == ["curious"]

        listed = (await client.get("/api/bots")).json()
        assert [b["id"] for b in listed] == ["ada"]
        assert (await client.get("/api/bots/ada")).json()["persona"] == "A patient engineer."

        revised = await client.patch("/api/bots/ada", json={"persona": "Impatient now."})
        assert revised.status_code == 200, revised.text
        assert revised.json()["persona"] == "Impatient now."
        assert revised.json()["name"] == "Ada"

        edge = (await client.get("/api/edges/ada/you")).json()
        assert edge["label"] == "coworker" and edge["affinity"] == 0 and edge["trust"] == 0

        gone = await client.delete("/api/bots/ada")
        assert gone.status_code == 204 and gone.content == b""
        assert (await client.get("/api/bots")).json() == []
        retired = (await client.get("/api/bots", params={"include_retired": "true"})).json()
        assert [(b["id"], b["retired"]) for b in retired] == [("ada", True)]


async def test_id_is_made_from_the_name(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        bot = await make_bot(client, name="Mira Vale")
        assert bot["id"].startswith("mira")
        assert (await client.get(f"/api/bots/{bot['id']}")).status_code == 200


async def test_unknown_bot_is_404_everywhere(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = await _end(client)
        assert_error(await client.get("/api/bots/nobody"), 404)
        assert_error(await client.patch("/api/bots/nobody", json={"persona": "x"}), 404)
        assert_error(await client.delete("/api/bots/nobody"), 404)
        assert_error(await client.get("/api/bots/nobody/card"), 404)
        assert await _end(client) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BOT, "name": ""}, "name"),
        ({**BOT, "talkativeness": 3}, "talkativeness"),
        ({**BOT, "id": "Not A Slug!"}, "id"),
        ({**BOT, "traits": "one"}, "traits"),
        ({**BOT, "colour": "red"}, "colour"),
        ({k: v for k, v in BOT.items() if k != "name"}, "name"),
    ],
)
async def test_bad_bot_is_422_naming_the_field(data_dir: Path, body: dict, field: str) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = await _end(client)
        assert_error(await client.post("/api/bots", json=body), 422, field)
        assert await _end(client) == before


async def test_bad_revision_is_422_and_appends_nothing(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        before = await _end(client)
        assert_error(await client.patch("/api/bots/ada", json={"name": ""}), 422, "name")
        assert_error(await client.patch("/api/bots/ada", json={"persona": None}), 422, "persona")
        assert_error(await client.patch("/api/bots/ada", json={"talkativeness": -1}), 422)
        assert_error(await client.patch("/api/bots/ada", json={}), 422, "body")
        assert_error(await client.patch("/api/bots/ada", json={"retired": True}), 422, "retired")
        assert await _end(client) == before
        assert (await client.get("/api/bots/ada")).json()["name"] == "Ada"


async def test_duplicate_id_is_409(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        before = await _end(client)
        assert_error(await client.post("/api/bots", json={**BOT, "id": "ada"}), 409)
        assert await _end(client) == before


def _v2_card(name: str = "Card Girl") -> bytes:
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": name,
            "description": "She lives in a card.",
            "personality": "cheerful",
            "scenario": "A library at night.",
            "first_mes": "Hello {{user}}, I am {{char}}.",
            "mes_example": "<START>\n{{char}}: Shh, books are sleeping.",
            "alternate_greetings": ["Hi again."],
            "tags": ["test"],
            "creator_notes": "kept verbatim",
        },
    }
    return json.dumps(card).encode()


async def test_card_import_and_export_round_trip(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        response = await client.post(
            "/api/bots/import",
            files={"file": ("card.json", _v2_card(), "application/json")},
            headers=UPLOAD,
        )
        assert response.status_code == 201, response.text
        bot = response.json()
        assert bot["name"] == "Card Girl"
        assert "She lives in a card." in bot["persona"]

        before = await _end(client)
        checked = await client.post(
            "/api/bots/import/check", files={"file": ("card.json", _v2_card())}, headers=UPLOAD
        )
        assert checked.json() == {"name": "Card Girl", "matches": {"id": bot["id"], "name": "Card Girl"}}
        again = await client.post(
            "/api/bots/import",
            files={"file": ("card.json", _v2_card(), "application/json")},
            headers=UPLOAD,
        )
        error = assert_error(again, 409, "file")
        assert error["bot"] == {"id": bot["id"], "name": "Card Girl"} and "Card Girl" in error["message"]
        assert await _end(client) == before
        copy = await client.post(
            "/api/bots/import?on_conflict=copy",
            files={"file": ("card.json", _v2_card(), "application/json")},
            headers=UPLOAD,
        )
        assert copy.status_code == 201, copy.text
        assert copy.json()["id"] != bot["id"]
        await client.patch(f"/api/bots/{bot['id']}", json={"persona": "Edited in Kith."})
        update = await client.post(
            "/api/bots/import?on_conflict=update",
            files={"file": ("card.json", _v2_card(), "application/json")},
            headers=UPLOAD,
        )
        assert update.status_code == 201, update.text
        assert update.json()["id"] == bot["id"] and "She lives in a card." in update.json()["persona"]
        kinds = [e["kind"] for e in (await client.get(f"/api/events?after={before}")).json()]
        assert kinds == ["world_created", "bot_authored", "bot_revised", "bot_revised"]  # its own world

        for fmt, media in (("v2", "application/json"), ("v3", "application/json")):
            exported = await client.get(f"/api/bots/{bot['id']}/card", params={"format": fmt})
            assert exported.status_code == 200, exported.text
            assert exported.headers["content-type"].startswith(media)
            assert "attachment" in exported.headers["content-disposition"]
            data = exported.json()
            assert data["spec"] == ("chara_card_v2" if fmt == "v2" else "chara_card_v3")
            assert data["data"]["name"] == "Card Girl"

        png = await client.get(f"/api/bots/{bot['id']}/card", params={"format": "png"})
        assert png.status_code == 200
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")

        reimported = await client.post(
            "/api/bots/import?on_conflict=copy",
            files={"file": ("card.png", png.content, "image/png")},
            headers=UPLOAD,
        )
        assert reimported.status_code == 201, reimported.text
        assert reimported.json()["persona"] == bot["persona"]
        assert reimported.json()["kickoff_prose"] == bot["kickoff_prose"]

        assert_error(
            await client.get(f"/api/bots/{bot['id']}/card", params={"format": "v9"}), 422, "format"
        )


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"[]", json.dumps({"spec": "x"}).encode()],
)
async def test_bad_card_is_4xx_and_appends_nothing(data_dir: Path, content: bytes) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = await _end(client)
        response = await client.post(
            "/api/bots/import", files={"file": ("card.json", content)}, headers=UPLOAD
        )
        assert 400 <= response.status_code < 500, response.text
        assert_error(response, response.status_code)
        assert await _end(client) == before


async def test_import_needs_the_file_field(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        response = await client.post(
            "/api/bots/import", files={"other": ("card.json", _v2_card())}, headers=UPLOAD
        )
        assert_error(response, 422, "file")
