"""A unique bot id (slug, §3.1) for an imported card, made from its name."""

from __future__ import annotations

import re
import sqlite3
import unicodedata

MAX_SLUG = 64


def slugify(name: str) -> str:
    """ASCII-fold, lowercase, and join runs of other characters with '-'; 'bot' if nothing is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or "bot"


def unique_bot_id(conn: sqlite3.Connection, name: str) -> str:
    """``slugify(name)``, with -2, -3... appended while a bot (retired ones too) or entity has it.

    Entities count because a bot's id is also its entity id (``you`` is taken, for one).
    Call inside the transaction that appends the event so two imports cannot race.
    """
    base = slugify(name)
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
