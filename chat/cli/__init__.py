"""The ``kith`` command: one click group; each module below adds the commands of its area."""

from __future__ import annotations

from chat.cli import card_commands as _cards  # noqa: E402,F401
from chat.cli import chat_commands as _chat  # noqa: E402,F401
from chat.cli import chat_file_commands as _chat_files  # noqa: E402,F401

# Importing a command module registers its commands on ``main``.
from chat.cli import core_commands as _core  # noqa: E402,F401
from chat.cli import serve_commands as _serve  # noqa: E402,F401
from chat.cli.base import main

__all__ = ["main"]
