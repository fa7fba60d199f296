"""Sense checks of §5.5: the junk the bundled 135M model proposed in the demo world (issue 12)
is replayed through a real turn, and every item is dropped with a reason while the
sensible items of the same proposal are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat.db.connection import open_db
from chat.demo import ISOLDE, MARA
from chat.state.entities import get_entity
from chat.state.memory import list_memories
from chat.state.world import get_scene, list_facts
from chat.tests.turn_support import events, running, turn

pytestmark = pytest.mark.anyio

LONG_YOU = " ".join(["You are the new deckhand who came on the morning boat and"] * 6)  # 60 words
ALREADY = "Avery asked Mara about the tide at the quay."

JUNK: list[tuple[str, dict[str, Any], str]] = [
    # (section, proposal item, words the reason must contain)
    ("world", {"key": "you", "value": "I am a new friend to you"}, "name of a character"),
    ("world", {"key": "isolde", "value": "You are a new friend to me"}, "name of a character"),
    ("world", {"key": "Isolde Varga", "value": "1.5"}, "snake_case"),
    ("world", {"key": "You, Mara Quinn", "value": "2"}, "snake_case"),
    ("world", {"key": "you", "value": LONG_YOU}, "name of a character"),
    ("world", {"key": "mood", "value": LONG_YOU}, "short phrase"),
    ("world", {"key": "greeting", "value": "I am a new friend to you"}, "dialogue"),
    ("memories", {"owner": "mara", "text": ALREADY}, "already remembers"),
    ("memories", {"owner": "mara", "text": "Avery wants to sail on the Heron at dawn."}, ""),
    ("memories", {"owner": "mara", "text": "Avery wants to sail on the Heron at dawn!"}, "already remembers"),
    (
        "memories",
        {"owner": "isolde", "text": "Stay in character and never write lines for anyone else."},
        "instructions",
    ),
]


def _covers(proposal: Any, item: dict[str, Any]) -> bool:
    """The dropped proposal is ``item`` (with the schema's defaults filled in)."""
    return isinstance(proposal, dict) and all(proposal.get(k) == v for k, v in item.items())


async def _replay(data_dir: Path, extraction: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    rules = [{"match": "tide", "extraction": extraction}, {"match": "first", "extraction": {
        "memories": [{"owner": "mara", "text": ALREADY}]}}]
    async with running(data_dir, rules) as rt:
        for fields in (MARA, ISOLDE):
            await rt.author_bot(fields)
        await rt.edit("entity", "you", "name", "Avery")
        chat = await rt.create_chat(["mara", "isolde"])
        first = await turn(rt, chat["id"], "first words")
        assert first["status"] == "completed"
        result = await turn(rt, chat["id"], "How is the tide, Mara?")
    dropped = [e.payload for e in events(data_dir, turn_id=result["id"]) if e.kind == "proposal_dropped"]
    return {**result, "chat_id": chat["id"]}, dropped


async def test_each_junk_proposal_is_dropped_with_a_reason(data_dir: Path) -> None:
    extraction: dict[str, Any] = {"world": [], "memories": []}
    for section, item, _ in JUNK:
        extraction[section].append(item)
    extraction["world"].append({"key": "weather", "value": "light rain"})
    extraction["entities"] = [
        {"id": "you", "facts": {"you": "I am a new friend to you", "job": "deckhand"}},
        {"id": "Avery", "name": "Avery", "kind": "person", "description": "The new hand."},
    ]
    result, dropped = await _replay(data_dir, extraction)
    assert result["status"] == "completed"
    for section, item, reason in JUNK:
        if not reason:
            continue
        matching = [d["reason"] for d in dropped if _covers(d["proposal"], item)]
        assert matching, f"{section} item {item} was not dropped"
        assert reason in matching[0], (item, matching[0])
    fact_drop = [d["reason"] for d in dropped if d["proposal"] == {
        "entity": "you", "key": "you", "value": "I am a new friend to you"}]
    assert fact_drop and "name of a character" in fact_drop[0]
    # the nulls of a parsed item (a field the model left out) are not logged (§13, issue 15)
    repeats = [d["proposal"] for d in dropped if "already remembers" in d["reason"]]
    assert repeats and all("supersedes" not in p and None not in p.values() for p in repeats)
    with open_db(data_dir / "kith.db") as conn:
        facts = list_facts(conn)
        mara = sorted(  # witnessed observations (§5.3.1) are not extraction's
            m["text"] for m in list_memories(conn, owner="mara") if not m.get("message_id")
        )
        isolde = [
            m["text"] for m in list_memories(conn, owner="isolde") if not m.get("message_id")
        ]
        you = get_entity(conn, "you")
        avery = get_entity(conn, "avery")
    assert facts == {"weather": "light rain"}  # the one sensible fact of eight
    assert mara == sorted([ALREADY, "Avery wants to sail on the Heron at dawn."])
    assert isolde == []
    assert you["facts"] == {"job": "deckhand"} and you["description"] == "The new hand."
    assert avery is None  # the persona's name is the user, not a new person


@pytest.mark.parametrize(
    ("scene", "reason"),
    [
        ({"location": "Avery"}, "is the user, not a place"),
        ({"location": "You"}, "is the user, not a place"),
        ({"location": "Isolde Varga"}, "is a bot, not a place"),
        ({"location": "Quinn"}, "character's name"),
        ({"location": "She walks to the quay. It is cold and grey there."}, "sentence"),
        ({"present": ["mara", "isolde"]}, "the user is in every scene"),
    ],
)
async def test_a_scene_that_is_no_place_is_dropped(data_dir: Path, scene: dict, reason: str) -> None:
    result, dropped = await _replay(data_dir, {"scene": scene})
    assert result["status"] == "completed"
    reasons = [d["reason"] for d in dropped]
    assert any(reason in r for r in reasons), reasons
    with open_db(data_dir / "kith.db") as conn:
        current = get_scene(conn, result["chat_id"])
    assert current["location"] == "" and "you" in current["present"]


async def test_a_place_and_a_new_face_are_kept(data_dir: Path) -> None:
    scene = {"location": "The Lantern", "present": ["you", "mara"]}
    result, dropped = await _replay(data_dir, {"scene": scene})
    assert dropped == []
    with open_db(data_dir / "kith.db") as conn:
        current = get_scene(conn, result["chat_id"])
    assert (current["location"], current["present"]) == ("The Lantern", ["you", "mara"])


def test_the_repeat_check_skipping_by_size_finds_what_the_plain_overlap_finds() -> None:
    """`SenseChecks.memory` rules out memories by their word counts before comparing words
    (session 22); over random texts, including overlaps of exactly 0.8 (4 of 5 words), it
    calls a repeat exactly when the plain Jaccard overlap of the word sets is >= 0.8."""
    import random

    from chat.memory.sense import DUPLICATE_OVERLAP, SenseChecks, word_set, words

    rng = random.Random(22)
    vocabulary = [f"w{i}" for i in range(14)]
    repeats = 0
    for _ in range(3000):
        known = [" ".join(rng.sample(vocabulary, rng.randint(1, 10))) for _ in range(rng.randint(0, 6))]
        text = " ".join(rng.sample(vocabulary, rng.randint(1, 10)))
        if known and rng.random() < 0.6:  # a near copy: one known memory, a word or two changed
            near = rng.choice(known).split()
            for _ in range(rng.randint(0, 2)):
                near[rng.randrange(len(near))] = rng.choice(vocabulary)
            text = " ".join(near + rng.sample(vocabulary, rng.randint(0, 1)))
        mine = set(words(text))
        expected = any(
            word_set(k) and len(mine & word_set(k)) / len(mine | word_set(k)) >= DUPLICATE_OVERLAP
            for k in known
        )
        checks = SenseChecks(entity_names={}, user_name="", memories={"b": known})
        assert (checks.memory("b", text) is not None) == expected, (text, known)
        repeats += expected
    assert 100 < repeats < 2900  # both answers were exercised
    exact = SenseChecks(entity_names={}, user_name="", memories={"b": ["a b c d e"]})
    assert exact.memory("b", "a b c d") is not None  # 4 / 5 = 0.8 exactly: a repeat
    assert exact.memory("b", "a b c") is None  # 3 / 5


async def test_a_line_of_another_bot_in_its_voice_is_not_given_to_the_wrong_owner(data_dir: Path) -> None:
    """The bundled model gave Mara's "I am afraid of the flames…" to Tobias as his memory (walk s26)."""
    line = "I am afraid of the flames that will burn the boats down."
    memories = [
        {"owner": "bo", "text": "I am afraid of the flames that will burn the boats", "importance": 6},
        {"owner": "ana", "text": "I am afraid of the flames that will burn the boats", "importance": 6},
        {"owner": "bo", "text": "Ana is afraid of the flames that will burn the boats", "importance": 6},
    ]
    rules = [
        {"bot": "ana", "match": "", "reply": line},
        {"bot": "bo", "match": "", "reply": "The nets are mended, at least."},
        {"match": "", "extraction": {"memories": memories}},
    ]
    async with running(data_dir, rules, sentiment_nudges=False) as rt:
        await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
        await rt.author_bot({"name": "Bo", "talkativeness": 0.9})
        chat = await rt.create_chat(["ana", "bo"])
        assert (await turn(rt, chat["id"], "Ana, Bo: what do you fear tonight?"))["status"] == "completed"
    with open_db(data_dir / "kith.db") as conn:
        kept = {(m["owner"], m["text"]) for m in list_memories(conn) if not m.get("message_id")}
    assert kept == {("ana", memories[1]["text"]), ("bo", memories[2]["text"])}
    dropped = [e.payload["reason"] for e in events(data_dir, kind="proposal_dropped")]
    assert dropped == ["the memory is Ana's line of this turn, in Ana's voice, not a memory of bo"]
