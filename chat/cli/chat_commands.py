"""Commands of this area, registered on the root group (placeholder until filled)."""

from __future__ import annotations

from chat.cli.base import main  # noqa: F401
