"""Witnessed observations (§5.3.1): every message is remembered by each bot present.

A projection, not new events: when ``message_posted`` is applied, one
``observation`` memory is written for every bot in the chat's scene (and for the
bot that spoke), with the message's text, the message id it refers to and a
heuristic importance. Nothing is added to the log, so the text is stored once
there; a rebuild writes the same rows again (deterministic, no model call), so
memory works with any model. A bot that is not present learns nothing.

Edits, deletions and the choice between alternative replies follow the message:
an edited message's observations get its new text, a deleted one's are removed,
and only the chosen alternative of a regenerated reply is remembered. Reverted
turns lose their messages, and so their observations, like every other event.
"""

from __future__ import annotations

import json
import re
import sqlite3

from chat.eventlog.log import Event
from chat.eventlog.projector import handles
from chat.state.worlds import DEFAULT_USER_NAME, projected_chat_world

OBSERVATION_PREFIX = "obs:"
_NUMBER = re.compile(r"\d")
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}")
_FIRST_PERSON = re.compile(
    r"\b(i am|i'm|i have|i've|i was|i will|my|mine|we are|our)\b", re.IGNORECASE
)
WEIGHTY_WORDS = (
    "love", "loved", "hate", "hated", "died", "dead", "death", "born", "married", "wedding",
    "divorce", "promise", "promised", "secret", "never", "always", "afraid", "scared",
    "birthday", "pregnant", "sick", "hospital", "job", "moved", "lost", "found", "kill",
    "killed", "sorry", "forgive", "betray", "friend", "enemy", "family", "mother", "father",
    "sister", "brother", "daughter", "son", "wife", "husband",
)  # fmt: skip
_WEIGHTY = re.compile(rf"\b({'|'.join(WEIGHTY_WORDS)})\b", re.IGNORECASE)
_WEIGHTY_SET = frozenset(WEIGHTY_WORDS)

# The same tests for ASCII text, 4x faster (docs/benchmarks.md, "Replay with observations"):
# every message of a rebuild is scored, and the case-blind alternations above try each
# word at every position. On ASCII text, lower-casing then matching case-sensitively is
# the same test, and a word-list match is a whole \w+ word in the list.
_FIRST_PERSON_LOWER = re.compile(r"\b(?:i am|i'm|i have|i've|i was|i will|my|mine|we are|our)\b")
_PROPER_AT_CAPITAL = re.compile(r"[A-Z](?<=\b[A-Z])(?<!^[A-Z])(?<![.!?]\s[A-Z])[a-z]{2,}")
"""`_PROPER`, its assertions moved after the capital, so the search skips to capitals."""
_WORD = re.compile(r"\w+")


def observation_importance(text: str) -> int:
    """1–10 without a model: small talk scores low; what a person says about
    themselves, names, numbers and dates, and weighty words score higher. Extraction
    may raise it later (§5.5)."""
    if not text.isascii():
        return observation_importance_by_regex(text)
    lower = text.lower()
    score = 2 + (len(text) > 80)
    score += bool(_NUMBER.search(text))
    score += bool(_FIRST_PERSON_LOWER.search(lower))
    score += bool(_PROPER_AT_CAPITAL.search(text))
    weighty = 0
    for word in _WORD.findall(lower):
        if word in _WEIGHTY_SET:
            weighty += 1
            if weighty == 2:
                break
    return max(1, min(10, score + weighty))


def observation_importance_by_regex(text: str) -> int:
    """`observation_importance` as defined: the reference for any text (a test holds the
    fast path to it), and the path for text with non-ASCII letters, whose case rules
    (the Kelvin sign, the long s) lower-casing would not follow."""
    score = 2
    if len(text) > 80:
        score += 1
    if _NUMBER.search(text):
        score += 1
    if _FIRST_PERSON.search(text):
        score += 1
    if _PROPER.search(text):
        score += 1
    score += min(2, len(_WEIGHTY.findall(text)))
    return max(1, min(10, score))


def observation_id(message_id: str, bot_id: str) -> str:
    return f"{OBSERVATION_PREFIX}{message_id}:{bot_id}"


def witnesses(conn: sqlite3.Connection, chat_id: str, author: str) -> tuple[list[str], str]:
    """The bots who see a message in ``chat_id`` (those in its scene, plus its author) and
    the chat's world, read in one statement: this runs for every message posted."""
    world_id, present_json = conn.execute(
        "SELECT (SELECT world_id FROM chats WHERE id = ?1), (SELECT present FROM scenes WHERE chat_id = ?1)",
        (chat_id,),
    ).fetchone()
    world = world_id or "default"  # the chat's world only (§3.5)
    present = list(json.loads(present_json)) if present_json else []
    if author not in present:
        present.append(author)
    marks = ",".join("?" for _ in present)
    bots = {
        r[0]
        for r in conn.execute(
            f"SELECT id FROM bots WHERE id IN ({marks}) AND retired = 0", present  # noqa: S608
        )
    }
    return [who for who in present if who in bots], world


def witnessed(conn: sqlite3.Connection, bot_id: str, messages: list[dict]) -> list[dict]:
    """``messages`` less those ``bot_id`` did not witness (§5.3.1): its own, and those it has
    a witnessed observation of, i.e. it was present when they were posted. One read of the
    memories' primary key per 500 messages (a prompt's window is 200): a bot's transcript
    must not show what was said while it was away. An observation the user deleted by
    hand takes its message out of the bot's transcript too: the bot no longer knows it."""
    asked = [observation_id(m["id"], bot_id) for m in messages if m["author"] != bot_id]
    seen: set[str] = set()
    for at in range(0, len(asked), 500):
        chunk = asked[at : at + 500]
        marks = ",".join("?" * len(chunk))
        seen.update(
            row[0]
            for row in conn.execute(f"SELECT message_id FROM memories WHERE id IN ({marks})", chunk)  # noqa: S608
        )
    if len(seen) == len(asked):
        return messages
    return [m for m in messages if m["author"] == bot_id or m["id"] in seen]


def witnessed_all(conn: sqlite3.Connection, bot_ids: list[str], message_ids: list[str]) -> list[str]:
    """Those of ``bot_ids`` that witnessed every one of ``message_ids`` that anyone did (a
    message with no observation, an empty one, is nobody's to miss): a summary of them
    (a chapter, §5.7) may be theirs without telling them what was said while they were away."""
    seen: dict[str, set[str]] = {}
    needed: set[str] = set()
    for at in range(0, len(message_ids), 500):
        chunk = message_ids[at : at + 500]
        marks = ",".join("?" * len(chunk))
        for message_id, owner in conn.execute(
            f"SELECT message_id, owner FROM memories WHERE kind = 'observation' AND message_id IN ({marks})",  # noqa: S608
            chunk,
        ):
            needed.add(message_id)
            seen.setdefault(owner, set()).add(message_id)
    return [b for b in bot_ids if seen.get(b, set()) >= needed]


def author_name(conn: sqlite3.Connection, author: str, world_id: str) -> str:
    """The name an observation line gives the author of a message in ``world_id``: a bot's
    name, else the author's entity in that world. For "you" that is the world's `you`
    entity, which follows the world's persona (§3.6) and a rename by hand alike. Read from
    the projection as it stands at the message, so a rebuild writes the same line."""
    row = conn.execute("SELECT name FROM bots WHERE id = ?", (author,)).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT name FROM entities WHERE world_id = ? AND id = ?", (world_id, author)
        ).fetchone()
    return row[0] if row and row[0] else (DEFAULT_USER_NAME if author == "you" else author)


def write_observations(
    conn: sqlite3.Connection,
    event: Event,
    *,
    message_id: str,
    chat_id: str,
    author: str,
    text: str,
) -> None:
    """One observation memory of ``message_id`` for each bot that witnessed it."""
    if not text.strip():
        return
    seen_by, world_id = witnesses(conn, chat_id, author)
    if not seen_by:
        return
    line = f"{author_name(conn, author, world_id)}: {text}"
    importance = observation_importance(text)
    about = json.dumps([author])
    for bot_id in seen_by:
        conn.execute(
            "INSERT OR IGNORE INTO memories (id, owner, text, kind, importance, about, turn_id,"
            " event_id, created_at, last_retrieved_at, message_id, world_id)"
            " VALUES (?, ?, ?, 'observation', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                observation_id(message_id, bot_id),
                bot_id,
                line,
                importance,
                about,
                event.turn_id,
                event.id,
                event.created_at,
                event.created_at,
                message_id,
                world_id,
            ),
        )


def forget_observations(conn: sqlite3.Connection, message_id: str) -> None:
    conn.execute("DELETE FROM memories WHERE message_id = ?", (message_id,))


@handles("message_posted")
def _observe_message(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    if p.get("alt_group"):  # a new alternative is the chosen one: forget the others
        for (other,) in conn.execute(
            "SELECT id FROM messages WHERE alt_group = ? AND id != ? AND chat_id = ?",
            (p["alt_group"], p["id"], p["chat_id"]),
        ).fetchall():
            forget_observations(conn, other)
    write_observations(
        conn, event, message_id=p["id"], chat_id=p["chat_id"], author=p["author"], text=p["text"]
    )


@handles("message_edited")
def _observe_edit(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    row = conn.execute("SELECT author, chat_id FROM messages WHERE id = ?", (p["id"],)).fetchone()
    if row is None:
        return
    if not p["text"].strip():
        forget_observations(conn, p["id"])
        return
    line = f"{author_name(conn, row[0], projected_chat_world(conn, row[1]))}: {p['text']}"
    conn.execute(
        "UPDATE memories SET text = ?, importance = ? WHERE message_id = ?",
        (line, observation_importance(p["text"]), p["id"]),
    )
    # their stored vectors (§7.6.1) are of the old text: recomputed in the background
    conn.execute(
        "DELETE FROM memory_vectors WHERE memory_id IN"
        " (SELECT id FROM memories WHERE message_id = ?)",
        (p["id"],),
    )


@handles("message_deleted")
def _observe_delete(conn: sqlite3.Connection, event: Event) -> None:
    forget_observations(conn, event.payload["id"])


@handles("alternative_chosen")
def _observe_choice(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    rows = conn.execute(
        "SELECT id, chat_id, author, text, deleted FROM messages WHERE alt_group = ?"
        " AND chat_id = (SELECT chat_id FROM messages WHERE id = ?)",
        (p["alt_group"], p["message_id"]),
    ).fetchall()
    if not any(r[0] == p["message_id"] for r in rows):
        return
    for message_id, chat_id, author, text, deleted in rows:
        forget_observations(conn, message_id)
        if message_id == p["message_id"] and not deleted:
            write_observations(
                conn, event, message_id=message_id, chat_id=chat_id, author=author, text=text
            )
