"""Recall's reads (§8.3) against plain reference queries: the FTS candidates, the words'
document counts and the standing memories give what reading every row would give, with
observations of the messages in view passed over (session 22's cheaper reads)."""

from __future__ import annotations

import random
import sqlite3

import pytest

import chat.memory.lexical as lexical
from chat.memory.retrieval import _standing_rows
from chat.state.fts import or_query

WORDS = ["lamp", "storm", "harbour", "gull", "kraken", "ink", "rope", "tide", "lantern", "keel", "sail", "net"]


def add_rows(conn: sqlite3.Connection, seed: int) -> list[str]:
    """Memories of three owners in two worlds, written straight into the projection:
    observations (with a message id), facts without one, some superseded, with tied and
    untied importance and retrieval times. The observed message ids, in order."""
    rnd = random.Random(seed)
    messages: list[str] = []
    for n in range(400):
        owner = rnd.choice(["mara", "mara", "bo", "lu"])
        world = "default" if rnd.random() < 0.85 else "w2"
        message = None
        if rnd.random() < 0.6:
            message = f"msg{n}"
            messages.append(message)
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 9)))
        conn.execute(
            "INSERT INTO memories (id, owner, text, kind, importance, about, event_id, created_at,"
            " last_retrieved_at, world_id, message_id, superseded_by) VALUES (?, ?, ?, 'fact', ?, '', ?,"
            " '2025-01-01T00:00:00.000000Z', ?, ?, ?, ?)",
            (
                f"obs:{message}:{owner}" if message else f"m{n}",
                owner,
                text,
                rnd.randint(1, 4),
                n + 1,
                f"2025-01-01T{rnd.randint(0, 5):02d}:00:00.000000Z",
                world,
                message,
                "m0" if rnd.random() < 0.1 else None,
            ),
        )
    return messages


def reference_standing(conn: sqlite3.Connection, owner: str, world: str, skip: set[str], each: int) -> list[int]:
    """Every live memory of ``owner`` read, in each index's order (ties: newest rowid first,
    the index walked backwards), observations in view dropped, the first ``each`` kept."""
    picked: list[int] = []
    for column in ("last_retrieved_at", "importance"):
        rows = conn.execute(
            f"SELECT rowid, message_id FROM memories WHERE world_id = ? AND owner = ?"  # noqa: S608
            f" AND superseded_by IS NULL ORDER BY {column} DESC, rowid DESC",
            (world, owner),
        ).fetchall()
        picked += [rowid for rowid, message in rows if message is None or message not in skip][:each]
    return picked


@pytest.mark.parametrize("seed", range(6))
def test_standing_memories_pass_over_the_messages_in_view_as_a_full_read_would(
    conn: sqlite3.Connection, seed: int
) -> None:
    messages = add_rows(conn, seed)
    rnd = random.Random(seed + 100)
    for _ in range(20):
        skip = set(rnd.sample(messages, rnd.randint(0, len(messages))))
        owner, world, each = rnd.choice(["mara", "bo", "lu"]), rnd.choice(["default", "w2"]), rnd.randint(0, 12)
        got = _standing_rows(conn, owner, world, skip, each)
        assert [row[0] for row in got] == reference_standing(conn, owner, world, skip, each)
        assert all(len(row) == 7 and row[1] for row in got)  # whole `LIGHT` rows


@pytest.mark.parametrize("seed", range(6))
def test_fts_candidates_are_the_best_bm25_matches_not_in_view(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    messages = add_rows(conn, seed)
    monkeypatch.setattr(lexical, "FTS_CANDIDATES", 7)  # the cut falls inside the matches
    rnd = random.Random(seed + 200)
    for _ in range(20):
        skip = set(rnd.sample(messages, rnd.randint(0, len(messages) // 2)))
        owner, world = rnd.choice(["mara", "bo", "lu"]), rnd.choice(["default", "w2"])
        match = or_query(rnd.sample(WORDS, rnd.randint(1, 3)))
        candidates, bm25, ranks = lexical.lexical_candidates(conn, owner, match, world, skip)
        every = conn.execute(
            "SELECT f.rowid, bm25(memories_fts), m.id, m.message_id FROM memories_fts f"
            " JOIN memories m ON m.rowid = f.rowid WHERE memories_fts MATCH ? AND m.owner = ?"
            " AND m.world_id = ? AND m.superseded_by IS NULL ORDER BY 2, 1",
            (match, owner, world),
        ).fetchall()
        assert ranks == {rowid: score for rowid, score, _, _ in every}
        best = [(mid, score) for _, score, mid, message in every if message is None or message not in skip][:7]
        assert list(candidates) == [mid for mid, _ in best]
        assert bm25 == {mid: -score for mid, score in best}
        assert all(row[1] == mid and len(row) == 7 for mid, row in candidates.items())


def test_document_counts_in_one_statement_are_the_counts_word_by_word(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_rows(conn, 1)
    conn.execute(
        "INSERT INTO memories (id, owner, text, kind, importance, about, event_id, created_at,"
        " last_retrieved_at) VALUES ('rare', 'mara', 'a narwhal', 'fact', 1, '', 999, '', '')"
    )
    words = [*WORDS, "absent", "narwhal", "lamps"]
    sql = "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)"
    whole = [conn.execute(sql, (f'"{w}"', 10**6)).fetchone()[0] for w in words]
    cap = sorted(whole)[len(whole) // 2]
    monkeypatch.setattr(lexical, "TERM_CAP", cap)
    alone = [conn.execute(sql, (f'"{w}"', cap)).fetchone()[0] for w in words]
    assert 0 in alone and cap in alone and any(0 < n < cap for n in alone)  # every case is met
    for at_once in (1, 3, 16):
        monkeypatch.setattr(lexical, "COUNTS_AT_ONCE", at_once)
        assert lexical._document_counts(conn, words) == alone
    assert lexical._document_counts(conn, []) == []
