"""The read side of a turn: what it answers, who speaks, and each speaker's prompt.

Runs on a reader connection (off the event loop). A turn answers its user's
message (or, for a regenerate, the message before the reply being redone). Its
history is what came before that message, the replies of earlier turns that
finished after it was posted, then the message and this turn's own replies; it
leaves out the messages of turns still waiting in the queue and of every later
turn, so a bot never answers a message posted after the one it is answering,
even when a failed turn is retried after later turns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chat.errors import Conflict, NotFound
from chat.eventlog.columns import with_columns
from chat.llm.base import Backend
from chat.memory.retrieval import Embedder, Weights, retrieve_memories
from chat.state.chapters import chapter_memories
from chat.state.chats import (
    alternatives,
    earlier_turn_replies,
    get_chat,
    get_message,
    get_turn,
    messages_after,
    recent_messages,
    turn_replies,
)
from chat.state.entities import get_bot
from chat.state.observations import witnessed
from chat.state.world import get_scene
from chat.state.worlds import world_bot_names
from chat.turns.chapter_select import with_chapters
from chat.turns.prompt import HISTORY_LIMIT, Prompt, build_prompt, prompt_frame
from chat.turns.prompt_record import previous_start
from chat.turns.quotes import quotes_of
from chat.turns.replaced import NOTHING, replaced_sources
from chat.turns.speakers import select_speakers
from chat.world.chats import all_retired, user_name


@dataclass
class TurnPlan:
    """Everything a turn needs to know before the first model call."""

    turn_id: str
    chat: dict[str, Any]
    kind: str  # message | regenerate | respond | continue
    user_text: str
    user_name: str
    history: list[dict[str, Any]]
    speakers: list[dict[str, Any]]
    bots: list[dict[str, Any]]
    alt_group: str | None = None
    done_message_ids: list[str] = field(default_factory=list)
    """Replies already stored by an earlier, failed run of this turn (kept on retry)."""
    prefix: str = ""
    """A "continue" turn: the text of the reply it extends; the stored reply starts with it."""
    cuts: list[int] = field(default_factory=list)
    """For each reply prompt built, the event id of the first message it kept: what came
    before was left out, and is due for a chapter (§5.7, chat/turns/chapters.py)."""


def queued_payload(conn: sqlite3.Connection, turn_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT payload, chat_id FROM events WHERE kind = 'turn_queued' AND turn_id = ? ORDER BY id DESC LIMIT 1",
        (turn_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no turn with id {turn_id!r}", field="turn_id")
    return with_columns("turn_queued", json.loads(row[0]), row[1], turn_id)


def plan_turn(
    conn: sqlite3.Connection, turn_id: str, *, pending: set[str], max_replies: int
) -> TurnPlan:
    """Work out what turn ``turn_id`` answers and who speaks; raises with a readable reason."""
    turn = get_turn(conn, turn_id)
    if turn is None:
        raise NotFound(f"no turn with id {turn_id!r}", field="turn_id")
    queued = queued_payload(conn, turn_id)
    chat = get_chat(conn, turn["chat_id"])
    if chat is None:
        raise NotFound(f"chat {turn['chat_id']!r} no longer exists", field="chat_id")
    bots = [b for b in (get_bot(conn, bot_id) for bot_id in chat["bot_ids"]) if b and not b["retired"]]
    if not bots:
        raise all_retired(conn, chat)
    you = user_name(conn, chat.get("world_id"))
    others = pending - {turn_id}
    group = queued.get("regenerate_group")
    if queued.get("continue_message_id"):
        return _plan_continue(conn, turn_id, chat, bots, you, others, queued["continue_message_id"])
    if group:
        return _plan_regenerate(conn, turn_id, chat, bots, you, others, group)
    if not turn["user_message_id"]:
        return _plan_respond(conn, turn_id, chat, bots, you, others, max_replies)
    message = get_message(conn, turn["user_message_id"] or "")
    if message is None or message["deleted"]:
        raise Conflict("the message this turn answers was deleted; post it again")
    before = _history_before(conn, chat["id"], message["event_id"], others)
    late = [m for m in earlier_turn_replies(conn, message) if m["turn_id"] not in others]
    history = [*before, *late, message][-HISTORY_LIMIT:]
    done = turn_replies(conn, turn_id)
    speakers = select_speakers(
        present_bots(conn, chat, bots), message["text"], [m["author"] for m in history],
        max_replies=max_replies,
    )  # fmt: skip
    spoken = {m["author"] for m in done}
    return TurnPlan(
        turn_id=turn_id,
        chat=chat,
        kind="message",
        user_text=message["text"],
        user_name=you,
        history=history + [m for m in done if m["chosen"]],
        speakers=[bot for bot in speakers if bot["id"] not in spoken],
        bots=bots,
        done_message_ids=[m["id"] for m in done],
    )


NOBODY_PRESENT = (
    "no bot of this chat is present in its scene, so nobody can answer; "
    "mark one present (World tab, Present) first"
)


def present_bots(
    conn: sqlite3.Connection, chat: dict[str, Any], bots: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The chat's active bots present in its scene: only they may answer (§5.4), even when
    the message names another; raises, saying so, when none is."""
    scene = get_scene(conn, chat["id"])
    here = bots if scene is None else [b for b in bots if b["id"] in scene["present"]]
    if not here:
        raise Conflict(NOBODY_PRESENT, field="present")
    return here


def require_someone_present(conn: sqlite3.Connection, chat: dict[str, Any]) -> None:
    """Refuse a message or a respond before anything is stored when no active bot of the
    chat is in its scene: the turn would only fail, and posting again would store the
    message twice."""
    active = [b for b in chat["bot_ids"] if (bot := get_bot(conn, b)) and not bot["retired"]]
    if not active:
        raise all_retired(conn, chat)
    scene = get_scene(conn, chat["id"])
    if scene is not None and not any(bot_id in scene["present"] for bot_id in active):
        raise Conflict(NOBODY_PRESENT, field="present")


def _history_before(
    conn: sqlite3.Connection, chat_id: str, event_id: int, others: set[str]
) -> list[dict[str, Any]]:
    """The transcript before ``event_id`` (the message a turn answers), less the messages of
    turns still queued (``others``: 50 more are read for them to leave out; with none, the
    usual case, `HISTORY_LIMIT` are all that is kept, and a fifth less is read)."""
    limit = HISTORY_LIMIT + 50 if others else HISTORY_LIMIT
    recent = recent_messages(conn, chat_id, before_event_id=event_id, limit=limit)
    return [m for m in recent if m["turn_id"] is None or m["turn_id"] not in others][-HISTORY_LIMIT:]


def _plan_regenerate(
    conn: sqlite3.Connection,
    turn_id: str,
    chat: dict[str, Any],
    bots: list[dict[str, Any]],
    you: str,
    others: set[str],
    group: str,
) -> TurnPlan:
    members = alternatives(conn, group)
    if not members:
        raise Conflict("the reply to regenerate no longer exists")
    first_event = min(m["event_id"] for m in members)
    speaker = next((b for b in bots if b["id"] == members[0]["author"]), None)
    if speaker is None:
        raise Conflict(f"{members[0]['author']!r} is not an active bot of this chat any more")
    done = [m for m in members if m["turn_id"] == turn_id and not m["deleted"]]
    history = _history_before(conn, chat["id"], first_event, others)
    return _redo_plan("regenerate", turn_id, chat, you, history, speaker, bots, group, done)


def _queued_event_id(conn: sqlite3.Connection, turn_id: str) -> int:
    row = conn.execute(
        "SELECT MIN(id) FROM events WHERE kind = 'turn_queued' AND turn_id = ?", (turn_id,)
    ).fetchone()
    return int(row[0] or 0)


def _plan_respond(
    conn: sqlite3.Connection,
    turn_id: str,
    chat: dict[str, Any],
    bots: list[dict[str, Any]],
    you: str,
    others: set[str],
    max_replies: int,
) -> TurnPlan:
    """A "respond" turn (§4.9): a reply to the conversation as it stood when it was asked
    for (after an edit or a deleted reply), with no new message from the user."""
    history = _history_before(conn, chat["id"], _queued_event_id(conn, turn_id), others)
    done = turn_replies(conn, turn_id)
    last_text = history[-1]["text"] if history else ""
    user_text = next((m["text"] for m in reversed(history) if m["author"] == "you"), "")
    speakers = select_speakers(
        present_bots(conn, chat, bots), last_text, [m["author"] for m in history], max_replies=1
    )
    spoken = {m["author"] for m in done}
    return TurnPlan(
        turn_id=turn_id,
        chat=chat,
        kind="respond",
        user_text=user_text,
        user_name=you,
        history=history + [m for m in done if m["chosen"]],
        speakers=[bot for bot in speakers if bot["id"] not in spoken] if not done else [],
        bots=bots,
        done_message_ids=[m["id"] for m in done],
    )


def _plan_continue(
    conn: sqlite3.Connection,
    turn_id: str,
    chat: dict[str, Any],
    bots: list[dict[str, Any]],
    you: str,
    others: set[str],
    message_id: str,
) -> TurnPlan:
    """A "continue" turn (§4.9): the bot writes on from its reply; the result is a new
    alternative of that reply holding the old text and the new, so it can be undone by
    picking the previous alternative."""
    target = get_message(conn, message_id)
    if target is None or target["deleted"]:
        raise Conflict("the reply to continue was deleted")
    speaker = next((b for b in bots if b["id"] == target["author"]), None)
    if speaker is None:
        raise Conflict(f"{target['author']!r} is not an active bot of this chat any more")
    done = [m for m in alternatives(conn, target["alt_group"]) if m["turn_id"] == turn_id and not m["deleted"]]
    history = [*_history_before(conn, chat["id"], target["event_id"], others), target]
    return _redo_plan(
        "continue", turn_id, chat, you, history, speaker, bots, target["alt_group"], done,
        prefix=target["text"],
    )  # fmt: skip


def _redo_plan(
    kind: str,
    turn_id: str,
    chat: dict[str, Any],
    you: str,
    history: list[dict[str, Any]],
    speaker: dict[str, Any],
    bots: list[dict[str, Any]],
    group: str,
    done: list[dict[str, Any]],
    prefix: str = "",
) -> TurnPlan:
    """The plan of a turn that writes one more alternative of a bot's reply (regenerate,
    continue): one speaker, none when an interrupted run already stored its reply."""
    return TurnPlan(
        turn_id=turn_id,
        chat=chat,
        kind=kind,
        user_text=next((m["text"] for m in reversed(history) if m["author"] == "you"), ""),
        user_name=you,
        history=history,
        speakers=[] if done else [speaker],
        bots=bots,
        alt_group=group,
        done_message_ids=[m["id"] for m in done],
        prefix=prefix,
    )


def prepare_prompt(
    conn: sqlite3.Connection,
    plan: TurnPlan,
    bot: dict[str, Any],
    *,
    backend: Backend,
    now: datetime,
    top_k: int,
    reply_tokens: int,
    embedder: Embedder | None = None,
    weights: Weights | None = None,
) -> Prompt:
    """Retrieve the bot's memories and assemble its prompt (§8)."""
    # The transcript this bot is shown: what it witnessed, never what was said while it was
    # away (§5.3.1); the same messages turn after turn, so the prefix stays (§8.1.1).
    history = witnessed(conn, bot["id"], plan.history)
    window_full = None if history is plan.history else len(plan.history) >= HISTORY_LIMIT
    query = plan.user_text or (history[-1]["text"] if history else "")
    start = previous_start(conn, plan.chat["id"], bot["id"])
    # The bot's own copies of this chat's chapters (§5.7): those of the part the prompt leaves
    # out go into its chapters slot; recall does not bring them in a second time.
    chapters = chapter_memories(conn, plan.chat["id"], bot["id"])
    told = {c["id"] for c in chapters}
    world_id = plan.chat.get("world_id") or "default"
    # Stops and line cuts (§4.8): the chat's bots first (an OpenAI-compatible server takes
    # four stops), then the world's others: a 1:1 reply wrote "- Mara Quinn: Yes, ...".
    named = [*(b["name"] for b in plan.bots), *world_bot_names(conn, world_id)]
    other_names = list(dict.fromkeys(name for name in named if name != bot["name"]))
    # Nor what was said after the message this turn answers (its observations exist from
    # the post): a reply recalled the next message, queued or sent while a bot spoke.
    answered = next((m for m in reversed(plan.history)  # the last before this turn's replies
                     if m.get("turn_id") != plan.turn_id or m["author"] == "you"), None)  # fmt: skip
    unseen = frozenset() if answered is None else messages_after(
        conn, plan.chat["id"], answered["event_id"], plan.turn_id) - {m["id"] for m in plan.history}  # fmt: skip
    # A regenerate recalls nothing of the reply it replaces, nor of its alternatives (§4.9).
    redone = replaced_sources(conn, plan.alt_group, bot["id"], world_id) if (
        plan.kind == "regenerate" and plan.alt_group) else NOTHING  # fmt: skip
    told |= redone.memory_ids

    def recall(shown: set[str], quotes: Callable[[str], bool] | None = None) -> list[tuple[dict[str, Any], float]]:
        # The top_k best that are neither a chapter in the slot nor a quote of a shown message,
        # from among a few more than top_k plus the chapters: the next best take the places of
        # those passed over. Retrieval stops walking once top_k are kept.
        return retrieve_memories(
            conn, bot["id"], query, now=now, k=top_k + len(told) + QUOTE_SPARE,
            embedder=embedder, weights=weights, world_id=world_id,
            skip_messages=shown | redone.message_ids | unseen, limit=top_k,
            keep=lambda mid, text: mid not in told and not (quotes is not None and quotes(text)),
        )  # fmt: skip

    def build(memories: list[tuple[dict[str, Any], float]]) -> Prompt:
        return with_chapters(
            lambda chosen: _build(memories, chosen), chapters, history, guess=start
        )[0]

    sizes = {"count_tokens": backend.cached_count_tokens, "context_length": backend.context_length()}
    frame = prompt_frame(  # what every build below shares: built once
        conn, bot=bot, chat=plan.chat, history=history, user_name=plan.user_name,
        reply_tokens=reply_tokens, seed=plan.turn_id, **sizes,
    )  # fmt: skip

    def _build(memories: list[tuple[dict[str, Any], float]], chosen: list[dict[str, Any]]) -> Prompt:
        return build_prompt(
            conn,
            bot=bot,
            chat=plan.chat,
            history=history,
            memories=memories,
            user_name=plan.user_name,
            reply_tokens=reply_tokens,
            other_names=other_names,
            seed=plan.turn_id,
            chapters=chosen,
            previous_start=start,
            frame=frame,
            window_full=window_full,
            **sizes,
        )

    # A witnessed observation of a message the prompt already shows adds nothing (§5.3.1),
    # nor does a memory that only quotes one whole: retrieval skips the first and the second
    # are dropped here, so the next best memories take their places, memories bring back
    # what scrolled away, and the note every turn evaluates anew stays small (§8.1.1). Which
    # messages are shown is known once the prompt is built, and memories take room too: a
    # first build without memories (under a millisecond; a retrieval costs several) gives
    # the most that can be shown. Retrieval runs once.
    if not history:
        return build(recall(set()))
    in_view = history[build([]).dropped_messages :]
    return build(recall({m["id"] for m in in_view}, quotes_of(in_view)))


QUOTE_SPARE = 4
"""Memories fetched beyond top_k to stand in for ones that only quote a shown message."""
def stored_replies(conn: Any, plan: TurnPlan) -> list[tuple[dict[str, Any], str]]:
    """Replies an earlier, interrupted run of this turn stored: a retry still extracts them."""
    bots = {bot["id"]: bot for bot in plan.bots}
    replies: list[tuple[dict[str, Any], str]] = []
    for message_id in plan.done_message_ids:
        message = get_message(conn, message_id)
        if message is not None and message["author"] in bots and not message["deleted"]:
            replies.append((bots[message["author"]], message["text"]))
    return replies
