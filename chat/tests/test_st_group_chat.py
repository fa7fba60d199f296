"""A SillyTavern group chat keeps each line's speaker (§11.5): a two-bot chat exported with
``kith export-chat --format st`` and imported again (over the API with one bot picked, as
the "Import chat…" dialog does, and with ``kith import-chat``) gives every line to the bot
of its name in that world, and the chat is with all of them; a name no bot there has goes
to the picked bot. Real app and CLI, real SQLite, the scripted backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chat.cli import main
from chat.tests.api_support import make_bot, make_settings, running_app
from chat.tests.test_st_chat import hidden, st_file, upload

pytestmark = pytest.mark.anyio


def _line(name: str, text: str, *, user: bool = False) -> dict[str, Any]:
    return {"name": name, "is_user": user, "is_system": False, "send_date": "2024-09-28T13:05:00.000Z",
            "mes": text, "extra": {}}


LINES = [
    _line("Ada", "Welcome aboard."),
    _line("Sam", "Who steers?", user=True),
    _line("Bram", "I do, when Ada lets me."),
    _line("Ada", "Which is never."),
    _line("Bram", "Hold fast, then."),
]


def _authors(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["author"], m["text"]) for m in messages if m.get("chosen", True)]


async def test_a_two_bot_export_imports_with_each_speaker(data_dir: Path, tmp_path: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        assert (await client.post("/api/worlds", json={"name": "Harbour", "id": "harbour"})).status_code == 201
        await make_bot(client, id="ada", name="Ada", world_id="harbour")
        await make_bot(client, id="bram", name="Bram", world_id="harbour")
        made = await upload(client, st_file(*LINES), bot_id=["ada", "bram"])
        assert made.status_code == 201, made.text
        source = made.json()["id"]
        expected = _authors(await hidden(client, source))
        assert [a for a, _ in expected] == ["ada", "you", "bram", "ada", "bram"]

    exported = tmp_path / "group.jsonl"
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "export-chat", source, "--format", "st",
                                       "-o", str(exported)], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [json.loads(line).get("name") for line in exported.read_text().splitlines()[1:]]
    assert names == ["Ada", "You", "Bram", "Ada", "Bram"]  # "you" by the persona name
    stranger = exported.read_bytes() + (json.dumps(_line("Quill", "A stranger speaks.")) + "\n").encode()

    async with running_app(make_settings(data_dir)) as (_app, client):
        again = await upload(client, stranger, bot_id=["ada"])  # the dialog picks one bot
        assert again.status_code == 201, again.text
        assert again.json()["bot_ids"] == ["ada", "bram"]
        got = _authors(await hidden(client, again.json()["id"]))
        assert got == [*expected, ("ada", "A stranger speaks.")]  # an unknown name: the picked bot

    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "import-chat", str(exported)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("with ada, bram"), result.output
    chat_id = result.output.split("as chat ")[1].split()[0]
    async with running_app(make_settings(data_dir)) as (_app, client):
        assert _authors(await hidden(client, chat_id)) == expected


async def test_a_one_speaker_file_stays_with_the_picked_bot_even_if_another_has_the_name(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        assert (await client.post("/api/worlds", json={"name": "Harbour", "id": "harbour"})).status_code == 201
        await make_bot(client, id="sera", name="Sera", world_id="harbour")
        await make_bot(client, id="seraphina", name="Seraphina", world_id="harbour")
        one = st_file(_line("Seraphina", "Hello there."), _line("Sam", "Hi.", user=True), _line("Seraphina", "Tea?"))
        made = await upload(client, one, bot_id=["sera"])  # chosen on purpose: her lines are Sera's
        assert made.status_code == 201, made.text
        assert made.json()["bot_ids"] == ["sera"]
        assert [a for a, _ in _authors(await hidden(client, made.json()["id"]))] == ["sera", "you", "sera"]
