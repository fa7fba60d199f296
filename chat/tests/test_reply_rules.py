"""§4.8 on the replies the bundled model really wrote (issue 12): its own label trimmed, the
user's lines, other characters' lines and prompt headings cut, and a reply the token
limit cut ended at its last sentence. Streamed in pieces of every size, as a model does."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.tests.turn_support import MARA, events, one_to_one, running, turn
from chat.turns.stops import StopTrimmer, finish_at_sentence, stop_sequences

pytestmark = pytest.mark.anyio

CASES = [
    # (what the model wrote, what the reply must be)
    ("Mara: Tide turns at six.", "Tide turns at six."),
    ("Mara Quinn: Tide turns at six.", "Tide turns at six."),
    ("**Mara Quinn:** Fog's coming.", "Fog's coming."),
    ("Sit down.\nHow Mara Quinn speaks:\n- She's always a good one.", "Sit down."),
    ("How Mara Quinn speaks: - She's always a good one.", ""),
    ("Aye. Get the rope.\n*You look down at your nets.*\nMore", "Aye. Get the rope."),
    ("Aye.\n*Avery looks down at the nets.*", "Aye."),
    ('Fine work. "That is mine," You say with a bit of pride.', "Fine work."),
    ('Good. "I will," Avery says.', "Good."),
    ("Go on.\nTobias: hello there", "Go on."),
    ("Go on.\nAvery: I won't", "Go on."),
    ("We sail.\nScene: the quay at dawn", "We sail."),
    ("Steady.\nWhat Mara remembers:\n- the fog", "Steady."),
    # what must pass untouched
    ("You're late. Tide waits for no one.", "You're late. Tide waits for no one."),
    ("Marathon day, Avery. You say you can row?", "Marathon day, Avery. You say you can row?"),
    ("*She coils the rope.* You'll learn.", "*She coils the rope.* You'll learn."),
]


@pytest.mark.parametrize("size", [1, 4, 200])
@pytest.mark.parametrize(("written", "expected"), CASES)
def test_the_reply_rules_cut_what_is_not_the_bots(written: str, expected: str, size: int) -> None:
    trimmer = StopTrimmer(stop_sequences("Avery", ["Tobias Wren"]), "Mara Quinn", "Avery")
    shown = ""
    for i in range(0, len(written), size):
        shown += trimmer.feed(written[i : i + size])
        if trimmer.stopped:
            break
    shown += trimmer.finish()
    assert trimmer.reply.strip() == expected
    if "say" not in written.lower():  # a quoted user line is found only at its attribution
        assert shown.strip() == expected


def test_a_reply_cut_by_the_limit_ends_at_its_last_sentence() -> None:
    assert finish_at_sentence("Tide turns at six. Be on the quay at half") == "Tide turns at six."
    assert finish_at_sentence('"Go." She nods at the') == '"Go."'
    assert finish_at_sentence("Aye") == "Aye"  # no sentence to fall back to
    assert finish_at_sentence("All done!") == "All done!"


async def test_a_turn_cut_by_the_token_limit_stores_whole_sentences(data_dir: Path) -> None:
    reply = "Mara: Tide turns at six. Be on the quay at half past five or swim to the boat"
    rules = [{"match": "when", "reply": reply}]
    async with running(data_dir, rules, reply_max_tokens=12, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt, MARA)
        result = await turn(rt, chat["id"], "when do we sail?")
    assert result["status"] == "completed"
    texts = [e.payload["text"] for e in events(data_dir, kind="message_posted")]
    assert texts == ["when do we sail?", "Tide turns at six."]


async def test_a_reply_that_ends_naturally_is_not_shortened(data_dir: Path) -> None:
    rules = [{"match": "when", "reply": "Tide turns at six. Be ready"}]
    async with running(data_dir, rules, reply_max_tokens=50, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt, MARA)
        await turn(rt, chat["id"], "when do we sail?")
    texts = [e.payload["text"] for e in events(data_dir, kind="message_posted")]
    assert texts[-1] == "Tide turns at six. Be ready"


def test_the_benchmarks_own_check_flags_the_junk_and_passes_what_the_trimmer_keeps() -> None:
    """`kith bench quality` counts broken replies with patterns of its own: they must flag
    what the model wrote and pass what the trimmer stores, or the benchmark measures nothing."""
    from benchmarks.bench_quality import broken_rules

    for written, expected in CASES:
        trimmer = StopTrimmer(stop_sequences("Avery", ["Tobias Wren"]), "Mara Quinn", "Avery")
        trimmer.feed(written)
        trimmer.finish()
        kept = trimmer.reply.strip()
        assert kept == expected
        assert broken_rules(kept, own="Mara Quinn", others=["Tobias Wren"], user="Avery") == [], kept
        if written != expected:
            assert broken_rules(written, own="Mara Quinn", others=["Tobias Wren"], user="Avery"), written
