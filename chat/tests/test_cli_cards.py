"""``kith bots list|import|export`` with CliRunner: output, exit codes, rows in the database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat.cards import parse_card
from chat.cli import main
from chat.db.connection import open_db
from chat.state.edges import get_edge
from chat.state.entities import get_bot, get_entity
from chat.tests.test_cards import dumps, png_card, v1_card, v2_card, v3_card


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KITH_DATA_DIR", "KITH_BACKEND"):
        monkeypatch.delenv(name, raising=False)


def kith(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)
    return result.exit_code, result.output


def events(data_dir: Path) -> list[tuple[str, str]]:
    path = data_dir / "kith.db"
    if not path.exists():
        return []
    with open_db(path) as conn:
        return conn.execute("SELECT kind, actor FROM events ORDER BY id").fetchall()


def test_import_json_appends_its_world_and_the_bot_and_projects_them(data_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "iris.json"
    card.write_bytes(dumps(v2_card()))
    code, out = kith(data_dir, "bots", "import", str(card))
    assert code == 0, out
    assert out == "imported Captain Iris as captain-iris in world captain-iris (chara_card_v2, 2 lore entries)\n"
    assert events(data_dir) == [("world_created", "user"), ("bot_authored", "user")]
    with open_db(data_dir / "kith.db") as conn:
        assert conn.execute("SELECT name FROM worlds WHERE id = 'captain-iris'").fetchone() == ("Captain Iris",)
        bot = get_bot(conn, "captain-iris")
        assert bot is not None
        assert bot["persona"].startswith("A retired sea captain")
        assert len(bot["lore"]) == 2 and bot["card"]["creator"] == "someone"
        assert get_entity(conn, "captain-iris", world_id="captain-iris")["kind"] == "bot"
        assert get_edge(conn, "captain-iris", "you", world_id="captain-iris") is not None
        assert get_entity(conn, "captain-iris") is None  # nothing of it in any other world


def test_importing_twice_asks_then_copies_or_updates(data_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "iris.png"
    card.write_bytes(png_card(v1_card()))
    assert kith(data_dir, "bots", "import", str(card))[0] == 0
    before = events(data_dir)
    code, out = kith(data_dir, "bots", "import", str(card))
    assert code != 0 and "matches the bot 'Captain Iris' (id captain-iris)" in out
    assert events(data_dir) == before
    code, out = kith(data_dir, "bots", "import", str(card), "--on-conflict", "update")
    assert code == 0 and "as captain-iris " in out
    code, out = kith(data_dir, "bots", "import", str(card), "--on-conflict", "copy")
    assert code == 0 and "as captain-iris-2 " in out
    code, out = kith(data_dir, "bots", "list")
    assert code == 0
    assert out.splitlines() == ["captain-iris\tCaptain Iris", "captain-iris-2\tCaptain Iris"]


@pytest.mark.parametrize("fmt", ["v2", "v3", "png"])
def test_export_writes_a_card_that_imports_back(data_dir: Path, tmp_path: Path, fmt: str) -> None:
    source = tmp_path / "iris.json"
    source.write_bytes(dumps(v3_card()))
    kith(data_dir, "bots", "import", str(source))
    target = tmp_path / f"out.{fmt}"
    code, out = kith(data_dir, "bots", "export", "captain-iris", "--format", fmt, "-o", str(target))
    assert code == 0, out
    assert out == f"wrote {target} ({target.stat().st_size:,} bytes)\n"
    with open_db(data_dir / "kith.db") as conn:
        stored = get_bot(conn, "captain-iris")
    again = parse_card(target.read_bytes())
    for key in ("name", "persona", "traits", "voice_samples", "lore", "alternate_greetings", "tags"):
        assert again[key] == stored[key], key
    if fmt != "png":
        assert json.loads(target.read_bytes())["spec"] == f"chara_card_{fmt}"


def test_bad_card_exits_1_with_one_line_and_appends_nothing(data_dir: Path, tmp_path: Path) -> None:
    kith(data_dir, "bots", "list")  # creates the database
    bad = tmp_path / "evil.png"
    bad.write_bytes(png_card(v2_card())[:-20])
    code, out = kith(data_dir, "bots", "import", str(bad))
    assert code == 1
    assert out.startswith("Error: evil.png: PNG chunk") and out.count("\n") == 1
    assert events(data_dir) == []


def test_oversized_file_is_refused_before_reading(data_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(9 * 1024 * 1024)
    code, out = kith(data_dir, "bots", "import", str(big))
    assert code == 1 and "limit" in out
    assert events(data_dir) == []


def test_export_of_unknown_bot_fails_cleanly(data_dir: Path, tmp_path: Path) -> None:
    code, out = kith(data_dir, "bots", "export", "nobody", "-o", str(tmp_path / "x.png"))
    assert code == 1
    assert out == "Error: no bot with id 'nobody'; see: kith bots list\n"
    assert not (tmp_path / "x.png").exists()


def test_list_with_no_bots(data_dir: Path) -> None:
    code, out = kith(data_dir, "bots", "list")
    assert code == 0 and out.startswith("no bots yet")


def test_import_reaches_an_existing_database(data_dir: Path, tmp_path: Path, db_path: Path) -> None:
    card = tmp_path / "iris.json"
    card.write_bytes(dumps(v1_card()))
    assert kith(data_dir, "bots", "import", str(card))[0] == 0
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT id FROM bots").fetchall() == [("captain-iris",)]
    finally:
        conn.close()


def test_export_takes_the_book_of_the_world_named(data_dir: Path, tmp_path: Path) -> None:
    """The character book is the bot's lore in ``--world`` (default: its first world), with
    the edits made there (§3.5); a world it takes no part in is an error naming it."""
    from chat.eventlog.log import NewEvent
    from chat.eventlog.writer import commit_now
    from chat.world.lore import lore_events
    from chat.world.worlds import create_events

    source = tmp_path / "iris.json"
    source.write_bytes(dumps(v3_card()))
    kith(data_dir, "bots", "import", str(source))
    with open_db(data_dir / "kith.db") as conn:
        card_book = get_bot(conn, "captain-iris")["lore"]
        commit_now(conn, lambda c: create_events(c, "Sea") + [
            NewEvent("world_joined", {"world_id": "sea", "bot_id": "captain-iris"}, actor="user")])
        commit_now(conn, lambda c: lore_events(c, "sea", "captain-iris", card_book[:1]))
    out_sea, out_home = tmp_path / "sea.json", tmp_path / "home.json"
    assert kith(data_dir, "bots", "export", "captain-iris", "--format", "v2", "--world", "sea", "-o", str(out_sea))[0] == 0
    assert kith(data_dir, "bots", "export", "captain-iris", "--format", "v2", "-o", str(out_home))[0] == 0
    assert parse_card(out_sea.read_bytes())["lore"] == card_book[:1]
    assert parse_card(out_home.read_bytes())["lore"] == card_book and len(card_book) > 1
    code, out = kith(data_dir, "bots", "export", "captain-iris", "--world", "atlantis", "-o", str(tmp_path / "x.png"))
    assert code == 1 and out == "Error: no world with id 'atlantis'\n"
