"""§4.8 on what the bundled SmolLM2-135M wrote in the demo world (session 25: 22 turns of
Mara and Tobias, 1:1 and in the group, persona "You" and "Ada"; 34 samples, 31 replies
stored), beyond what test_reply_rules.py covers: another speaker's label behind a bullet,
also of a bot of the world that is not in the chat, the bot's own label on a later line,
a quoted line attributed to another bot ("...," said Mara Quinn), and the bot calling
itself by name at the start. Each is checked streamed in pieces of every
size and through a real turn of the scripted backend (§7.5), where the stored message is
what the streamed tokens added up to, and a reply cleaned to nothing is never stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat.tests.turn_support import events, running
from chat.turns.stops import StopTrimmer, stop_sequences

pytestmark = pytest.mark.anyio

MARA_Q = {"id": "mara", "name": "Mara Quinn", "persona": "The harbour pilot."}
TOBIAS_W = {"id": "tobias", "name": "Tobias Wren", "persona": "The innkeeper."}

TOBIAS_WROTE = [
    # (what the model wrote as Tobias, with Mara Quinn present and the persona Ada; the reply)
    ("The one with the map?\n- Mara Quinn: Yes, it's that mysterious man.", "The one with the map?"),
    ("I can assure you of my gratitude.\nTobias Wren: I don", "I can assure you of my gratitude."),
    ('You could have some thoughts... "I\'ve just had a look around," said Mara Quinn with a smile.',
     "You could have some thoughts..."),  # fmt: skip
    ("Aye.\n**Mara:** Not so fast.", "Aye."),
    ("Aye.\n> Ada: fine", "Aye."),
    ("Mara Quinn: I", ""),
    ("Ada: The", ""),
    ("- Tobias: Room's upstairs.", "Room's upstairs."),
    # what must pass untouched
    ("Mara Quinn is a fool, you know.", "Mara Quinn is a fool, you know."),
    ("Tobias Wren's inn is warm.", "Tobias Wren's inn is warm."),
    ("You'll need:\n- a rope\n- a coat", "You'll need:\n- a rope\n- a coat"),
    ("The crew:\n- Mara Quinn, the pilot", "The crew:\n- Mara Quinn, the pilot"),
    ('"Aye," Tobias says.', '"Aye," Tobias says.'),
    ('"We sail at dawn." Mara nods.', '"We sail at dawn." Mara nods.'),  # his own line; she only nods
    ("Ada, Mara's plan sounds like a dream.", "Ada, Mara's plan sounds like a dream."),
]
MARA_WROTE = [
    ('"Mara, I\'m so glad to have them here." She leans in closer.',
     '"I\'m so glad to have them here." She leans in closer.'),  # fmt: skip
    ("Mara, the tide turns at six.", "The tide turns at six."),
    ("Mara Quinn: Mara, aye.", "Aye."),
    ("Marathon day, Ada.", "Marathon day, Ada."),
    ("Mara Quinn's boat is fast.", "Mara Quinn's boat is fast."),
]


def _stream(trimmer: StopTrimmer, written: str, size: int) -> str:
    shown = ""
    for i in range(0, len(written), size):
        shown += trimmer.feed(written[i : i + size])
        if trimmer.stopped:
            break
    return shown + trimmer.finish()


@pytest.mark.parametrize("size", [1, 3, 200])
@pytest.mark.parametrize(
    ("own", "other", "written", "expected"),
    [("Tobias Wren", "Mara Quinn", w, e) for w, e in TOBIAS_WROTE]
    + [("Mara Quinn", "Tobias Wren", w, e) for w, e in MARA_WROTE],
)
def test_what_the_bundled_model_wrote_is_cleaned_while_it_streams(
    own: str, other: str, written: str, expected: str, size: int
) -> None:
    trimmer = StopTrimmer(stop_sequences("Ada", [other]), own, "Ada")
    shown = _stream(trimmer, written, size)
    assert trimmer.reply.strip() == expected
    if " said " not in written:  # a quoted line is known as another's only at its attribution
        assert shown.strip() == expected, "the stream showed what the stored reply leaves out"


def _group_rules() -> list[dict[str, Any]]:
    return [
        {"match": "maps", "bot": "tobias", "reply": "The one with the map?\n- Mara Quinn: Yes, the mysterious man."},
        {"match": "maps", "bot": "mara", "reply": '"Mara, I saw him too." She nods.\nMara Quinn: And his boat'},
        {"match": "reef", "bot": "tobias", "reply": "Mara Quinn: I"},
        {"match": "reef", "bot": "mara", "reply": "Mara Quinn: The reef bites, {{user}}."},
        {"match": "room", "bot": "tobias", "reply": "{{user}}: The"},
        {"match": "stranger", "bot": "tobias", "reply": "The one with the map?\n- Mara Quinn: Yes.\nMara: He is."},
    ]


async def _replies_and_tokens(rt: Any, chat_id: str, text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The turn, and each stored reply's streamed tokens joined, by message id."""
    streamed: dict[str, str] = {}
    async with rt.bus.subscribe(chat_id) as sub:
        _, turn_id = await rt.post_message(chat_id, text)
        await rt.wait_idle(chat_id)
        while not sub.queue.empty():
            item = sub.queue.get_nowait()
            if item.type == "token":
                streamed[item.data["message_id"]] = streamed.get(item.data["message_id"], "") + item.data["text"]
    return rt.get_turn(turn_id), streamed


async def test_a_group_turn_stores_what_streamed_cleaned_and_skips_a_reply_cleaned_to_nothing(
    data_dir: Path,
) -> None:
    async with running(data_dir, _group_rules(), extraction_enabled=False, max_replies_per_turn=2) as rt:
        await rt.set_persona("Ada")
        for fields in (MARA_Q, TOBIAS_W):
            await rt.author_bot(fields)
        group = await rt.create_chat(["mara", "tobias"])
        solo = await rt.create_chat(["tobias"])

        turn, streamed = await _replies_and_tokens(rt, group["id"], "Who is the stranger with the maps?")
        assert turn["status"] == "completed"
        replies = {e.payload["author"]: e.payload for e in events(data_dir, kind="message_posted", turn_id=turn["id"])}
        assert replies["tobias"]["text"] == "The one with the map?"
        assert replies["mara"]["text"] == '"I saw him too." She nods.'
        for author in ("mara", "tobias"):  # the page shows the stored text in the streamed one's
            assert streamed[replies[author]["id"]].strip() == replies[author]["text"]  # place; here they agree

        turn, _ = await _replies_and_tokens(rt, group["id"], "Tell me about the reef.")
        assert turn["status"] == "completed"
        posted = [e.payload for e in events(data_dir, kind="message_posted", turn_id=turn["id"])]
        assert [(p["author"], p["text"]) for p in posted] == [
            ("you", "Tell me about the reef."), ("mara", "The reef bites, Ada.")
        ]  # fmt: skip
        completed = events(data_dir, kind="turn_completed", turn_id=turn["id"])[-1].payload
        assert completed["skipped"] == {"tobias": "the model gave Tobias Wren an empty reply twice; retry the turn"}

        # 1:1: Mara is not in the chat but in the world; a line of hers is still not Tobias's
        turn, streamed = await _replies_and_tokens(rt, solo["id"], "A stranger came in.")
        [reply] = [e.payload for e in events(data_dir, kind="message_posted", turn_id=turn["id"])][1:]
        assert reply["text"] == "The one with the map?" == streamed[reply["id"]].strip()

        turn, _ = await _replies_and_tokens(rt, solo["id"], "Can I get a room?")
        assert turn["status"] == "failed" and "empty reply twice" in turn["error"], turn
        posted = [e.payload for e in events(data_dir, kind="message_posted", turn_id=turn["id"])]
        assert [p["author"] for p in posted] == ["you"], "nothing empty is stored"
