"""A mistyped ``--data-dir`` is an error naming the path, not a new, empty data directory;
``kith init`` and the import commands still create one (``make run`` runs ``init`` first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chat.cli import main
from chat.tests.test_cards import dumps, v2_card


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KITH_DATA_DIR", "KITH_BACKEND"):
        monkeypatch.delenv(name, raising=False)


def kith(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", [
    ["bots", "list"], ["events"], ["worlds", "list"], ["worlds", "create", "Saltmere"], ["persona"],
    ["snapshot", "list"], ["snapshot", "take"], ["rebuild"], ["export-chat", "chat-x"],
    ["chat", "--message", "hi"],
])  # fmt: skip
def test_a_missing_data_directory_is_named_not_made(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "x" / "nonexistent"
    code, out = kith(missing, *command)
    assert code == 1, out
    assert str(missing) in out and "kith init" in out and "kith serve" in out
    assert not missing.exists() and not missing.parent.exists()


def test_init_and_imports_still_create_one(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "data"
    code, out = kith(fresh, "--backend", "scripted", "init", "--if-empty")
    assert code == 0, out
    assert (fresh / "kith.db").is_file()
    code, out = kith(fresh, "bots", "list")
    assert code == 0 and "no data directory" not in out
    card = tmp_path / "iris.json"
    card.write_bytes(dumps(v2_card()))
    other = tmp_path / "cards"
    code, out = kith(other, "bots", "import", str(card))
    assert code == 0, out
    assert (other / "kith.db").is_file()
