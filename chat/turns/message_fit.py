"""Refusing a message that no bot of its chat could answer, before it is stored (§4.4, §8.2).

A prompt keeps the newest message whole (older ones, memories and chapters give way to
it), so a message larger than what is left of the context beside the bot's card, voice
samples, note and reply is a turn that can only fail: "the latest message needs 4008
tokens but only 3627 … are left". Posting such a text, or editing the chat's newest
message into one, is refused here with a 422 naming its size and the limit (an older
message can only drop out of a prompt, so its edits are not checked). Only the bots that
can answer count: the chat's active bots present in its scene (`present_bots`).

The check counts the way the turn will: the same prompt frame
(`chat.turns.prompt.prompt_frame`) for each of those bots, the text as the newest message
of what the bot witnessed, by the backend's own tokenizer, with the note's frame counted
even when empty (a turn that recalls memories adds one), and two allowances that make it
the turn's worst case rather than one guess at it. Lore with a probability is counted as
if every roll passed (the turn rolls with its own id, which does not exist yet). Each
relationship line of the note is given `feeling_slack` tokens, the spread of the phrases
`_feeling` writes (7 tokens in SmolLM2's vocabulary and in the scripted count: "likes
them and trusts them" is 5, "feels neutral about them and is unsure whether to trust
them" 12 and 11), plus one: a turn queued before this one may move an edge between them.

What is guaranteed: a message accepted here is answered by its turn, when the chat's
bots, scene, lore and settings and the world's facts are what they were at post time.
Not covered: an earlier turn of the same chat still queued at post time whose extraction
writes a fact, a scene or an edge's label or notes (the note grows by those); a lore
token budget (a quarter of the context) that the worst case fills, where a turn whose
rolls fail may let other, longer entries in within the same budget.

Most messages need no tokenizer (`fits_by_bytes`, run on the event loop for every post):
a bound of every token a bot's prompt can hold beside the message, from byte lengths (a
token is at least a byte in the byte-level and SentencePiece vocabularies, and the
scripted ~4 characters of an estimate are more): the character sheet and note, which
`_fit_core` holds to half the budget (unless the persona alone is so long that it is cut
by characters); the voice samples as messages; the Character's Note and post-history instructions; at most
the lore budget for lore inserts, with a message's overhead each. When that and the text
fit the budget, the message fits every turn; otherwise, or when a bot has regex scripts
(which may lengthen a text past its bytes) or such a persona, the full check runs, off
the event loop.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.cards.macros import expand_macros
from chat.errors import Conflict, ValidationFailed
from chat.llm.base import Backend
from chat.state.chats import recent_messages
from chat.state.entities import get_bot
from chat.state.lore import prompt_lore_size
from chat.state.observations import witnessed
from chat.state.world import get_scene
from chat.turns.card_prompt import LORE_BUDGET_PERCENT, card_extension, card_text
from chat.turns.plan import present_bots
from chat.turns.prompt import (
    HISTORY_LIMIT,
    PROMPT_MARGIN,
    CountTokens,
    instruction,
    newest_room,
    prompt_frame,
)
from chat.turns.prompt_layout import MESSAGE_OVERHEAD
from chat.turns.prompt_sections import MAX_VOICE_SAMPLES, VOICE_CUE, feeling_phrases
from chat.turns.regex_scripts import scripts_of
from chat.world.chats import user_name

CANDIDATE_ID = "msg-candidate"
"""The id the text goes by while it is checked."""
PIECE = MESSAGE_OVERHEAD + 2
"""The bound's tokens per counted piece beyond its bytes: its template overhead, and a
tokenizer that adds a start token or splits differently at a join."""
NAME_BYTES = 80 * 4 + 2
"""The "Name: " a group chat puts before a message when the author's name is not at hand."""


def answerers(conn: sqlite3.Connection, chat: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat's active bots that can answer: present in its scene (none: nobody to fit)."""
    bots = [b for b in (get_bot(conn, bot_id) for bot_id in chat["bot_ids"]) if b and not b["retired"]]
    try:
        return present_bots(conn, chat, bots) if bots else []
    except Conflict:
        return []


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def extras_bound(conn: sqlite3.Connection, chat: dict[str, Any], bot: dict[str, Any], you: str, budget: int,
                 context_length: int) -> int | None:  # fmt: skip
    """Tokens ``bot``'s prompt can hold beside the newest message, at most; None when bytes
    cannot bound it: a regex script of its card may lengthen a text, or a persona so long
    that `_fit_core` cuts it (see the module's note)."""
    if scripts_of(bot):
        return None

    def expand(text: str) -> str:
        return expand_macros(text, char=bot["name"], user=you)

    # The sheet and note: `_fit_core` keeps them to budget // 2 unless it must cut the
    # persona (then by characters, which may leave more tokens: counted in full instead).
    persona = expand(f"You are {bot['name']}. {bot['persona']}".strip())
    if _bytes(persona) + _bytes(instruction(bot["name"], you)) + PIECE > budget // 2:
        return None
    total = budget // 2 + 2 * PIECE  # two pieces: the system message and the note
    samples = [expand(s.strip()) for s in bot.get("voice_samples") or [] if s.strip()][:MAX_VOICE_SAMPLES]
    for sample in samples:  # each line may be a message, after a cue
        total += _bytes(sample) + (sample.count("\n") + 1) * PIECE + _bytes(VOICE_CUE) + PIECE
    note = card_extension(bot, "depth_prompt")
    if isinstance(note, dict) and isinstance(note.get("prompt"), str):
        total += _bytes(expand(note["prompt"].strip())) + PIECE
    total += _bytes(expand(card_text(bot, "post_history_instructions").strip())) + PIECE
    entries = prompt_lore_size(conn, chat.get("world_id") or "default", bot["id"])
    if entries:  # the scan stops at the lore budget; each insert is a piece
        lore_budget = max(1, context_length * LORE_BUDGET_PERCENT // 100)
        total += lore_budget + min(entries, lore_budget) * PIECE
    return total


def cheap_fit(
    conn: sqlite3.Connection, chat: dict[str, Any], bots: list[dict[str, Any]], text: str, *,
    author_name: str | None, budget: int, context_length: int, you: str,
) -> bool:  # fmt: skip
    """Whether ``text`` fits every bot's prompt by the byte bound alone (no tokenizer)."""
    candidate = _bytes(text) + PIECE + (_bytes(author_name) + 2 if author_name is not None else NAME_BYTES)
    for bot in bots:
        extras = extras_bound(conn, chat, bot, you, budget, context_length)
        if extras is None or extras + candidate > budget:
            return False
    return True


def fits_by_bytes(
    conn: sqlite3.Connection, chat: dict[str, Any], text: str, *, backend: Backend, reply_tokens: int,
    author: str = "you", bots: list[dict[str, Any]] | None = None,
) -> bool:  # fmt: skip
    """Whether ``text`` as the chat's newest message fits every answering bot's prompt by
    the byte bound (`cheap_fit`): SQLite reads and string lengths, no tokenizer, so it may
    run on the event loop. False: `check_message_fits` must count."""
    bots = answerers(conn, chat) if bots is None else bots
    if not isinstance(text, str) or not bots:
        return True
    context_length = backend.context_length()
    you = user_name(conn, chat.get("world_id"))
    names = {"you": you, **{b["id"]: b["name"] for b in bots}}
    return cheap_fit(
        conn, chat, bots, text, author_name=names.get(author), context_length=context_length, you=you,
        budget=context_length - reply_tokens - PROMPT_MARGIN,
    )  # fmt: skip


def feeling_slack(count: CountTokens) -> int:
    """Tokens one relationship line may grow by when a turn moves its edge: the longest of
    the phrases `_feeling` writes less the shortest, plus one for the join."""
    sizes = [count(phrase) for phrase in feeling_phrases()]
    return max(sizes) - min(sizes) + 1


def _drift(conn: sqlite3.Connection, chat: dict[str, Any], bot_id: str, count: CountTokens) -> int:
    """The note's possible growth before the turn: a relationship line per other one
    present (`core_sections`' ``present``), each `feeling_slack` longer at most."""
    scene = get_scene(conn, chat["id"]) or {"present": []}
    others = {"you", *chat["bot_ids"], *scene["present"]} - {bot_id}
    return len(others) * feeling_slack(count)


def check_message_fits(
    conn: sqlite3.Connection,
    chat: dict[str, Any],
    text: str,
    *,
    backend: Backend,
    reply_tokens: int,
    author: str = "you",
    replacing: str | None = None,
    field: str = "text",
    bots: list[dict[str, Any]] | None = None,
) -> None:
    """Raise `ValidationFailed` (422, ``field``) when ``text`` as the chat's newest message
    would not fit the prompt of one of the bots that can answer; the message names both
    sizes. ``replacing``: the id of the newest message, being edited (left out).
    ``bots``: `answerers` of the chat, when the caller has read them."""
    bots = answerers(conn, chat) if bots is None else bots
    if not isinstance(text, str) or not bots:
        return
    if fits_by_bytes(conn, chat, text, backend=backend, reply_tokens=reply_tokens, author=author, bots=bots):
        return
    context_length = backend.context_length()
    you = user_name(conn, chat.get("world_id"))
    count = backend.cached_count_tokens
    recent = [m for m in recent_messages(conn, chat["id"], limit=HISTORY_LIMIT) if m["id"] != replacing]
    candidate = {"id": CANDIDATE_ID, "chat_id": chat["id"], "author": author, "text": text}
    worst: tuple[int, int, str] | None = None
    for bot in bots:
        history = [*witnessed(conn, bot["id"], recent), candidate]
        frame = prompt_frame(
            conn, bot=bot, chat=chat, history=history, user_name=you, count_tokens=count,
            context_length=context_length, reply_tokens=reply_tokens, every_roll_passes=True,
        )  # fmt: skip
        needed = count(frame.turns[-1].content) + MESSAGE_OVERHEAD
        room = newest_room(frame, count) - _drift(conn, chat, bot["id"], count)
        if needed > room and (worst is None or room < worst[1]):
            worst = (needed, room, bot["name"])
    if worst is None:
        return
    needed, room, name = worst
    raise ValidationFailed(
        f"{field} is too long for the model to answer: {len(text):,} characters, {needed:,} tokens,"
        f" but at most {max(room, 0):,} tokens fit beside {name}'s card and the reply in the model's"
        f" context of {context_length:,} tokens; shorten it (or split it in two)",
        field=field,
    )
