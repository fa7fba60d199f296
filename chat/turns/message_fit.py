"""Refusing a message that no bot of its chat could answer, before it is stored (§4.4, §8.2).

A prompt keeps the newest message whole (older ones, memories and chapters give way to
it), so a message larger than what is left of the context beside the bot's card, voice
samples, note and reply is a turn that can only fail: "the latest message needs 4008
tokens but only 3627 … are left". Posting (or editing into) such a text is refused here
with a 422 naming its size and the limit, counted the way the turn will count it: the
same prompt frame (`chat.turns.prompt.prompt_frame`) for each active bot of the chat, the
text as the newest message of what the bot witnessed, by the backend's own tokenizer.
What is accepted therefore fits, as long as the chat's bots and settings stay as they are.

Only a text that may be too long is checked (`may_not_fit`), so an everyday message costs
its length in bytes, not a prompt frame per bot (the turn overhead is measured, §12.1): below
a quarter of the prompt budget a message fits whenever the character sheet does, which
`_fit_core` holds to half of it; a card whose own inserts fill the rest fails every turn,
short message or long, and the turn says so.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.errors import ValidationFailed
from chat.llm.base import Backend
from chat.state.chats import recent_messages
from chat.state.entities import get_bot
from chat.state.observations import witnessed
from chat.turns.prompt import HISTORY_LIMIT, PROMPT_MARGIN, newest_room, prompt_frame
from chat.turns.prompt_layout import MESSAGE_OVERHEAD
from chat.world.chats import user_name

CANDIDATE_ID = "msg-candidate"
"""The id the text goes by while it is checked (it seeds the lore rolls, as a turn's id does)."""
NAME_ALLOWANCE = 32
"""Tokens for the "Name: " a group chat puts before a message (names are at most 80 characters)."""
UNCHECKED_SHARE = 4
"""A message under this share of the prompt budget is not checked (see the module's note)."""


def may_not_fit(text: object, *, backend: Backend, reply_tokens: int) -> bool:
    """Whether ``text`` is long enough that `check_message_fits` must look.

    Its UTF-8 length bounds its tokens (a token is at least a byte in the byte-level and
    SentencePiece vocabularies, the ~4 characters of an estimate are more): no tokenizer
    call, which may load a model or ask a server, runs on the event loop."""
    if not isinstance(text, str):
        return False  # the text checks refuse it
    budget = backend.context_length() - reply_tokens - PROMPT_MARGIN
    return len(text.encode("utf-8", "surrogatepass")) + MESSAGE_OVERHEAD + NAME_ALLOWANCE > budget // UNCHECKED_SHARE


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
) -> None:
    """Raise `ValidationFailed` (422, ``field``) when ``text`` as the chat's newest message
    would not fit the prompt of one of its active bots; the message names both sizes.

    ``replacing``: the id of a message being edited, left out of the history it joins."""
    bots = [b for b in (get_bot(conn, bot_id) for bot_id in chat["bot_ids"]) if b and not b["retired"]]
    if not bots:
        return
    count = backend.cached_count_tokens
    context_length = backend.context_length()
    you = user_name(conn, chat.get("world_id"))
    recent = [m for m in recent_messages(conn, chat["id"], limit=HISTORY_LIMIT) if m["id"] != replacing]
    candidate = {"id": CANDIDATE_ID, "chat_id": chat["id"], "author": author, "text": text}
    worst: tuple[int, int, str] | None = None
    for bot in bots:
        history = [*witnessed(conn, bot["id"], recent), candidate]
        frame = prompt_frame(
            conn, bot=bot, chat=chat, history=history, user_name=you, count_tokens=count,
            context_length=context_length, reply_tokens=reply_tokens, seed=CANDIDATE_ID,
        )  # fmt: skip
        needed = count(frame.turns[-1].content) + MESSAGE_OVERHEAD
        room = newest_room(frame, count)
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
