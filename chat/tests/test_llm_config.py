"""Settings (§7.7): precedence, errors that name the key, secrets never written or shown."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

import pytest

from chat.config import (
    Settings,
    apply_settings_update,
    load_settings,
    public_settings,
    save_settings_file,
)
from chat.errors import BackendUnavailable, ConfigError
from chat.llm.embedded import bundled_model_path
from chat.llm.registry import available_backends, create_backend, register_backend
from chat.llm.scripted import ScriptedBackend

SECRET = "sk-very-secret-value-42"


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.data_dir == tmp_path
    assert settings.backend == "embedded"
    assert settings.base_url == "http://127.0.0.1:8080/v1"
    assert settings.api_key is None and settings.access_token is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8765)
    assert settings.n_ctx == 2048 and settings.reply_max_tokens == 200
    assert settings.request_timeout_s == 60 and settings.max_retries == 2
    assert settings.extraction_enabled is True and settings.extraction_every_n_turns == 1
    assert settings.reflection_threshold == 50 and settings.max_replies_per_turn == 2
    assert settings.memory_top_k == 8
    assert (settings.snapshot_every_events, settings.snapshot_every_minutes) == (100, 30)
    assert settings.snapshot_keep == 5
    assert load_settings(env={}).data_dir == Path("./data")


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    (tmp_path / "kith.toml").write_text(
        'backend = "openai"\nmodel = "from-file"\nport = 9000\nmemory_top_k = 3\n'
    )
    env = {"KITH_MODEL": "from-env", "KITH_PORT": "9100"}
    settings = load_settings(tmp_path, overrides={"port": 9200, "model": None}, env=env)
    assert settings.backend == "openai"  # file
    assert settings.memory_top_k == 3  # file
    assert settings.model == "from-env"  # env beats file; a None flag is "not given"
    assert settings.port == 9200  # flag beats env
    assert settings.n_ctx == 2048  # default


def test_env_names(tmp_path: Path) -> None:
    env = {
        "KITH_BACKEND": "Scripted",
        "KITH_BASE_URL": "http://localhost:11434/v1/",
        "KITH_API_KEY": SECRET,
        "KITH_TOKEN": "tok-123",
        "KITH_EXTRACTION_ENABLED": "false",
        "KITH_SNAPSHOT_EVERY_EVENTS": "7",
        "KITH_UNRELATED": "ignored",
        "KITH_MODEL": "",
    }
    settings = load_settings(tmp_path, env=env)
    assert settings.backend == "scripted"
    assert settings.base_url == "http://localhost:11434/v1"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == SECRET
    assert settings.access_token is not None
    assert settings.access_token.get_secret_value() == "tok-123"
    assert settings.extraction_enabled is False
    assert settings.snapshot_every_events == 7
    assert settings.model is None  # empty means unset


def test_data_dir_from_env_and_config_path_override(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "kith.toml").write_text("memory_top_k = 4\n")
    assert load_settings(env={"KITH_DATA_DIR": str(other)}).memory_top_k == 4
    custom = tmp_path / "custom.toml"
    custom.write_text("memory_top_k = 6\n")
    settings = load_settings(tmp_path, env={"KITH_CONFIG": str(custom)})
    assert settings.memory_top_k == 6 and settings.data_dir == tmp_path
    flagged = load_settings(tmp_path, overrides={"data_dir": other}, env={})
    assert flagged.data_dir == other and flagged.memory_top_k == 4


@pytest.mark.parametrize(
    ("file_text", "env", "overrides", "field", "where"),
    [
        ("port = 'x'\n", {}, {}, "port", "kith.toml"),
        ("", {"KITH_PORT": "nope"}, {}, "port", "KITH_PORT"),
        ("", {}, {"max_retries": -1}, "max_retries", "command line"),
        ("colour = 'red'\n", {}, {}, "colour", "unknown setting"),
        ("", {}, {"colour": "red"}, "colour", "unknown setting"),
        ("", {"KITH_BASE_URL": "ftp://x"}, {}, "base_url", "KITH_BASE_URL"),
        ("port = [", {}, {}, None, "not valid TOML"),
    ],
)
def test_bad_settings_name_the_key_and_source(
    tmp_path: Path,
    file_text: str,
    env: dict[str, str],
    overrides: dict[str, object],
    field: str | None,
    where: str,
) -> None:
    (tmp_path / "kith.toml").write_text(file_text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, overrides=overrides, env=env)
    assert info.value.field == field
    assert where in info.value.message
    if field:
        assert field in info.value.message


def test_secrets_are_masked_everywhere(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={"KITH_API_KEY": SECRET, "KITH_TOKEN": "tok-secret-99"})
    public = public_settings(settings)
    assert public["api_key"] == "***" and public["access_token"] == "***"
    assert public["backend"] == "embedded" and public["data_dir"] == str(tmp_path)
    for text in (str(public), repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text and "tok-secret-99" not in text
    assert public_settings(Settings())["api_key"] is None


def test_save_settings_file_round_trips_without_secrets(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path,
        overrides={"backend": "openai", "model": "llama3", "extraction_every_n_turns": 3,
                   "api_key": SECRET, "access_token": "tok-secret-99",
                   "script_path": tmp_path / 'my "script".json'},
        env={},
    )  # fmt: skip
    path = save_settings_file(settings, tmp_path / "kith.toml")
    text = path.read_text()
    assert SECRET not in text and "tok-secret-99" not in text
    assert "api_key =" not in text and "access_token =" not in text
    data = tomllib.loads(text)
    assert data["backend"] == "openai" and data["extraction_every_n_turns"] == 3
    assert "port" not in data  # defaults are not written
    reloaded = load_settings(tmp_path, env={})
    assert reloaded.model == "llama3" and reloaded.backend == "openai"
    assert reloaded.script_path == tmp_path / 'my "script".json'
    assert reloaded.api_key is None


def test_apply_settings_update(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    updated = apply_settings_update(settings, {"backend": "scripted", "memory_top_k": 12})
    assert updated.backend == "scripted" and updated.memory_top_k == 12
    assert settings.backend == "embedded"  # the original is untouched
    with pytest.raises(ConfigError) as info:
        apply_settings_update(settings, {"memory_top_k": 0})
    assert info.value.field == "memory_top_k"
    with pytest.raises(ConfigError):
        apply_settings_update(settings, {"nope": 1})
    with pytest.raises(ConfigError):
        apply_settings_update(settings, {"data_dir": "/tmp"})


def test_registry_creates_each_builtin(tmp_path: Path) -> None:
    assert {"embedded", "openai", "scripted"} <= set(available_backends())
    backend = create_backend(Settings(backend="scripted", data_dir=tmp_path))
    assert isinstance(backend, ScriptedBackend)
    openai = create_backend(
        Settings(backend="openai", api_key=SECRET, model="m", request_timeout_s=5)
    )
    assert openai.name == "openai" and openai.context_length() == 4096
    assert SECRET not in repr(openai)
    embedded = create_backend(
        Settings(backend="embedded", model=str(bundled_model_path()), n_ctx=512)
    )
    assert embedded.name == "embedded" and embedded.context_length() == 512
    with pytest.raises(BackendUnavailable, match="model file not found") as info:
        create_backend(Settings(backend="embedded", model="/nowhere/model.gguf"))
    assert info.value.field == "model"


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        create_backend(Settings(backend="nonesuch"))
    assert "embedded" in info.value.message and info.value.field == "backend"


def test_a_third_backend_registers_like_the_builtins() -> None:
    name = f"echo-{uuid.uuid4().hex[:8]}"

    class Echo(ScriptedBackend):
        pass

    register_backend(name, lambda settings: Echo())
    assert name in available_backends()
    assert isinstance(create_backend(Settings(backend=name)), Echo)
    with pytest.raises(ValueError):
        register_backend(name, lambda settings: Echo())
