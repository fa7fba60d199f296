"""``kith import-chat`` / ``kith export-chat`` with CliRunner: output, exit codes, rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat.cli import main
from chat.db.connection import open_db
from chat.tests.test_st_chat import GREETING, REPLY, USER, st_file


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KITH_DATA_DIR", "KITH_BACKEND"):
        monkeypatch.delenv(name, raising=False)


def kith(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)
    return result.exit_code, result.output


def _count(data_dir: Path, sql: str) -> int:
    with open_db(data_dir / "kith.db") as conn:
        return conn.execute(sql).fetchone()[0]


def test_import_then_export_round_trips(data_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "ada.json"
    card.write_text(json.dumps({"name": "Ada", "description": "An engineer."}))
    assert kith(data_dir, "bots", "import", str(card))[0] == 0
    source = tmp_path / "chat.jsonl"
    source.write_bytes(st_file(GREETING, USER, REPLY))
    code, out = kith(data_dir, "import-chat", str(source), "--bot", "ada")
    assert code == 0, out
    assert "imported 3 messages as chat" in out
    chat_id = out.split("as chat ")[1].split()[0]
    assert _count(data_dir, "SELECT COUNT(*) FROM messages") == 5  # 3 swipes of the reply
    target = tmp_path / "out.jsonl"
    code, out = kith(data_dir, "export-chat", chat_id, "--format", "st", "-o", str(target))
    assert code == 0 and f"wrote {target}" in out
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line.get("mes") for line in lines[1:]] == [GREETING["mes"], USER["mes"], REPLY["mes"]]
    text = tmp_path / "out.txt"
    assert kith(data_dir, "export-chat", chat_id, "--format", "txt", "-o", str(text))[0] == 0
    assert "Tell me about the lighthouse." in text.read_text()


def test_a_bad_file_names_the_line_and_appends_nothing(data_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "ada.json"
    card.write_text(json.dumps({"name": "Ada"}))
    kith(data_dir, "bots", "import", str(card))
    before = _count(data_dir, "SELECT COUNT(*) FROM events")
    source = tmp_path / "chat.jsonl"
    source.write_bytes(st_file(GREETING) + b'{"mes": oops}\n')
    code, out = kith(data_dir, "import-chat", str(source))
    assert code != 0 and "line 3" in out
    assert _count(data_dir, "SELECT COUNT(*) FROM events") == before


def test_an_unknown_chat_is_an_error(data_dir: Path) -> None:
    code, out = kith(data_dir, "export-chat", "chat-nope")
    assert code != 0 and "chat-nope" in out
