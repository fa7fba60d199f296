"""Prompt assembly for one bot's reply (§8.1–§8.2).

Laid out for prefix caching (chat/turns/prompt_layout.py, §8.1.1): a system message of
who the bot is (card system prompt, persona, traits, backstory, scenario) and the
instruction to answer as this bot only; its voice samples as the chat template's own
turns (a user cue and the bot's lines); the chat's chapters; as much of the recent
transcript as fits, its start kept turn to turn; and just before the newest message one
note of what changes every turn: how the bot stands with you and with those present,
the scene and world facts, lore the recent messages switch on, what it remembers.

Written as plain sentences, not "Heading:" blocks: a 135M model copies a heading
it has seen ("How Mara speaks: - ...") into its reply, and it echoes a long system
prompt, so this one stays short. Every card field passes through the §3.4.1
macros ({{char}}, {{user}}, <BOT>, <USER>) on its way in.

Budget: the backend's context minus the reply budget. When it is tight the
oldest transcript goes first (in steps of a quarter of the budget), then the
lowest-scored memories; a message is never cut in the middle (a newest message too
long on its own is an error that names the sizes). Token counts come from the backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chat.cards.macros import expand_macros
from chat.errors import ValidationFailed
from chat.llm.types import ChatMessage
from chat.state.lore import prompt_lore
from chat.turns.card_prompt import CardParts, card_parts, place_inserts
from chat.turns.prompt_layout import (
    CHAPTER_SHARE,
    MESSAGE_OVERHEAD,
    STABLE_SECTIONS,
    STEP_SHARE,
    chapter_message,
    transcript_start,
    with_note,
)
from chat.turns.prompt_sections import (
    VOICE_CUE as VOICE_CUE,  # re-exported: the tests and bench_prompt read it here
)
from chat.turns.prompt_sections import core_sections, names_of, voice_messages
from chat.turns.regex_scripts import AI_OUTPUT, USER_INPUT, apply_scripts, scripts_of
from chat.turns.stops import stop_sequences

HISTORY_LIMIT = 200
"""Messages read from the database at most; more never fit a real context anyway."""
PROMPT_MARGIN = 16
LORE_WINDOW = 200
"""Recent messages handed to the lore scan (its scan depth picks how many it reads)."""

CountTokens = Callable[[str], int]


@dataclass
class Prompt:
    """What a reply is generated from, and what `prompt_recorded` keeps of it."""

    messages: list[ChatMessage]
    memory_ids: list[str]
    lore: list[str]
    token_count: int
    stop: list[str]
    dropped_messages: int = 0
    dropped_memories: int = 0
    sections: list[str] = field(default_factory=list)
    chapter_ids: list[str] = field(default_factory=list)
    shown: list[dict[str, Any]] = field(default_factory=list)
    """The transcript messages the prompt shows, oldest first: the bot's witnessed history
    less what did not fit. A prompt record refers to them (§8.4)."""
    quoted: list[dict[str, Any]] = field(default_factory=list)
    """The memory rows (chapters, then recalled memories) whose texts the prompt quotes
    as stored: a compact record names them instead of copying them (§8.4)."""


def instruction(bot_name: str, user_name: str) -> str:
    return f"Reply as {bot_name} only, in a few sentences. Never write what {user_name} or anyone else says or does."


_DROP_ORDER = (
    "voice", "lore", "world", "scenario", "backstory", "relationships", "scene", "traits", "card_system"
)


@dataclass
class PromptFrame:
    """The part of a reply prompt that no memory or chapter changes: the character sheet,
    the voice samples, the card's inserts and the transcript as messages with their costs.
    A turn lays its prompt out two or three times (without memories first, to see what is
    in view; then with them; a chapter may call for one more), so this is built once
    (`prompt_frame`) and handed to each `build_prompt`."""

    budget: int
    parts: CardParts
    core: list[tuple[str, str]]
    lore_names: list[str]
    voice: list[ChatMessage]
    system: ChatMessage
    note_parts: list[str]
    turns: list[ChatMessage]
    turn_costs: dict[int, int]
    """Counted lazily, newest first: old ones may never be needed."""
    fixed_cost: int
    """The tokens of the system message, the voice samples and the card's inserts."""


def prompt_frame(
    conn: sqlite3.Connection,
    *,
    bot: dict[str, Any],
    chat: dict[str, Any],
    history: list[dict[str, Any]],
    user_name: str,
    count_tokens: CountTokens,
    context_length: int,
    reply_tokens: int,
    seed: str | None = None,
    every_roll_passes: bool = False,
) -> PromptFrame:
    """What `build_prompt` lays out around the memories and chapters (see `PromptFrame`).
    ``every_roll_passes``: lore with a probability counted as if its roll passed
    (`chat.turns.lore.scan_lore`), for a check made before the turn's seed exists."""
    group = len(chat["bot_ids"]) > 1
    budget = context_length - reply_tokens - PROMPT_MARGIN
    world_id = chat.get("world_id") or "default"
    authors = [m["author"] for m in history]
    names = {"you": user_name, **names_of(conn, authors, {"you": user_name}, world_id)}
    scan_texts = [f"{names.get(m['author'], m['author'])}: {m['text']}" for m in history[-LORE_WINDOW:]]
    parts = card_parts(
        bot, scan_texts, lore=prompt_lore(conn, world_id, bot["id"]), user_name=user_name,
        seed=seed if seed is not None else (history[-1]["id"] if history else chat["id"]),
        context_length=context_length, count_tokens=count_tokens, every_roll_passes=every_roll_passes,
    )
    sections, lore_names = core_sections(
        conn, bot, chat["id"], list(chat["bot_ids"]), user_name, scan_texts, parts
    )
    core = _fit_core(sections, instruction(bot["name"], user_name), count_tokens, budget)
    samples = next((text for name, text in core if name == "voice"), "")
    voice = voice_messages(samples.split("\n\n") if samples else [], bot["name"], user_name)
    system = ChatMessage("system", "\n\n".join(text for name, text in core if name in STABLE_SECTIONS))
    extras = [text for _, _, text in parts.inserts] + ([parts.post_history] if parts.post_history else [])
    return PromptFrame(
        budget=budget, parts=parts, core=core, lore_names=lore_names, voice=voice, system=system,
        note_parts=[text for name, text in core if name not in STABLE_SECTIONS and name != "voice"],
        turns=[_as_message(m, bot["id"], names, group) for m in _regexed(bot, history, user_name)],
        turn_costs={},
        fixed_cost=sum(count_tokens(m.content) + MESSAGE_OVERHEAD for m in [system, *voice])
        + sum(count_tokens(text) + MESSAGE_OVERHEAD for text in extras),
    )  # fmt: skip


def newest_room(frame: PromptFrame, count_tokens: CountTokens, *, with_note: bool = True) -> int:
    """Tokens left for the newest message (with its template overhead) once the system
    message, voice samples, card inserts and the note are in: the most it may take, since
    memories, chapters and older messages all give way to it. ``with_note``: count the
    note's frame even when it has no parts (a turn adds one when it recalls memories);
    checking a message before it is posted counts it, so what is accepted fits."""
    note_parts = frame.note_parts
    note_cost = count_tokens("\n\n".join(note_parts)) + MESSAGE_OVERHEAD + 2 if note_parts or with_note else 0
    return frame.budget - frame.fixed_cost - note_cost


def build_prompt(
    conn: sqlite3.Connection,
    *,
    bot: dict[str, Any],
    chat: dict[str, Any],
    history: list[dict[str, Any]],
    memories: list[tuple[dict[str, Any], float]],
    user_name: str,
    count_tokens: CountTokens,
    context_length: int,
    reply_tokens: int,
    other_names: list[str],
    seed: str | None = None,
    chapters: list[dict[str, Any]] | None = None,
    previous_start: int | None = None,
    frame: PromptFrame | None = None,
    window_full: bool | None = None,
) -> Prompt:
    """Assemble the prompt for ``bot``'s reply to ``history`` within the token budget,
    laid out for prefix caching (chat/turns/prompt_layout.py, §8.1.1).

    ``memories``: retrieved memories with their scores, best first (they go into the
    note before the newest message). ``chapters``: the chat's chapter memories (§5.7;
    rows of kind ``chapter``, dicts with at least ``id`` and ``text``, oldest first),
    one system message after the voice samples and before the transcript; the newest
    that fit in a quarter of the budget are kept, and the prompt record names them by
    memory (``Prompt.quoted``). ``previous_start``: the event id of the first transcript
    message of this bot's previous reply prompt in this chat
    (`chat.turns.prompt_record.previous_start`): the transcript keeps starting there
    while it fits. ``seed`` (the turn id) fixes the lore probability rolls so a replay
    is exact. ``frame``: `prompt_frame` of the same arguments, when the caller builds
    more than once. ``window_full``: ``history`` is the newest part of a longer chat
    (default: it holds `HISTORY_LIMIT` messages; a bot's witnessed part of a full window
    holds fewer)."""
    f = frame or prompt_frame(
        conn, bot=bot, chat=chat, history=history, user_name=user_name, count_tokens=count_tokens,
        context_length=context_length, reply_tokens=reply_tokens, seed=seed,
    )  # fmt: skip
    budget, parts, turns, turn_costs = f.budget, f.parts, f.turns, f.turn_costs
    note_parts = list(f.note_parts)

    def cost(message: ChatMessage) -> int:
        return count_tokens(message.content) + MESSAGE_OVERHEAD

    def cost_of(index: int) -> int:
        if index not in turn_costs:
            turn_costs[index] = cost(turns[index])
        return turn_costs[index]

    memory_lines = [f"- {m['text']}" for m, _ in memories]
    memory_costs = [count_tokens(line) + 1 for line in memory_lines]
    header_cost = count_tokens(f"What {bot['name']} remembers:") + 2 if memories else 0
    room = newest_room(f, count_tokens, with_note=bool(memories))
    needed_last = cost_of(len(turns) - 1) if turns else 0
    if needed_last > room:
        raise ValidationFailed(
            f"the latest message needs {needed_last} tokens but only {max(room, 0)} of the "
            f"model's {context_length} are left for it; shorten it or use a model with a larger "
            "context",
            field="text",
        )
    kept_memories = len(memory_lines)
    while kept_memories and header_cost + sum(memory_costs[:kept_memories]) + needed_last > room:
        kept_memories -= 1
    room -= header_cost + sum(memory_costs[:kept_memories]) if kept_memories else 0
    story, told = chapter_message(chapters or [], count_tokens, min(budget // CHAPTER_SHARE, room - needed_last))
    room -= cost(story) if story else 0
    first = transcript_start(
        history, cost_of, room, step=min(budget // STEP_SHARE, room // 2),
        previous_start=previous_start,
        window_full=len(history) >= HISTORY_LIMIT if window_full is None else window_full,
    )  # fmt: skip

    if kept_memories:
        note_parts.append(f"What {bot['name']} remembers:\n" + "\n".join(memory_lines[:kept_memories]))
    note = ChatMessage("system", "\n\n".join(note_parts)) if note_parts else None
    kept = with_note(place_inserts(turns[first:], parts.inserts, ChatMessage), note)
    if parts.post_history:
        kept.append(ChatMessage("system", parts.post_history))
    messages = [f.system, *f.voice, *([story] if story else []), *kept]
    token_count = f.fixed_cost + sum(cost(m) for m in [*([story] if story else []), *([note] if note else [])])
    token_count += sum(cost_of(index) for index in range(first, len(turns)))
    return Prompt(
        messages=messages,
        memory_ids=[m["id"] for m, _ in memories[:kept_memories]],
        lore=f.lore_names if any(name == "lore" for name, _ in f.core) else [],
        token_count=token_count,
        stop=stop_sequences(user_name, other_names),
        dropped_messages=first,
        shown=history[first:],
        dropped_memories=len(memory_lines) - kept_memories,
        sections=[name for name, _ in f.core],
        chapter_ids=[c["id"] for c in told],
        quoted=[*told, *(m for m, _ in memories[:kept_memories])],
    )


def _regexed(bot: dict[str, Any], history: list[dict[str, Any]], user_name: str) -> list[dict[str, Any]]:
    """The history as the model reads it: the card's regex scripts applied (§3.4.1)."""
    scripts = scripts_of(bot)
    if not scripts:
        return history
    last = len(history) - 1

    def expand(text: str) -> str:
        return expand_macros(text, char=bot["name"], user=user_name)

    return [
        {**m, "text": apply_scripts(m["text"], scripts, USER_INPUT if m["author"] == "you" else AI_OUTPUT,
                                    depth=last - i, expand=expand)}
        for i, m in enumerate(history)
    ]


def _as_message(
    message: dict[str, Any], bot_id: str, names: dict[str, str], group: bool
) -> ChatMessage:
    if message["author"] == bot_id:
        return ChatMessage("assistant", message["text"])
    if group or message["author"] != "you":
        return ChatMessage("user", f"{names.get(message['author'], message['author'])}: {message['text']}")
    return ChatMessage("user", message["text"])


def _fit_core(
    sections: list[tuple[str, str]], rule: str, count_tokens: CountTokens, budget: int
) -> list[tuple[str, str]]:
    """The sections plus the instruction, dropping the least needed while they do not fit."""
    core = [*sections, ("instruction", rule)]

    def cost(parts: list[tuple[str, str]]) -> int:
        return count_tokens("\n\n".join(text for _, text in parts)) + MESSAGE_OVERHEAD

    room = budget // 2  # the character sheet never takes more than half the context
    for name in _DROP_ORDER:
        if cost(core) <= room:
            return core
        core = [part for part in core if part[0] != name]
    if cost(core) > room:
        at = next(i for i, part in enumerate(core) if part[0] == "persona")
        persona = core[at][1]
        keep = max(int(len(persona) * room / max(cost(core), 1)) - 1, 0)
        cut = persona[:keep].rsplit(" ", 1)[0] if " " in persona[:keep] else persona[:keep]
        core[at] = ("persona", cut + " …")
    return core
