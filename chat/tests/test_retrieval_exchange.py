"""Every candidate is scored by its own BM25, however it came (§8.3), and a reply is
recalled with the question it answers (``chat.memory.exchange``), on chats stored through
the real write path (``message_posted``, witnessed observations, §5.3.1)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

import chat.memory.lexical as lexical
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.memory.exchange import REPLIES, REPLY_WINDOW
from chat.memory.retrieval import retrieve_memories
from chat.memory.vectors import embed_pending
from chat.state.observations import observation_id
from chat.tests.test_retrieval import LetterEmbedder, add_memories

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
FILLER = [  # each with "my": more important than the reply below (§5.3.1's heuristic)
    "My tea went cold again today.",
    "My train was late this morning.",
    "My shoes got wet in the rain.",
    "My neighbour sold out of oranges.",
    "My film night was a bank robbery film.",
    "My window is stuck.",
]


def scores(conn: sqlite3.Connection, query: str, **kwargs: object) -> dict[str, float]:
    return {m["id"]: s for m, s in retrieve_memories(conn, "mara", query, now=NOW, k=50, **kwargs)}  # type: ignore[arg-type]


@pytest.mark.parametrize("embedded", [False, True])
def test_a_match_below_the_lexical_cut_keeps_its_bm25(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch, embedded: bool
) -> None:
    """Cut the lexical candidates to one: the other matches still come (as the most
    important and recent memories, or as nearest vectors) and must score exactly as
    when they were lexical candidates, not as memories that match nothing."""
    add_memories(
        conn,
        [
            ("a", "mara", 2, "storm storm storm over the harbour"),
            ("b", "mara", 9, "a storm once, long ago, far away from any harbour at all"),
            ("c", "mara", 5, "the storm"),
            ("d", "mara", 5, "gulls and fish and nets"),
        ],
    )
    options: dict[str, object] = {}
    if embedded:
        embedder = LetterEmbedder()
        while embed_pending(conn, embedder):
            pass
        options = {"embedder": embedder, "index_candidates": 0}
    full = scores(conn, "storm harbour", **options)
    monkeypatch.setattr(lexical, "FTS_CANDIDATES", 1)
    cut = scores(conn, "storm harbour", **options)
    assert set(full) == {"a", "b", "c", "d"}
    assert cut == pytest.approx(full)
    assert min(full, key=full.__getitem__) == "d"  # the one memory that matches nothing


def chat(conn: sqlite3.Connection, chat_id: str, lines: list[tuple[str, str]], *, start: int = 0) -> None:
    """Messages (author, text) of ``chat_id``, which mara and eli are in, in order."""
    events = [
        NewEvent("message_posted", {"id": f"{chat_id}-{n}", "chat_id": chat_id, "author": who, "text": text},
                 chat_id=chat_id)
        for n, (who, text) in enumerate(lines, start)
    ]  # fmt: skip
    append_events(conn, events, clock=lambda: "2025-01-01T11:00:00.000000Z")  # recency: all equal
    project(conn)


def obs(chat_id: str, n: int) -> str:
    return observation_id(f"{chat_id}-{n}", "mara")


@pytest.fixture
def two_chats(conn: sqlite3.Connection) -> sqlite3.Connection:
    append_events(
        conn,
        [
            NewEvent("bot_authored", {"id": "mara", "name": "Mara"}),
            NewEvent("bot_authored", {"id": "eli", "name": "Eli"}),
            NewEvent("chat_created", {"id": "c1", "title": "c1", "bot_ids": ["mara", "eli"]}),
            NewEvent("chat_created", {"id": "c2", "title": "c2", "bot_ids": ["mara"]}),
        ],
    )
    project(conn)
    return conn


def test_a_reply_is_recalled_by_its_questions_words(two_chats: sqlite3.Connection) -> None:
    """The reply shares no word with the query and is the least important memory: only
    half its question's relevance (3 · 0.5) puts it above the rest (importance 1 at most)."""
    conn = two_chats
    lines = [("you", text) for text in FILLER]
    lines[2] = ("eli", "How is the pottery class going?")
    lines[3] = ("you", "Slowly, the wheel is hard.")
    chat(conn, "c1", lines)
    got = scores(conn, "What did you make in the pottery class?")
    assert list(got)[:2] == [obs("c1", 2), obs("c1", 3)]  # the question, then its answer
    assert got[obs("c1", 3)] == pytest.approx(3 * 0.5)  # relevance 0.5, the least important
    assert len(got) == len(FILLER)
    lexical_only = scores(conn, "What did you make in the pottery class?", index_candidates=0)
    assert list(lexical_only) == [obs("c1", 2), obs("c1", 3)]  # it comes as the question's reply


def test_a_question_passes_on_its_topic_not_its_asker(two_chats: sqlite3.Connection) -> None:
    """A question whose only matching word is its speaker label says nothing about
    its reply; the reply is no candidate for the asker's name."""
    conn = two_chats
    chat(conn, "c1", [("eli", "Did you watch the match last night?"), ("you", "Yes, a dull draw.")])
    got = scores(conn, "What is Eli afraid of?", index_candidates=0)
    assert list(got) == [obs("c1", 0)]
    chat(conn, "c1", [("eli", "Are your spiders well fed?"), ("you", "They had crickets.")], start=2)
    got = scores(conn, "Is Eli afraid of a spider?", index_candidates=0)  # "spiders": the same stem
    assert list(got) == [obs("c1", 2), obs("c1", 3), obs("c1", 0)]


def test_the_reply_in_the_questions_chat_is_credited_past_another_chats_memory(
    two_chats: sqlite3.Connection,
) -> None:
    """Mara is in two chats at once: her next memory after the question is c2's, and the
    answer in c1 comes after it. The answer is credited, c2's line never (session 20's rule
    took the next memory in the world and, finding c2's, credited nothing)."""
    conn = two_chats
    chat(conn, "c1", [("eli", "How is the pottery class going?")])
    chat(conn, "c2", [("you", "I made a bowl."), ("you", "Anyway.")])
    got = scores(conn, "pottery class", index_candidates=0)
    assert list(got) == [obs("c1", 0)]  # c2's next lines answer nothing of c1's
    chat(conn, "c1", [("you", "Slowly, the wheel is hard.")], start=1)
    got = scores(conn, "pottery class", index_candidates=0)
    assert list(got) == [obs("c1", 0), obs("c1", 1)]
    assert obs("c2", 0) not in got and obs("c2", 1) not in got


def test_the_reply_is_another_speakers_within_a_few_messages(two_chats: sqlite3.Connection) -> None:
    """The asker's own next lines are no answer; the first line of someone else within
    `REPLY_WINDOW` messages is, and only that one."""
    conn = two_chats
    chat(conn, "c1", [("eli", "How is the pottery class going?"), ("eli", "I saw the poster."),
                      ("you", "Slowly, the wheel is hard."), ("eli", "Oh no."), ("you", "Tomorrow again.")])  # fmt: skip
    assert list(scores(conn, "pottery class", index_candidates=0)) == [obs("c1", 0), obs("c1", 2)]
    chat(conn, "c1", [("eli", "Is the kiln class full?"), *[("eli", f"Line {n}.") for n in range(REPLY_WINDOW)],
                      ("you", "No, two places left.")], start=5)  # fmt: skip
    assert list(scores(conn, "kiln", index_candidates=0)) == [obs("c1", 5)]  # the answer came too late


def test_an_answer_the_owner_did_not_witness_passes_to_no_later_line(two_chats: sqlite3.Connection) -> None:
    """Mara left the scene before the answer: she does not know it, and her next memory of
    the chat (after she came back) answers something else."""
    conn = two_chats
    chat(conn, "c1", [("eli", "How is the pottery class going?")])
    append_events(conn, [NewEvent("scene_changed", {"chat_id": "c1", "present": ["eli"]}, chat_id="c1")])
    chat(conn, "c1", [("you", "Slowly, the wheel is hard.")], start=1)
    append_events(conn, [NewEvent("scene_changed", {"chat_id": "c1", "present": ["mara", "eli"]}, chat_id="c1")])
    chat(conn, "c1", [("you", "Anyway, the weather.")], start=2)
    assert conn.execute("SELECT count(*) FROM memories WHERE id = ?", (obs("c1", 1),)).fetchone() == (0,)
    assert list(scores(conn, "pottery class", index_candidates=0)) == [obs("c1", 0)]


def test_a_deleted_answer_is_skipped(two_chats: sqlite3.Connection) -> None:
    conn = two_chats
    chat(conn, "c1", [("eli", "How is the pottery class going?"), ("you", "Badly."), ("you", "Slowly, the wheel is hard.")])
    append_events(conn, [NewEvent("message_deleted", {"id": "c1-1"}, chat_id="c1")])
    project(conn)
    assert list(scores(conn, "pottery class", index_candidates=0)) == [obs("c1", 0), obs("c1", 2)]


def test_a_reply_of_another_world_is_never_credited(two_chats: sqlite3.Connection) -> None:
    """Mara also talks in a chat of another world, interleaved with c1: neither world's
    question credits a line of the other's, and each credits its own chat's answer."""
    conn = two_chats
    append_events(conn, [
        NewEvent("world_created", {"id": "w2", "name": "Elsewhere"}),
        NewEvent("chat_created", {"id": "c3", "title": "c3", "bot_ids": ["mara"], "world_id": "w2"}),
    ])  # fmt: skip
    project(conn)
    chat(conn, "c1", [("eli", "How is the pottery class going?")])
    chat(conn, "c3", [("you", "Is the pottery class open?"), ("you", "Hello?")])
    chat(conn, "c1", [("you", "Slowly, the wheel is hard.")], start=1)
    chat(conn, "c3", [("mara", "Closed on Sundays.")], start=2)
    assert conn.execute("SELECT world_id FROM memories WHERE id = ?", (obs("c3", 2),)).fetchone() == ("w2",)
    assert list(scores(conn, "pottery class", index_candidates=0)) == [obs("c1", 0), obs("c1", 1)]
    in_w2 = scores(conn, "pottery class", index_candidates=0, world_id="w2")
    assert list(in_w2) == [obs("c3", 0), obs("c3", 2)]


def test_a_reply_is_found_by_index(two_chats: sqlite3.Connection) -> None:
    """A few entries of the question's chat (``messages_chat``), then one lookup by message
    id: never a walk over the owner's memories, which every retrieval would pay for."""
    plan = " | ".join(str(r[-1]) for r in two_chats.execute(f"EXPLAIN QUERY PLAN {REPLIES}", ("default", "mara", "[]")))
    assert "memories_message (message_id=?)" in plan and "messages_chat (chat_id=? AND event_id>?)" in plan, plan
    assert "memories_owner_event" not in plan and "SCAN m" not in plan and "SCAN messages" not in plan, plan


def test_a_reply_in_view_gets_no_credit(two_chats: sqlite3.Connection) -> None:
    conn = two_chats
    chat(conn, "c1", [("eli", "How is the pottery class going?"), ("you", "Slowly, the wheel is hard.")])
    assert list(scores(conn, "pottery class", index_candidates=0)) == [obs("c1", 0), obs("c1", 1)]
    got = scores(conn, "pottery class", index_candidates=0, skip_messages={"c1-1"})
    assert list(got) == [obs("c1", 0)]
