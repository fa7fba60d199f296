"""Superseded memories (§5.3): a later memory replaces an earlier one, proposed by
extraction or marked by the user; the old one stays visible but is never retrieved."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.errors import ValidationFailed
from chat.eventlog.projector import rebuild
from chat.memory.retrieval import retrieve_memories
from chat.state.memory import get_memory, list_memories
from chat.tests.turn_support import events, one_to_one, running, turn, write_script

pytestmark = pytest.mark.anyio
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _recalled(data_dir: Path, query: str) -> list[str]:
    with open_db(data_dir / "kith.db") as conn:
        return [m["text"] for m, _ in retrieve_memories(conn, "mara", query, now=NOW, k=20)]


async def test_extraction_may_supersede_and_the_user_may_mark_or_unmark(data_dir: Path) -> None:
    script = data_dir.parent / "script.json"
    lives = {"memories": [{"owner": "mara", "text": "You live in Porto.", "kind": "fact"}]}
    async with running(data_dir, [{"match": "Porto", "extraction": lives}]) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "I live in Porto")
        with open_db(data_dir / "kith.db") as conn:
            old = next(m for m in list_memories(conn, owner="mara") if m["text"] == "You live in Porto.")
        moved = {"memories": [{"owner": "mara", "text": "You moved to Lisbon.", "kind": "fact",
                               "supersedes": old["id"]}]}  # fmt: skip
        write_script(script, [{"match": "Lisbon", "extraction": moved}])
        result = await turn(rt, chat["id"], "I moved to Lisbon last week")
        assert result["status"] == "completed"
        with open_db(data_dir / "kith.db") as conn:
            new = next(m for m in list_memories(conn, owner="mara") if m["text"] == "You moved to Lisbon.")
            assert get_memory(conn, old["id"])["superseded_by"] == new["id"]
        assert "memory_superseded" in [e.kind for e in events(data_dir, turn_id=result["id"])]
        assert "You live in Porto." not in _recalled(data_dir, "where do you live Porto")
        assert "You moved to Lisbon." in _recalled(data_dir, "where do you live Lisbon")

        before = len(events(data_dir))
        with pytest.raises(ValidationFailed, match="no memory with id"):
            await rt.edit("memory", old["id"], "superseded_by", "ghost")
        with pytest.raises(ValidationFailed, match="same bot"):
            await rt.edit("memory", old["id"], "superseded_by", old["id"])
        # the newer memory may not in turn be superseded by the one it replaces: both would
        # drop out of recall for good, each pointing at the other
        with pytest.raises(ValidationFailed, match="itself superseded by this one"):
            await rt.edit("memory", new["id"], "superseded_by", old["id"])
        assert len(events(data_dir)) == before  # nothing appended

        await rt.edit("memory", old["id"], "superseded_by", None)  # the user un-marks it
        assert "You live in Porto." in _recalled(data_dir, "where do you live Porto")
        await rt.edit("memory", old["id"], "superseded_by", new["id"])  # and marks it again
        assert "You live in Porto." not in _recalled(data_dir, "where do you live Porto")

        # pinned by the manual edit: a later proposal to change it is dropped
        again = {"memories": [{"owner": "mara", "text": "You moved again.", "supersedes": old["id"]}]}
        write_script(script, [{"match": "again", "extraction": again}])
        later = await turn(rt, chat["id"], "I moved again")
        dropped = [e.payload["reason"] for e in events(data_dir, kind="proposal_dropped", turn_id=later["id"])]
        assert dropped == ["superseded_by is pinned by a manual edit"]
    with open_db(data_dir / "kith.db") as conn:
        assert get_memory(conn, old["id"])["superseded_by"] == new["id"]


def _superseded_by(data_dir: Path, memory_id: str) -> str | None:
    with open_db(data_dir / "kith.db") as conn:
        return get_memory(conn, memory_id)["superseded_by"]


def _pinned(data_dir: Path, memory_id: str) -> bool:
    with open_db(data_dir / "kith.db") as conn:
        return conn.execute(
            "SELECT 1 FROM pins WHERE target_id = ? AND field = 'superseded_by'", (memory_id,)
        ).fetchone() is not None


def _rebuilt_equals_projected(data_dir: Path) -> None:
    with open_db(data_dir / "kith.db") as conn:
        before = conn.execute("SELECT id, superseded_by FROM memories ORDER BY id").fetchall()
        rebuild(conn)
        assert conn.execute("SELECT id, superseded_by FROM memories ORDER BY id").fetchall() == before


async def test_a_memory_whose_newer_one_is_deleted_or_rewound_is_recalled_again(data_dir: Path) -> None:
    """Marked superseded by a memory that is then deleted, or whose turn is rewound, a
    memory pointed at nothing and was never recalled again (the walk of session 26 found
    the demo's greeting so after a rewind)."""
    async with running(data_dir) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "I live in Porto")
        await turn(rt, chat["id"], "I moved to Lisbon")
        with open_db(data_dir / "kith.db") as conn:
            mine = {m["text"]: m for m in list_memories(conn, owner="mara") if m["text"].startswith("You:")}
        porto, lisbon = mine["You: I live in Porto"], mine["You: I moved to Lisbon"]
        assert "You: I live in Porto" in _recalled(data_dir, "Porto")

        # deleted: the older one is live again, unpinned, and says so in its history
        await rt.edit("memory", porto["id"], "superseded_by", lisbon["id"])
        assert "You: I live in Porto" not in _recalled(data_dir, "Porto") and _pinned(data_dir, porto["id"])
        await rt.edit("memory", lisbon["id"], "text", None, action="delete")
        assert _superseded_by(data_dir, porto["id"]) is None and not _pinned(data_dir, porto["id"])
        assert "You: I live in Porto" in _recalled(data_dir, "Porto")
        _rebuilt_equals_projected(data_dir)

        # rewound: the newer memory's turn is undone, the mark with it
        await turn(rt, chat["id"], "I moved to Faro")
        with open_db(data_dir / "kith.db") as conn:
            faro = next(m for m in list_memories(conn, owner="mara") if m["text"] == "You: I moved to Faro")
        await rt.edit("memory", porto["id"], "superseded_by", faro["id"])
        assert _superseded_by(data_dir, porto["id"]) == faro["id"]
        await rt.rewind(chat["id"], faro["message_id"])
        assert _superseded_by(data_dir, porto["id"]) is None and not _pinned(data_dir, porto["id"])
        assert "You: I live in Porto" in _recalled(data_dir, "Porto")
        _rebuilt_equals_projected(data_dir)
