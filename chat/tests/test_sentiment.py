"""Relationships that move without help from the model (issue 12): the sentiment of what
the user says to a bot nudges its affinity and trust, recorded with its own source."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.memory.sentiment import nudge, tone
from chat.state.edges import edge_history, get_edge
from chat.tests.turn_support import MARA, events, one_to_one, running, turn

pytestmark = pytest.mark.anyio

FRIENDLY = [
    "Thank you so much, you're wonderful.", "I really love working with you.",
    "You did a great job today, I'm proud of you.", "You're a good friend, I trust you.",
    "That was brilliant, thanks!", "I'm so happy to see you again.", "You're amazing at this.",
    "I appreciate your help, truly.", "What a lovely idea, let's do it.", "You are kind and brave.",
]  # fmt: skip
HOSTILE = [
    "You're a liar and I don't trust you.", "I hate the way you talk to me.", "You're useless.",
    "Get lost, you coward.", "That was a stupid, awful thing to do.", "I'm angry with you.",
    "You ruined everything.", "You're cruel and selfish.", "Shut up, you idiot.", "I despise you.",
]  # fmt: skip
NEUTRAL = [
    "When does the tide turn?", "The boat is at the quay.", "I walked to the harbour.",
    "What time is it?", "The nets are on the deck.", "Is the Heron leaving at dawn?",
    "I have a map of the bay.", "Where is the lighthouse?", "The fog came in at six.", "Tell me about the reef.",
]  # fmt: skip


def test_clear_words_nudge_and_plain_ones_do_not() -> None:
    assert all(nudge(tone(t))[0] > 0 for t in FRIENDLY)
    assert all(nudge(tone(t))[0] < 0 for t in HOSTILE)
    assert sum(abs(nudge(tone(t))[0]) for t in NEUTRAL) <= 3
    assert nudge(tone("You're a liar and I don't trust you."))[1] < 0  # trust moves too


async def _affinity_after(data_dir: Path, script: list[str]) -> tuple[list[int], list[dict]]:
    async with running(data_dir, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        seen = []
        for text in script:
            result = await turn(rt, chat["id"], text)
            assert result["status"] == "completed"
            with open_db(data_dir / "kith.db") as conn:
                seen.append(get_edge(conn, "mara", "you")["affinity"])
        with open_db(data_dir / "kith.db") as conn:
            history = edge_history(conn, "mara", "you")
    return seen, history


async def test_friendly_then_hostile_moves_affinity_up_then_down(data_dir: Path) -> None:
    seen, history = await _affinity_after(data_dir, FRIENDLY + HOSTILE)
    assert seen[9] >= 20 and seen[19] < seen[9] - 20  # warm, then it cools sharply
    nudges = [h for h in history if h["source"] == "sentiment"]
    assert len(nudges) == 20 and all(h["actor"] == "system" for h in nudges)
    changed = [e for e in events(data_dir, kind="edge_changed") if e.payload.get("source") == "sentiment"]
    assert all(abs(e.payload["affinity_delta"]) <= 4 for e in changed)


async def test_a_neutral_script_moves_affinity_at_most_a_few_points(data_dir: Path) -> None:
    seen, _ = await _affinity_after(data_dir, NEUTRAL)
    assert max(abs(a) for a in seen) <= 3


async def test_the_nudge_shares_the_turns_limit_with_the_model(data_dir: Path) -> None:
    rules = [{"match": "", "extraction": {"edges": [{"src": "mara", "dst": "you", "affinity_delta": 9}]}}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "Thank you so much, you're wonderful.")
    with open_db(data_dir / "kith.db") as conn:
        assert get_edge(conn, "mara", "you")["affinity"] == 10  # 9 from the model, 1 left for the nudge


async def test_nudges_can_be_switched_off(data_dir: Path) -> None:
    async with running(data_dir, extraction_enabled=False, sentiment_nudges=False) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "I hate you, you liar.")
    with open_db(data_dir / "kith.db") as conn:
        assert get_edge(conn, "mara", "you")["affinity"] == 0


def test_politeness_is_not_warmth() -> None:
    for text in ("Is the channel clear?", "good morning to the whole bakery crew", "Evening, both"):
        assert nudge(tone(text)) == (0, 0), text


async def test_a_pinned_affinity_is_not_moved_by_the_tone_of_a_message(data_dir: Path) -> None:
    """A person's edit pins the field (§6.2): the tone nudge obeys it like the model does,
    the unpinned trust still moves, and the drop is logged as the nudge's (actor system)."""
    async with running(data_dir, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        await rt.edit("edge", "mara/you", "affinity", 7)
        result = await turn(rt, chat["id"], "You're a liar and I don't trust you.")
        assert result["status"] == "completed"
    with open_db(data_dir / "kith.db") as conn:
        edge = get_edge(conn, "mara", "you")
    assert edge["affinity"] == 7
    assert edge["trust"] < 0  # not pinned: the nudge still lands there
    dropped = events(data_dir, kind="proposal_dropped", turn_id=result["id"])
    assert [(e.actor, e.payload["reason"]) for e in dropped] == [
        ("system", "edge mara/you.affinity was pinned by a manual edit")
    ]


STORY = [  # a newcomer's real lines, read as hostile when the whole message was scored
    "did you hear the drowned bell last night? Is the lamp still lit?",  # was -0.64
    "what do you smuggle through the fog channel?",  # was -0.38
    "Tobias, is the inn open? I am so cold and tired.",  # was -0.49
    "the fog lies thick",  # "lies" was an accusation
    "The storm took the Heron's mast. Three men drowned.",
]
AT_THE_LISTENER = {
    "I hate you, you useless liar": -3, "shut up, nobody asked you": -2, "who asked you?": -2,
    "Why are you such a useless, lying coward?": -1,  # a question, but a barbed one
    "The tea is cold. You are a liar.": -2,  # one hostile line is not averaged away
    "Thank you so much, you're wonderful.": 3, "What a lovely idea, let's do it.": 2,
}


def test_questions_and_a_grim_world_are_not_hostility() -> None:
    for text in STORY:
        assert nudge(tone(text)) == (0, 0), text


def test_words_aimed_at_the_listener_still_move() -> None:
    assert {text: nudge(tone(text))[0] for text in AT_THE_LISTENER} == AT_THE_LISTENER
    assert nudge(tone("I hate you, you useless liar"))[1] < 0


async def test_a_story_told_to_a_bot_leaves_it_as_it_was(data_dir: Path) -> None:
    """The walk's turns, through the real turn path: nothing moves, then an insult does."""
    async with running(data_dir, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        for text in STORY:
            assert (await turn(rt, chat["id"], text))["status"] == "completed"
        with open_db(data_dir / "kith.db") as conn:
            assert (get_edge(conn, "mara", "you")["affinity"], get_edge(conn, "mara", "you")["trust"]) == (0, 0)
        await turn(rt, chat["id"], "shut up, nobody asked you")
    with open_db(data_dir / "kith.db") as conn:
        assert get_edge(conn, "mara", "you")["affinity"] == -2


def test_a_world_described_is_no_judgement_and_a_bare_insult_is_one() -> None:
    for text in ("This is a cold, cruel, drowned town.", "That was a tragedy, the whole ship lost.",
                 "What a horrible night to be out at sea.", "This is sad news about the miller's death."):
        assert nudge(tone(text)) == (0, 0), (text, tone(text))
    for text in ("Idiot!", "Liar!", "Go to hell.", "you... idiot", "YOU!!!! IDIOT!!!!", "What a stupid idea."):
        assert nudge(tone(text))[0] < 0, (text, tone(text))


async def test_the_tone_lands_on_the_bot_it_is_said_to(data_dir: Path) -> None:
    """In a group, words that name a bot move that bot, not another that answered too; words
    that name no bot move every bot that answered (newcomer walk, session 25)."""
    rules = [{"match": "", "reply": "Hm."}]
    async with running(data_dir, rules, max_replies_per_turn=2) as rt:
        mara = await rt.author_bot({**MARA, "name": "Mara Quinn"})
        tobias = await rt.author_bot({**MARA, "name": "Tobias Wren"})
        chat = await rt.create_chat([mara["id"], tobias["id"]])
        done = await turn(rt, chat["id"], "Mara, I hate you, you useless liar.")
        assert done["status"] == "completed"
        answered = {m["author"] for m in rt.transcript(chat["id"]) if m["turn_id"] == done["id"]} - {"you"}
        assert answered == {mara["id"], tobias["id"]}  # both answered it
        with open_db(data_dir / "kith.db") as conn:
            assert get_edge(conn, mara["id"], "you")["affinity"] < 0
            assert get_edge(conn, tobias["id"], "you")["affinity"] == 0
        await turn(rt, chat["id"], "You are both wonderful, thank you so much.")
        with open_db(data_dir / "kith.db") as conn:
            assert get_edge(conn, tobias["id"], "you")["affinity"] > 0


SYMPATHY = [  # concern and sorrow worded with negative words at the listener (session 26's walk)
    "You look tired.", "you must be exhausted", "I'm sorry you had a rough day.",
    "Sorry you got hurt.", "I'm sorry for your loss.", "Poor you.", "You seem sad.",
    "You poor thing, you must be freezing.", "That must have been awful for you.",
    "You're soaked to the bone, come in by the fire.", "You must be so cold and tired, sit down.",
]  # fmt: skip
INTERJECTIONS = ["Ugh.", "Ugh!", "Damn.", "Hell.", "Ugh. Ugh!", "Argh!!"]


def test_sympathy_is_not_hostility_and_warm_sympathy_stays_warm() -> None:
    for text in SYMPATHY:
        assert nudge(tone(text))[0] >= 0, (text, tone(text))
    assert nudge(tone("I'm sorry you had a rough day, I hope you feel better."))[0] > 0


def test_a_bare_interjection_is_a_sigh_not_an_insult() -> None:
    for text in INTERJECTIONS:
        assert nudge(tone(text)) == (0, 0), (text, tone(text))
    for text in ("Idiot!", "Liar.", "Pathetic.", "Damn you.", "Ugh, you idiot."):  # still aimed at the listener
        assert nudge(tone(text))[0] < 0, (text, tone(text))


def test_sympathy_does_not_hide_an_insult_beside_it() -> None:
    for text in ("Sorry you got hurt, you idiot.", "You look tired, you useless liar.",
                 "I'm sorry, but you are a liar.", "You are terrible.", "I'm sorry you're such an idiot."):
        assert nudge(tone(text))[0] < 0, (text, tone(text))


async def test_sympathy_through_a_turn_leaves_affinity_where_it_was(data_dir: Path) -> None:
    seen, history = await _affinity_after(data_dir, ["You look tired.", "Ugh.", "I'm sorry you had a rough day."])
    assert seen == [0, 0, 0]
    assert [h for h in history if h["source"] == "sentiment"] == []
