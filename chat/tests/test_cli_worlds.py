"""``kith worlds …``, ``kith persona``, ``kith bots import --world`` and ``kith init --persona``
with CliRunner against real data directories (§3.5, §3.6, §11.3)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from chat.cli import main
from chat.db.connection import open_db
from chat.state.chats import list_chats, transcript
from chat.state.entities import get_entity
from chat.state.worlds import list_worlds, world_bot_ids
from chat.tests.test_cards import dumps, v2_card


def kith(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def test_init_with_a_persona_names_you_in_the_demo(data_dir: Path) -> None:
    code, out = kith(data_dir, "init", "--persona", "Wren")
    assert code == 0, out
    with open_db(data_dir / "kith.db") as conn:
        assert [w["id"] for w in list_worlds(conn)] == ["saltmere"]
        assert world_bot_ids(conn, "saltmere") == ["mara", "tobias", "isolde"]
        assert get_entity(conn, "you", world_id="saltmere")["name"] == "Wren"
        first = transcript(conn, list_chats(conn)[0]["id"])[0]
    assert "Wren" in first["text"] and "{{user}}" not in first["text"]
    assert kith(data_dir, "persona") == (0, "Wren\n")


def test_worlds_commands_and_a_card_joining_a_world(data_dir: Path, tmp_path: Path) -> None:
    assert kith(data_dir, "worlds", "create", "Ember Isles", "--scenario", "Volcanoes.")[1] == (
        "created world ember-isles (Ember Isles)\n"
    )
    card = tmp_path / "iris.json"
    card.write_bytes(dumps(v2_card()))
    code, out = kith(data_dir, "bots", "import", str(card), "--world", "ember-isles")
    assert code == 0 and "in world ember-isles" in out, out
    code, out = kith(data_dir, "bots", "import", str(card), "--world", "atlantis")
    assert code != 0 and "no world with id 'atlantis'" in out
    assert kith(data_dir, "worlds", "rename", "ember-isles", "Ash Isles")[0] == 0
    code, out = kith(data_dir, "worlds", "list")
    assert out == "ember-isles\tAsh Isles\tbots: captain-iris\n"
    assert kith(data_dir, "worlds", "archive", "ember-isles")[0] == 0
    assert kith(data_dir, "worlds", "list")[1].startswith("no worlds yet")
    assert "(archived)" in kith(data_dir, "worlds", "list", "--all")[1]
    assert kith(data_dir, "worlds", "restore", "ember-isles")[0] == 0
    code, out = kith(data_dir, "persona", "Captain Ash", "--world", "ember-isles")
    assert (code, out) == (0, "Captain Ash\n")
    assert kith(data_dir, "persona")[1] == "You\n"  # the global one is untouched

    file = tmp_path / "ember.jsonl"
    code, out = kith(data_dir, "worlds", "export", "ember-isles", str(file))
    assert code == 0 and file.exists(), out
    other = tmp_path / "other"
    code, out = kith(other, "worlds", "import", str(file))
    assert code == 0 and out.startswith("imported world ember-isles"), out
    with open_db(other / "kith.db") as conn:
        assert world_bot_ids(conn, "ember-isles") == ["captain-iris"]
        assert get_entity(conn, "you", world_id="ember-isles")["name"] == "Captain Ash"
    code, out = kith(other, "worlds", "import", str(file))
    assert code != 0 and "already has a world 'ember-isles'" in out
