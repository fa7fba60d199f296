"""A unique id (slug, §3.1) made from a name: for bots, and entities named by extraction.

Latin letters are folded to ASCII (NFKD plus a few letters that do not decompose,
like ß and ø). Other scripts are transliterated (anyascii: 爱 -> ai, Ольга -> olga), so
the id stays readable, and such a slug also keeps a short hash of the whole name, so
two names that transliterate alike (爱, 愛) never share an id: merging them would merge
unrelated entities. The hash is stable, so extraction naming the same entity again
finds the same id. A name with no letters or digits at all ('!!!') is 'e-' + hash.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata

from anyascii import anyascii

MAX_SLUG = 64
HASH_CHARS = 8

_LATIN = str.maketrans(
    {
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
        "ı": "i", "ħ": "h", "Ħ": "H", "ŋ": "ng", "Ŋ": "NG",
    }
)  # fmt: skip
"""Latin letters NFKD leaves alone, spelled the way they are usually written in ASCII."""


def name_hash(name: str) -> str:
    """8 hex characters of the SHA-1 of the name (NFKC, case-folded, spaces collapsed)."""
    canonical = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:HASH_CHARS]  # noqa: S324 - not security


def slugify(name: str) -> str:
    """Lowercase ASCII words of ``name`` joined with '-'.

    'Zoë Brandt' gives 'zoe-brandt'. When letters or digits have no ASCII form they are
    transliterated and the slug gets '-' and `name_hash`: '小明' gives 'xiaoming-' + hash,
    'Café 小明' 'cafe-xiaoming-' + hash, '!!!' 'e-' + hash.
    """
    decomposed = unicodedata.normalize("NFKD", name).translate(_LATIN)
    lost = any(not ch.isascii() and unicodedata.category(ch)[0] in "LN" for ch in decomposed)
    if lost:
        decomposed = "".join(ch if ch.isascii() else anyascii(ch) for ch in decomposed)
    folded = decomposed.encode("ascii", "ignore").decode("ascii").replace("'", "")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    if not slug:
        return f"e-{name_hash(name)}"
    if lost:
        keep = MAX_SLUG - HASH_CHARS - 1
        return f"{slug[:keep].rstrip('-')}-{name_hash(name)}"
    return slug[:MAX_SLUG].rstrip("-")


def unique_bot_id(conn: sqlite3.Connection, name: str) -> str:
    """``slugify(name)``, with -2, -3... appended while a bot (retired ones too) or entity has it.

    Entities count because a bot's id is also its entity id (``you`` is taken, for one).
    Call inside the transaction that appends the event so two imports cannot race.
    """
    return unique_slug(conn, slugify(name))


def unique_slug(conn: sqlite3.Connection, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first that no bot or entity has."""
    candidate = base
    counter = 1
    while _taken(conn, candidate):
        counter += 1
        suffix = f"-{counter}"
        candidate = base[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
    return candidate


def _taken(conn: sqlite3.Connection, slug: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM bots WHERE id = ? UNION ALL SELECT 1 FROM entities WHERE id = ? LIMIT 1",
        (slug, slug),
    ).fetchone()
    return row is not None
