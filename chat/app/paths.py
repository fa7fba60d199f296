"""File paths given over HTTP (§12.3, §12.6): a script or a GGUF model, checked before use.

A path from a request must name a regular file of the expected kind. Whatever is
wrong with it (missing, a directory, a device, unreadable, binary, the database,
another JSON file), the answer is the same sentence, so the settings API cannot be
used to learn anything about other files: not whether they exist, not what they hold.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pydantic

from chat.errors import ValidationFailed
from chat.llm.embedded import GGUF_MAGIC
from chat.llm.scripted import Script

MAX_SCRIPT_BYTES = 16 * 1024 * 1024
"""A script file is a few kilobytes of rules; anything this big is not one."""

WHAT = {
    "script_path": "the path of a script file for the scripted backend",
    "model": "the path of a GGUF model file",
    "embedding_model": "the path of a GGUF embedding model file",
}


def not_usable(field: str) -> ValidationFailed:
    """The one error for every bad path: it says only that the path is not usable."""
    return ValidationFailed(f"{field} is not usable: give {WHAT[field]}", field=field)


def check_usable_path(path: Path, field: str) -> Path:
    """Return ``path`` when it names a regular file of the kind ``field`` needs, else 422."""
    try:
        target = Path(os.path.expanduser(str(path)))
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):
            raise not_usable(field)
        if field in ("model", "embedding_model"):
            with open(target, "rb") as handle:
                if handle.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
                    raise not_usable(field)
            return target
        if info.st_size > MAX_SCRIPT_BYTES:
            raise not_usable(field)
        Script.model_validate_json(target.read_bytes())
    except (OSError, ValueError, pydantic.ValidationError):
        raise not_usable(field) from None
    return target
