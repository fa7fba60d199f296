"""The demo world is Kith's set-up, not the person's edits (§3.5, §6.4).

A newcomer opened the history of "Mara → You" in the demo and read that *they* had set
the label "new deckhand". The demo's world, bots (whose first relationship to "you" is
where those edges come from) and lore are now written by the actor ``system``; the
person's own choice, the persona name, stays theirs; and an edge the person edits after
shows that edit as theirs, under the set-up row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.demo import create_demo_world
from chat.tests.api_support import make_settings, running_app, runtime_of

pytestmark = pytest.mark.anyio


async def test_the_demo_relationships_are_set_up_not_yours(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app), persona="Sam")
        for src in ("mara", "tobias", "isolde"):
            points = (await client.get(f"/api/edges/{src}/you/history", params={"world": "saltmere"})).json()
            assert [(p["actor"], p["source"]) for p in points] == [("system", None)], points
            rows = (await client.get(f"/api/items/edge/{src}%2Fyou/history", params={"world": "saltmere"})).json()
            assert rows and {(r["actor"], r["source"]) for r in rows} == {("system", None)}, rows
        edited = await client.patch("/api/edges/mara/you", params={"world": "saltmere"}, json={"label": "crew"})
        assert edited.status_code == 200, edited.text
        rows = (await client.get("/api/items/edge/mara%2Fyou/history", params={"world": "saltmere"})).json()
        assert [r["actor"] for r in rows if r["field"] == "label"] == ["system", "user"], rows


async def test_the_demo_bots_world_and_lore_are_set_up_and_the_persona_is_yours(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        demo = await create_demo_world(runtime_of(app), persona="Sam")
        assert demo["bots"] == ["mara", "tobias", "isolde"] and demo["world"]["id"] == "saltmere"
        events = (await client.get("/api/events", params={"limit": 100})).json()
        events = events["events"] if isinstance(events, dict) else events
        actors = {e["kind"]: e["actor"] for e in events}
        assert actors["persona_set"] == "user", actors
        for kind in ("world_created", "bot_authored", "lore_set", "world_fact_set", "chat_created"):
            assert actors[kind] == "system", (kind, actors)


async def test_the_demo_chat_opens_on_the_quay_it_describes(data_dir: Path) -> None:
    """The state panel showed the demo's scene location as "(empty)" under a greeting
    that says where it is (walk s26, finding 14)."""
    async with running_app(make_settings(data_dir)) as (app, client):
        demo = await create_demo_world(runtime_of(app))
        scene = (await client.get(f"/api/chats/{demo['chat']['id']}")).json()["scene"]
        assert scene["location"] == "the quay of Saltmere" and set(scene["present"]) >= {"mara", "tobias"}
        events = (await client.get("/api/events", params={"limit": 100})).json()
        events = events["events"] if isinstance(events, dict) else events
        assert [e["actor"] for e in events if e["kind"] == "scene_changed"] == ["system"]
