"""Reading a SillyTavern chat file (JSON Lines) and the events that bring it into Kith (§11.5).

SillyTavern saves a chat as one JSON object per line: a header (``user_name``,
``character_name``, ``create_date``, ``chat_metadata``), then one line per message with
``name``, ``is_user``, ``send_date``, ``mes`` and, for replies that were regenerated,
``swipes`` (every version), ``swipe_id`` (the one shown) and ``swipe_info`` (each
version's ``send_date``). A message becomes a Kith message; its swipes become the
message's alternatives, the shown one chosen; dates are kept (``sent_at``).

The file is hostile until proven otherwise: its size, each line's size, UTF-8, JSON and
every field are checked first, and any fault is a 4xx naming the line, before a single
event is built. The events are appended in one transaction by the caller.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chat.cards import MAX_CARD_BYTES, parse_card
from chat.cards.png import is_png
from chat.cards.sniff import CARD_IMPORT_HINT, looks_like_chat
from chat.errors import CardInvalid, NotFound, PayloadTooLarge, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.state.entities import get_bot, get_entity, list_bots
from chat.state.worlds import world_bot_ids
from chat.world.bots import require_bot
from chat.world.ids import new_id

MAX_CHAT_FILE_BYTES = 64 * 1024 * 1024
"""Largest chat file accepted (a 30,000-message chat with swipes is a few tens of MB)."""
MAX_LINE_BYTES = 4 * 1024 * 1024
"""Longest line: one message with all its swipes."""
MAX_MESSAGE_CHARS = 40_000
"""As the log's message schema allows (a typed message is capped lower, §12.3)."""
MAX_SWIPES = 1000
HEADER_KEYS = frozenset({"user_name", "character_name", "create_date", "chat_metadata"})
KITH_KEY = "kith"
"""``chat_metadata.kith`` carries what SillyTavern has no place for (the chat's title)."""
_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
_MERIDIEM = re.compile(r"^([A-Za-z]+)\s+(\d{1,2}),\s*(\d{4})\s+(\d{1,2}):(\d{1,2})\s*(am|pm)$", re.I)
_HUMANIZED = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})\s*@\s*(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s(?:\s*(\d{1,3})ms)?$"
)


@dataclass
class StMessage:
    """One message line: its versions (swipes), the one shown, and each version's time."""

    line: int
    name: str
    is_user: bool
    texts: list[str]
    chosen: int
    dates: list[str | None]


@dataclass
class StChat:
    user_name: str = ""
    character_name: str = ""
    create_date: str = ""
    title: str = ""
    messages: list[StMessage] = field(default_factory=list)


def _fail(line: int, message: str) -> ValidationFailed:
    return ValidationFailed(f"line {line}: {message}", field="file")


def parse_st_chat(data: bytes) -> StChat:
    """The chat in ``data`` (a SillyTavern .jsonl), or a 4xx naming the line that is wrong.

    A character card given here by mistake is refused as one, pointing to the card import,
    rather than as "line 1: not valid UTF-8" (or, for a one-line JSON card over the line
    limit, as "line 1 is 5,000,000 bytes")."""
    try:
        return _read_chat(data)
    except (ValidationFailed, PayloadTooLarge):
        instead = _card_instead(data)
        if instead is None:
            raise
        raise ValidationFailed(instead, field="file") from None


def _card_instead(data: bytes) -> str | None:
    """What the file is when it is a card or a picture rather than a chat, else None (also
    for a broken chat whose first line a flat V1 card reader would take: {"name", "mes"})."""
    if len(data) > MAX_CARD_BYTES or looks_like_chat(data):
        return None
    try:
        card = parse_card(data)
    except (CardInvalid, PayloadTooLarge):
        return "this is a PNG image, not a SillyTavern chat (.jsonl)" if is_png(data) else None
    return f"this is a character card ({card['name']}), not a chat: {CARD_IMPORT_HINT}"


def _read_chat(data: bytes) -> StChat:
    if len(data) > MAX_CHAT_FILE_BYTES:
        raise PayloadTooLarge(
            f"the chat file is {len(data):,} bytes; the limit is {MAX_CHAT_FILE_BYTES:,}", field="file"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationFailed("the chat file is UTF-16; save it as UTF-8 (SillyTavern writes UTF-8)", field="file")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    chat = StChat()
    seen_header = False
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise PayloadTooLarge(
                f"line {number} is {len(raw):,} bytes; the limit is {MAX_LINE_BYTES:,}", field="file"
            )
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(number, f"not valid UTF-8 (byte {exc.start} of the line)") from None
        try:
            obj = json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise _fail(number, f"not valid JSON: {exc.msg} at column {exc.colno}") from None
        except (ValueError, RecursionError) as exc:
            raise _fail(number, f"not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise _fail(number, "each line must be a JSON object")
        if not seen_header and not chat.messages and "mes" not in obj:
            if not HEADER_KEYS & obj.keys():
                raise _fail(number, "not a SillyTavern chat: the first line has neither a header"
                            f" ({', '.join(sorted(HEADER_KEYS))}) nor a message (mes)")
            _read_header(chat, obj, number)
            seen_header = True
            continue
        chat.messages.append(_read_message(obj, number))
    if not seen_header and not chat.messages:
        raise ValidationFailed("the chat file is empty", field="file")
    return chat


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _read_header(chat: StChat, obj: dict[str, Any], line: int) -> None:
    for key in ("user_name", "character_name"):
        value = obj.get(key, "")
        if not isinstance(value, str):
            raise _fail(line, f"{key} must be text")
        setattr(chat, key, value.strip()[:200])
    created = obj.get("create_date")
    chat.create_date = str(created)[:100] if isinstance(created, str | int | float) else ""
    metadata = obj.get("chat_metadata")
    kith = metadata.get(KITH_KEY) if isinstance(metadata, dict) else None
    if isinstance(kith, dict) and isinstance(kith.get("title"), str):
        chat.title = kith["title"].strip()[:200]


def _read_message(obj: dict[str, Any], line: int) -> StMessage:
    if "mes" not in obj:
        raise _fail(line, "a message line needs mes (its text)")
    mes = obj.get("mes")
    if not isinstance(mes, str):
        raise _fail(line, "mes must be text")
    name = obj.get("name", "")
    if not isinstance(name, str):
        raise _fail(line, "name must be text")
    is_user = obj.get("is_user", False)
    if not isinstance(is_user, bool):
        raise _fail(line, "is_user must be true or false")
    swipes = obj.get("swipes")
    if swipes is None or swipes == []:
        texts, chosen = [mes], 0
    else:
        if not isinstance(swipes, list) or not all(isinstance(s, str) for s in swipes):
            raise _fail(line, "swipes must be a list of text")
        if len(swipes) > MAX_SWIPES:
            raise _fail(line, f"{len(swipes)} swipes; the limit is {MAX_SWIPES}")
        chosen = obj.get("swipe_id", 0)
        if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(swipes):
            raise _fail(line, f"swipe_id must be a number from 0 to {len(swipes) - 1}")
        texts = list(swipes)
        texts[chosen] = mes  # the shown text wins: SillyTavern edits mes, not always the swipe
    for text in texts:
        if len(text) > MAX_MESSAGE_CHARS:
            raise _fail(line, f"a message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}")
    main_date = _date_of(obj)
    info = obj.get("swipe_info")
    dates: list[str | None] = []
    for index in range(len(texts)):
        date = None
        if isinstance(info, list) and index < len(info) and isinstance(info[index], dict):
            date = _date_of(info[index])
        dates.append(date or main_date)
    dates[chosen] = main_date or dates[chosen]
    return StMessage(line, name.strip(), is_user, texts, chosen, dates)


def _date_of(obj: dict[str, Any]) -> str | None:
    """A message's (or swipe's) time: Kith's exact ``extra.kith.sent_at`` when it carries
    one (a Kith export), else its ``send_date``."""
    extra = obj.get("extra")
    kith = extra.get(KITH_KEY) if isinstance(extra, dict) else None
    if isinstance(kith, dict) and isinstance(kith.get("sent_at"), str):
        exact = parse_date(kith["sent_at"])
        if exact is not None:
            return exact
    return parse_date(obj.get("send_date"))


def iso(moment: datetime) -> str:
    """A time as the log writes it: UTC with microseconds and a Z."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_date(value: Any) -> str | None:
    """SillyTavern's ``send_date`` in any of its forms (Unix ms, "June 19, 2023 2:20pm",
    "2024-7-12@01h31m37s", ISO 8601) as a log time; None when it is none of them. Times
    without a zone are read as UTC (SillyTavern wrote the sender's local time)."""
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            number = float(value)
            if not 0 <= number < 1e14:
                return None
            return iso(datetime.fromtimestamp(number / 1000, UTC))
        if not isinstance(value, str):
            return None
        text = value.strip()
        if match := _MERIDIEM.match(text):
            month = _MONTHS.get(match[1].lower())
            if month is None:
                return None
            hour = int(match[4]) % 12 + (12 if match[6].lower() == "pm" else 0)
            return iso(datetime(int(match[3]), month, int(match[2]), hour, int(match[5])))
        if match := _HUMANIZED.match(text):
            y, mo, d, h, mi, s = (int(match[i]) for i in range(1, 7))
            ms = int(match[7] or 0)
            return iso(datetime(y, mo, d, h, mi, s, ms * 1000))
        return iso(datetime.fromisoformat(text))
    except (ValueError, OverflowError, OSError):
        return None


def pick_bots(conn: sqlite3.Connection, chat: StChat, bot_ids: list[str] | None) -> list[dict[str, Any]]:
    """The bots the chat's messages go to: those given, or the one named in the header."""
    if bot_ids:
        return [require_bot(conn, bot_id, active=True) for bot_id in dict.fromkeys(bot_ids)]
    wanted = chat.character_name.casefold()
    named = [b for b in list_bots(conn) if wanted and b["name"].casefold() == wanted]
    if len(named) == 1:
        return named
    if not named:
        raise NotFound(
            f"no bot is named {chat.character_name or '(no character in the file)'!r}: import its"
            " card first or choose a bot (bot_id)", field="bot_id"
        )
    raise ValidationFailed(
        f"{len(named)} bots are named {chat.character_name!r}; choose one (bot_id)", field="bot_id"
    )


def with_speakers(
    conn: sqlite3.Connection, chat: StChat, bots: list[dict[str, Any]], world_id: str | None
) -> list[dict[str, Any]]:
    """``bots`` (the ones picked), then, when the file has two speakers or more (a group
    chat), every other active bot of ``world_id`` that a line names (its ``name``, the
    bot's name or its name in that world), in the order they first speak: each line keeps
    its speaker and the chat is with all of them. A name no bot of the world has, or that
    several have, stays with the first picked bot; so does every line of a one-speaker file."""
    speakers = {m.name.casefold() for m in chat.messages if not m.is_user and m.name}
    if world_id is None or len(speakers) < 2:  # one speaker: the picked bot, as chosen
        return bots
    bots = [{**bot, "speaker_names": _names_of(conn, bot, world_id)} for bot in bots]
    picked = {bot["id"] for bot in bots}
    known = {name for bot in bots for name in bot["speaker_names"]}
    wanted = list(dict.fromkeys(
        m.name.casefold() for m in chat.messages if not m.is_user and m.name and m.name.casefold() not in known
    ))  # fmt: skip
    if not wanted:
        return bots
    by_name: dict[str, list[dict[str, Any]]] = {}
    for bot_id in world_bot_ids(conn, world_id):
        bot = get_bot(conn, bot_id)
        if bot is not None and not bot["retired"] and bot_id not in picked:
            for name in _names_of(conn, bot, world_id):
                by_name.setdefault(name, []).append(bot)
    extra: dict[str, dict[str, Any]] = {}
    for name in wanted:
        found = by_name.get(name, [])
        if len(found) == 1:
            extra.setdefault(found[0]["id"], {**found[0], "speaker_names": _names_of(conn, found[0], world_id)})
    return [*bots, *extra.values()]


def _names_of(conn: sqlite3.Connection, bot: dict[str, Any], world_id: str) -> list[str]:
    """The names a line may give ``bot`` by: its own and its entity's in ``world_id``."""
    entity = get_entity(conn, bot["id"], world_id=world_id)
    names = [bot["name"], entity["name"] if entity else ""]
    return list(dict.fromkeys(n.casefold() for n in names if n))


def import_events(
    chat: StChat, bots: list[dict[str, Any]], chat_id: str, title: str | None = None
) -> list[NewEvent]:
    """``chat_created`` and every message with its alternatives, oldest first.

    A message goes to the bot whose name it carries, else to the first bot; ``is_user``
    messages are yours."""
    by_name = {name.casefold(): bot["id"] for bot in reversed(bots)
               for name in [*bot.get("speaker_names", []), bot["name"]]}
    default = bots[0]["id"]
    title = (title or chat.title or f"{chat.character_name or bots[0]['name']} (imported)").strip()
    events = [
        NewEvent("chat_created", {"id": chat_id, "title": title[:200], "bot_ids": [b["id"] for b in bots]},
                 chat_id=chat_id, actor="user")
    ]
    for message in chat.messages:
        author = "you" if message.is_user else by_name.get(message.name.casefold(), default)
        group: str | None = None
        ids = []
        for text, date in zip(message.texts, message.dates, strict=True):
            message_id = new_id("msg")
            payload: dict[str, Any] = {"id": message_id, "chat_id": chat_id, "author": author, "text": text}
            if group is not None:
                payload["alt_group"] = group
            if date is not None:
                payload["sent_at"] = date
            events.append(NewEvent("message_posted", payload, chat_id=chat_id, actor="user"))
            group = group or message_id
            ids.append(message_id)
        if len(ids) > 1 and message.chosen != len(ids) - 1:
            events.append(NewEvent("alternative_chosen", {"alt_group": ids[0], "message_id": ids[message.chosen]},
                                   chat_id=chat_id, actor="user"))
    return events
