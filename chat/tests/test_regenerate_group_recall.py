"""What a regenerate leaves out of recall in a group turn (§4.4, §5.3.1): only what came
from the reply it replaces. The other bot's reply in that turn, its observation and what
extraction drew from it, and what was drawn from the user's message, stay recallable.
A real runtime, a real SQLite file, the scripted backend (§7.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.state.observations import observation_id
from chat.tests.turn_support import running, turn
from chat.turns.replaced import drawn_from_replaced, replaced_sources

pytestmark = pytest.mark.anyio

MEMORIES = {
    "bo": [
        ("Ana's lighthouse lamp is brass and older than the town", 7),  # from Ana's reply
        ("I promised to mend the torn nets before the storm", 7),  # from Bo's own reply
        ("You asked about the storm tonight", 4),  # from the user's message
        ("I feel uneasy", 3),  # from nothing that can be told apart: left out
    ]
}
RULES = [
    {
        "bot": "ana",
        "match": "",
        "reply": "My lighthouse lamp is brass, older than the town itself.",
    },
    {"bot": "bo", "match": "", "reply": "I promised I would mend the torn nets before the storm."},
    {
        "match": "",
        "extraction": {
            "memories": [
                {"owner": owner, "text": text, "importance": importance, "kind": "fact"}
                for owner, items in MEMORIES.items()
                for text, importance in items
            ]
        },
    },  # fmt: skip
]


async def test_regenerate_of_one_bot_keeps_the_other_bots_reply_and_the_users_message(
    data_dir: Path,
) -> None:
    async with running(data_dir, RULES) as rt:
        await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
        await rt.author_bot({"name": "Bo", "talkativeness": 0.5})
        chat = await rt.create_chat(["ana", "bo"])
        done = await turn(rt, chat["id"], "Evening, both. What about the storm tonight?")
        assert done["status"] == "completed", done
        you, ana, bo = rt.transcript(chat["id"])
    assert (you["author"], ana["author"], bo["author"]) == ("you", "ana", "bo")
    with open_db(data_dir / "kith.db") as conn:
        owned = dict(
            conn.execute(
                "SELECT text, id FROM memories WHERE owner = 'bo' AND kind = 'fact'"
            ).fetchall()
        )
        assert set(owned) == {text for text, _ in MEMORIES["bo"]}, owned
        redone = replaced_sources(conn, bo["alt_group"], "bo", "default")
    assert redone.message_ids == {bo["id"]}  # its own observation goes with the message
    assert redone.memory_ids == {
        owned["I promised to mend the torn nets before the storm"],
        owned["I feel uneasy"],
    }
    # the observations of the user's message and of Ana's reply are Bo's to recall
    assert not redone.memory_ids & {
        observation_id(you["id"], "bo"),
        observation_id(ana["id"], "bo"),
    }


def test_a_memory_is_drawn_from_the_replaced_reply_unless_another_message_shares_more() -> None:
    replaced = ["The seal Custard sleeps on the harbour steps."]
    others = ["Tell me about the harbour.", "The gulls nest on the harbour wall."]
    assert drawn_from_replaced("Custard the seal sleeps by the harbour", replaced, others)
    assert not drawn_from_replaced("Gulls nest on the harbour wall", replaced, others)
    assert drawn_from_replaced("The harbour", replaced, others)  # a tie: left out
    assert drawn_from_replaced(
        "Something felt wrong", replaced, others
    )  # no words shared: left out
