"""PUT /api/settings cannot widen access or read the file system (§12.6, §14.5).

The bind address and port are start-time options only; numbers have bounds and JSON
types are strict; a path that is not a usable file of its kind gets one answer, the
same for every way it can be wrong, and never a 500.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.config import read_settings_file
from chat.tests.api_support import assert_error, make_settings, running_app

pytestmark = pytest.mark.anyio


async def _refused(client: httpx.AsyncClient, body: dict[str, Any], field: str) -> str:
    error = assert_error(await client.put("/api/settings", json=body), 422, field)
    return error["message"]


@pytest.mark.parametrize(
    "body",
    [{"host": "0.0.0.0"}, {"host": "127.0.0.1"}, {"port": 80}, {"port": 8765}],
)
async def test_host_and_port_cannot_be_set_over_http(data_dir: Path, body: dict) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        (field,) = body
        message = await _refused(client, {**body, "memory_top_k": 6}, field)
        assert "start-time" in message
        settings = (await client.get("/api/settings")).json()
        assert (settings["host"], settings["port"], settings["memory_top_k"]) == ("127.0.0.1", 8765, 8)
    assert not (data_dir / "kith.toml").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_ctx", 10**12),
        ("n_ctx", 100),
        ("context_length", 10**12),
        ("reply_max_tokens", 10**9),
        ("reply_max_tokens", 0),
        ("memory_top_k", 10**9),
        ("max_replies_per_turn", 1000),
        ("snapshot_every_minutes", 1e-9),
        ("snapshot_every_minutes", 0),
        ("snapshot_every_events", 0),
        ("snapshot_keep", 10**6),
        ("request_timeout_s", 10**9),
        ("n_threads", 10**6),
        ("extraction_every_n_turns", 10**9),
        ("extraction_enabled", "yes"),
        ("extraction_enabled", 1),
        ("extraction_enabled", "false"),
        ("memory_top_k", "10"),
        ("memory_top_k", True),
        ("memory_top_k", 6.5),
        ("snapshot_every_minutes", "30"),
        ("backend", 3),
        ("base_url", ["http://x"]),
    ],
)
async def test_settings_are_bounded_and_strictly_typed(data_dir: Path, field: str, value: Any) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = (await client.get("/api/settings")).json()
        await _refused(client, {field: value}, field)
        assert (await client.get("/api/settings")).json() == before
    assert not (data_dir / "kith.toml").exists()


async def test_sane_values_of_each_kind_are_accepted(data_dir: Path) -> None:
    changes = {"n_ctx": 4096, "memory_top_k": 12, "extraction_enabled": False,
               "snapshot_every_minutes": 45, "reply_max_tokens": 300}  # fmt: skip
    async with running_app(make_settings(data_dir)) as (_app, client):
        put = await client.put("/api/settings", json=changes)
        assert put.status_code == 200, put.text
        assert {k: put.json()[k] for k in changes} == changes
    assert read_settings_file(data_dir / "kith.toml") == changes


def _bad_paths(data_dir: Path, elsewhere: Path) -> dict[str, Path]:
    binary = elsewhere / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    creds = elsewhere / "creds.json"
    creds.write_text(json.dumps({"password": "hunter2", "user": "root"}))
    listed = elsewhere / "list.json"
    listed.write_text("[1, 2, 3]")
    bad_rule = elsewhere / "bad-rule.json"
    bad_rule.write_text(json.dumps({"rules": [{"match": "(", "reply": "x"}]}))
    empty = elsewhere / "empty.json"
    empty.write_text("")
    unreadable = elsewhere / "secret.json"
    unreadable.write_text('{"rules": []}')
    unreadable.chmod(0)
    return {
        "binary file": binary,
        "the database": data_dir / "kith.db",
        "a directory": elsewhere,
        "a missing file": elsewhere / "missing.json",
        "another JSON object": creds,
        "a JSON list": listed,
        "a bad rule": bad_rule,
        "an empty file": empty,
        "an unreadable file": unreadable,
        "a device": Path("/dev/zero"),
    }


async def test_a_bad_script_path_is_one_plain_422(data_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with running_app(make_settings(data_dir)) as (_app, client):
        messages = {}
        for what, path in _bad_paths(data_dir, elsewhere).items():
            if what == "an unreadable file" and os.geteuid() == 0:
                continue  # root reads anything
            messages[what] = await _refused(client, {"script_path": str(path)}, "script_path")
        assert len(set(messages.values())) == 1, messages  # nothing tells the cases apart
        message = next(iter(messages.values()))
        for secret in ("password", "hunter2", "creds", "elsewhere", str(tmp_path), "kith.db"):
            assert secret not in message
        assert "not usable" in message
        assert (await client.get("/api/settings")).json()["script_path"] is None
    assert not (data_dir / "kith.toml").exists()


async def test_a_bad_model_path_is_one_plain_422(data_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths = _bad_paths(data_dir, elsewhere)
    async with running_app(make_settings(data_dir)) as (_app, client):
        messages = {}
        for what, path in paths.items():
            if what == "an unreadable file" and os.geteuid() == 0:
                continue
            body = {"backend": "embedded", "model": str(path)}
            messages[what] = await _refused(client, body, "model")
        assert len(set(messages.values())) == 1, messages
        message = next(iter(messages.values()))
        assert "not usable" in message and str(tmp_path) not in message
        assert (await client.get("/api/settings")).json()["backend"] == "scripted"
    assert not (data_dir / "kith.toml").exists()


async def test_a_plain_backend_switch_does_not_carry_the_other_backends_model(
    data_dir: Path, tmp_path: Path
) -> None:
    """openai with a server's model name, then back to embedded: the name is no GGUF path;
    the switch once failed as "model is not usable" until Model was cleared by hand."""
    dead = "http://127.0.0.1:9/v1"
    settings = make_settings(data_dir, backend="openai", model="llama3.1", base_url=dead)
    async with running_app(settings) as (_app, client):
        put = await client.put("/api/settings", json={"backend": "embedded"})
        assert put.status_code == 200, put.text
        assert (put.json()["backend"], put.json()["model"]) == ("embedded", None)
        assert (await client.get("/api/health")).json()["backend"] == "embedded"
        # back to openai: the bundled model's (absent) path is not carried either
        put = await client.put("/api/settings", json={"backend": "openai", "model": "llama3.1"})
        assert (put.json()["backend"], put.json()["model"]) == ("openai", "llama3.1")
        # a switch that names its model keeps it; a bad one is still refused
        assert_error(
            await client.put("/api/settings", json={"backend": "embedded", "model": "llama3.1"}),
            422,
            "model",
        )
        assert (await client.get("/api/settings")).json()["model"] == "llama3.1"
    assert read_settings_file(data_dir / "kith.toml") == {
        "backend": "openai", "model": "llama3.1"
    }  # fmt: skip
