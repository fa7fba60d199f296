"""The review tray (§5.5): with ``extraction_review`` on, extraction's changes wait until the
user accepts (the same events as without review) or rejects them (logged, nothing changes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.memory.review import pending, review_events, review_on
from chat.state.edges import get_edge
from chat.state.memory import get_memory, list_memories
from chat.state.world import list_facts
from chat.tests.api_support import (
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    say,
)
from chat.tests.turn_support import running, write_script

pytestmark = pytest.mark.anyio

EXTRACTION = {
    "edges": [{"src": "ada", "dst": "you", "affinity_delta": 6, "label": "friend"}],
    "memories": [{"owner": "ada", "text": "You found a lighthouse key.", "importance": 6}],
    "world": [{"key": "weather", "value": "light rain"}, {"key": "Isolde Varga", "value": "1.5"}],
}


def _script(data_dir: Path) -> Path:
    path = data_dir.parent / "script.json"
    path.write_text(json.dumps({"rules": [{"match": "key", "extraction": EXTRACTION}]}), encoding="utf-8")
    return path


def test_review_is_on_by_default_only_with_the_bundled_model() -> None:
    assert review_on(None, "embedded") and not review_on(None, "openai") and not review_on(None, "scripted")
    assert review_on(True, "openai") and not review_on(False, "embedded")


async def test_proposals_wait_then_accept_one_reject_one_accept_the_rest(data_dir: Path) -> None:
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=_script(data_dir))
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        turn = await say(app, client, chat["id"], "I found a lighthouse key")
        assert turn["status"] == "completed"
        assert (await client.get("/api/review")).json() == {"enabled": True, "backend": "scripted"}
        waiting = (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
        # the junk key was dropped by the sense checks; the three sensible changes wait
        assert [p["kind"] for p in waiting] == ["edge_changed", "memory_added", "world_fact_set"]
        # named as the person knows them, not by id (the tray said "ada remembers")
        assert waiting[0]["summary"] == "Ada → You: affinity +6, trust +0, label 'friend'"
        assert waiting[1]["summary"] == "Ada remembers: You found a lighthouse key."
        with open_db(data_dir / "kith.db") as conn:
            assert get_edge(conn, "ada", "you")["affinity"] == 0 and list_facts(conn) == {}
        edge, memory, fact = waiting
        assert (await client.post(f"/api/proposals/{edge['id']}/accept")).json()["count"] == 1
        assert (await client.post(f"/api/proposals/{fact['id']}/reject")).status_code == 200
        assert_error(await client.post(f"/api/proposals/{fact['id']}/accept"), 404, "proposal_id")
        left = (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
        assert [p["id"] for p in left] == [memory["id"]]
        assert (await client.post(f"/api/chats/{chat['id']}/proposals/accept")).json()["count"] == 1
        assert (await client.get(f"/api/chats/{chat['id']}/proposals")).json() == []
    with open_db(data_dir / "kith.db") as conn:
        assert get_edge(conn, "ada", "you")["affinity"] == 6
        extracted = [m["text"] for m in list_memories(conn, owner="ada") if not m.get("message_id")]
        assert extracted == ["You found a lighthouse key."]  # witnessed observations aside
        assert list_facts(conn) == {}  # rejected
        rows = conn.execute(
            "SELECT kind, actor, turn_id FROM events WHERE kind IN ('edge_changed', 'memory_added',"
            " 'proposal_reviewed') ORDER BY id"
        ).fetchall()
    # accepted: the same events extraction appends without review, carrying the turn id
    assert [(k, a) for k, a, _ in rows] == [
        ("edge_changed", "model"), ("proposal_reviewed", "user"), ("proposal_reviewed", "user"),
        ("memory_added", "model"), ("proposal_reviewed", "user"),
    ]  # fmt: skip
    assert {t for _, _, t in rows} == {turn["id"]}


async def test_a_rewind_takes_pending_proposals_away(data_dir: Path) -> None:
    settings = make_settings(data_dir, extraction_review=True, script_path=_script(data_dir))
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "I found a lighthouse key")
        assert (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
        first = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[0]
        rewound = await client.post(f"/api/chats/{chat['id']}/rewind", json={"before_message_id": first["id"]})
        assert rewound.status_code == 200
        assert (await client.get(f"/api/chats/{chat['id']}/proposals")).json() == []


async def test_a_proposed_memory_is_queued_once_and_a_rejected_one_not_again(data_dir: Path) -> None:
    """The bundled model says the same thing turn after turn; the tray showed each copy."""
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=_script(data_dir))
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        other = await make_chat(client, ["ada"])  # the same world: memories are the world's
        await say(app, client, chat["id"], "I found a lighthouse key")
        await say(app, client, other["id"], "The key again")

        async def proposed() -> list[dict]:
            return [p for c in (chat, other) for p in (await client.get(f"/api/chats/{c['id']}/proposals")).json()]

        memories = [p for p in await proposed() if p["kind"] == "memory_added"]
        assert [p["payload"]["text"] for p in memories] == ["You found a lighthouse key."]
        assert (await client.post(f"/api/proposals/{memories[0]['id']}/reject")).status_code == 200
        await say(app, client, other["id"], "That key, once more")
        assert [p for p in await proposed() if p["kind"] == "memory_added"] == []
        kinds = [p["kind"] for p in await proposed()]
        assert kinds.count("world_fact_set") == 1  # the same fact waits once
        assert kinds.count("edge_changed") == 3  # each turn's change to the relationship is its own
        fact = next(p for p in await proposed() if p["kind"] == "world_fact_set")
        assert (await client.post(f"/api/proposals/{fact['id']}/reject")).status_code == 200
        await say(app, client, chat["id"], "Keys and keys")
        assert [p["kind"] for p in await proposed()].count("world_fact_set") == 0  # rejected: not again
    with open_db(data_dir / "kith.db") as conn:
        reasons = [json.loads(r)["reason"] for (r,) in conn.execute(
            "SELECT payload FROM events WHERE kind = 'proposal_dropped' AND payload LIKE '%lighthouse key%'")]  # fmt: skip
    assert reasons and all("was proposed before" in r for r in reasons), reasons


async def test_a_proposed_memory_supersedes_the_older_one_only_once_accepted(data_dir: Path) -> None:
    """The supersede mark was appended at once while its memory waited in the tray: the
    older memory dropped out of recall for a memory that a rejection would never make."""
    script = data_dir.parent / "script.json"
    write_script(script, [])
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=script)
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "I live in York, by the minster.")
        with open_db(data_dir / "kith.db") as conn:
            (older,) = [m["id"] for m in list_memories(conn, owner="ada") if m["text"].startswith("You: I live in York")]
        moved = {"owner": "ada", "text": "You moved from York to Leeds.", "importance": 7, "supersedes": older}
        write_script(script, [{"match": "Leeds", "extraction": {"memories": [moved]}}])
        for attempt in ("reject", "accept"):
            await say(app, client, chat["id"], f"I moved to Leeds ({attempt}).")
            cards = [p for p in (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
                     if p["kind"] == "memory_added" and "Leeds" in p["payload"]["text"]]  # fmt: skip
            assert len(cards) == 1, [c["summary"] for c in cards]
            card = cards[0]
            assert card["supersedes"] == older and "(instead of: You: I live in York" in card["summary"]
            with open_db(data_dir / "kith.db") as conn:
                assert get_memory(conn, older)["superseded_by"] is None  # still recalled while it waits
            assert (await client.post(f"/api/proposals/{card['id']}/{attempt}")).status_code == 200
            with open_db(data_dir / "kith.db") as conn:
                after = get_memory(conn, older)["superseded_by"]
            assert after == (None if attempt == "reject" else card["payload"]["id"])
            moved["text"] = "You left York for Leeds for good."  # not a repeat of the rejected one
            write_script(script, [{"match": "Leeds", "extraction": {"memories": [moved]}}])


def test_every_kind_has_a_summary_even_with_the_fields_it_leaves_out() -> None:
    """Validated payloads carry unset fields as null (a scene change of the location only):
    the tray still says what each proposal is (a crash here failed a bundled-model turn)."""
    from chat.eventlog.schemas import validate_payload
    from chat.memory.review import summary

    scene = validate_payload("scene_changed", {"chat_id": "c1", "location": "the quay"})
    assert summary("scene_changed", scene) == "scene: location 'the quay'"
    people = validate_payload("scene_changed", {"chat_id": "c1", "present": ["you", "mara"]})
    assert summary("scene_changed", people) == "scene: present you, mara"
    update = validate_payload("entity_updated", {"id": "mara", "description": "A pilot."})
    assert summary("entity_updated", update) == "mara: update description"


def test_the_tray_payloads_use_the_logs_id_rule() -> None:
    from chat.eventlog import review_schemas, schemas

    assert "proposal_queued" in schemas.SCHEMAS and "proposal_reviewed" in schemas.SCHEMAS
    field = review_schemas.ProposalReviewed.model_fields["proposal_id"]
    assert any(getattr(m, "pattern", None) == schemas.ID_RE for m in field.metadata)


async def test_a_proposal_accepted_later_keeps_its_turn_out_of_a_rewind_to_a_later_message(data_dir: Path) -> None:
    """Accepting carries the earlier turn's id; a rewind to a later message undoes only the
    turns from there on, and leaves the accepted memory with its own turn."""
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=_script(data_dir))
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        first = await say(app, client, chat["id"], "I found a lighthouse key")
        second = await say(app, client, chat["id"], "The boats are in")
        memory = next(
            p for p in (await client.get(f"/api/chats/{chat['id']}/proposals")).json() if p["kind"] == "memory_added"
        )
        assert (await client.post(f"/api/proposals/{memory['id']}/accept")).json()["count"] == 1
        messages = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        second_message = next(m for m in messages if m["text"] == "The boats are in")
        rewound = await client.post(
            f"/api/chats/{chat['id']}/rewind", json={"before_message_id": second_message["id"]}
        )
        assert rewound.status_code == 200, rewound.text
        assert rewound.json()["reverted_turn_ids"] == [second["id"]]
        texts = [m["text"] for m in (await client.get(f"/api/chats/{chat['id']}/messages")).json()]
        assert texts[0] == "I found a lighthouse key" and len(texts) == 2  # and its reply
        assert (await client.get(f"/api/turns/{first['id']}")).json()["status"] == "completed"
    with open_db(data_dir / "kith.db") as conn:
        extracted = [m["text"] for m in list_memories(conn, owner="ada") if not m.get("message_id")]
    assert extracted == ["You found a lighthouse key."]


async def test_a_proposed_memory_is_accepted_with_the_users_text(data_dir: Path) -> None:
    """The tray's Edit: the accepted event is the `memory_added` extraction appends, with
    its turn id and owner, only with the user's text; bad text is a 422 naming `text`
    and writes nothing."""
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=_script(data_dir))
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        turn = await say(app, client, chat["id"], "I found a lighthouse key")
        waiting = (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
        memory = next(p for p in waiting if p["kind"] == "memory_added")
        edge = next(p for p in waiting if p["kind"] == "edge_changed")
        with open_db(data_dir / "kith.db") as conn:
            before = conn.execute("SELECT max(id) FROM events").fetchone()[0]
        url = f"/api/proposals/{memory['id']}/accept"
        for bad in ({"text": "   "}, {"text": ""}, {"text": "x" * 4001}, {"text": 7}, {"text": ["a"]}):
            assert_error(await client.post(url, json=bad), 422, "text")
        assert_error(await client.post(url, json={"words": "hi"}), 422)
        # only a memory proposal takes a text
        assert_error(await client.post(f"/api/proposals/{edge['id']}/accept", json={"text": "no"}), 422, "text")
        with open_db(data_dir / "kith.db") as conn:
            assert conn.execute("SELECT max(id) FROM events").fetchone()[0] == before  # nothing written
        assert len((await client.get(f"/api/chats/{chat['id']}/proposals")).json()) == len(waiting)
        accepted = await client.post(url, json={"text": "  The user found the key to the old lighthouse.  "})
        assert accepted.status_code == 200 and accepted.json()["count"] == 1
        assert_error(await client.post(url, json={"text": "again"}), 404, "proposal_id")
    with open_db(data_dir / "kith.db") as conn:
        rows = conn.execute(
            "SELECT kind, actor, turn_id, payload FROM events WHERE kind = 'memory_added' AND turn_id = ?"
            " AND json_extract(payload, '$.owner') = 'ada' AND json_extract(payload, '$.id') = ?",
            (turn["id"], memory["payload"]["id"]),
        ).fetchall()
        assert len(rows) == 1
        kind, actor, turn_id, payload = rows[0]
        assert (kind, actor, turn_id) == ("memory_added", "user", turn["id"])  # the words are the person's (§6.4)
        stored = json.loads(payload)
        assert stored["text"] == "The user found the key to the old lighthouse."
        assert {k: v for k, v in stored.items() if k != "text"} == {
            k: v for k, v in memory["payload"].items() if k != "text"
        }
        texts = [m["text"] for m in list_memories(conn, owner="ada") if not m.get("message_id")]
        assert texts == ["The user found the key to the old lighthouse."]


async def test_a_scene_proposal_names_who_is_present_with_ids_only_for_a_shared_name(data_dir: Path) -> None:
    """The tray showed "present ada, isolde, isolde-2, you": ids where the person knows names."""
    path = data_dir.parent / "script.json"
    scene = {"location": "the lighthouse", "present": ["ada", "isolde", "isolde-2", "you"]}
    path.write_text(json.dumps({"rules": [{"match": "", "extraction": {"scene": scene}}]}), encoding="utf-8")
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=path)
    async with running_app(settings) as (app, client):
        for bot_id, name in (("ada", "Ada"), ("isolde", "Isolde"), ("isolde-2", "Isolde")):
            await make_bot(client, id=bot_id, name=name)
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "who is here?")
        [proposal] = (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
    assert proposal["kind"] == "scene_changed", proposal
    present = proposal["summary"].split("present ", 1)[1]
    assert present == "Ada, Isolde (isolde), Isolde (isolde-2), You"


@pytest.mark.parametrize("in_world", [False, True])
async def test_a_pinned_older_memory_stays_recalled_in_any_world(data_dir: Path, in_world: bool) -> None:
    """The pin was looked up in the default world only: in another world, accepting the
    proposed memory superseded a memory the person had pinned as not superseded."""
    script = data_dir.parent / "script.json"
    async with running(data_dir, [], extraction_review=True, sentiment_nudges=False) as rt:
        world = (await rt.create_world("Elsewhere"))["id"] if in_world else None
        bot = await rt.author_bot({"name": "Mara"})
        chat = await rt.create_chat([bot["id"]], world_id=world)
        await rt.post_message(chat["id"], "I live in York, by the minster.")
        await rt.wait_idle(chat["id"])
        older = await rt.read(lambda c: next(m["id"] for m in list_memories(c, owner=bot["id"], world_id=world or "default")
                                             if m["text"].startswith("You: I live in York")))  # fmt: skip
        await rt.edit("memory", older, "superseded_by", None, world_id=world)  # the person pins it
        moved = {"owner": bot["id"], "text": "You moved from York to Leeds.", "importance": 7, "supersedes": older}
        write_script(script, [{"match": "Leeds", "extraction": {"memories": [moved]}}])
        await rt.post_message(chat["id"], "I moved to Leeds.")
        await rt.wait_idle(chat["id"])
        cards = await rt.read(lambda c: [p for p in pending(c, chat["id"]) if "Leeds" in p["payload"].get("text", "")])
        for card in cards:
            await rt.commit(lambda c, card=card: review_events(c, [card["id"]], "accepted"), chat["id"])
        assert await rt.read(lambda c: get_memory(c, older)["superseded_by"]) is None
