"""Docs are tested where cheap (STYLE 12): the `kith` command tree, read off
``chat.cli.main`` itself, against its help texts and README.md + docs/*.md.

A new command or subcommand without help text, or one the docs never name, fails
here; so does a ``kith WORD`` in the docs that is no command (a stale mention).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from chat.cli import main

ROOT = Path(__file__).resolve().parents[2]


def commands(command: click.Command, path: tuple[str, ...] = ("kith",)) -> Iterator[tuple[str, click.Command]]:
    """Every command under ``command`` with its full name ("kith snapshot take"), groups included."""
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, (*path, name))


def docs_text() -> str:
    """README.md and docs/*.md with every run of whitespace made one space (a name may wrap)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return re.sub(r"\s+", " ", " ".join(f.read_text(encoding="utf-8") for f in files))


TREE = dict(commands(main))


def test_the_tree_is_read_from_the_cli_itself() -> None:
    # Guards the walk: it must reach subcommands, not only the top level.
    assert "kith snapshot take" in TREE and "kith bots import" in TREE
    assert len(TREE) > len(main.commands) + 1


@pytest.mark.parametrize("name", sorted(TREE))
def test_every_command_has_help_text(name: str) -> None:
    command = TREE[name]
    assert (command.help or command.short_help or "").strip(), f"{name} has no help text"
    missing = [
        "/".join(param.opts)
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert not missing, f"{name}: options without help text: {missing}"


@pytest.mark.parametrize("name", sorted(n for n in TREE if n != "kith"))
def test_every_command_appears_in_the_docs(name: str) -> None:
    pattern = rf"(?<![\w.-]){re.escape(name)}(?![\w-])"
    assert re.search(pattern, docs_text()), f"`{name}` is not named in README.md or docs/*.md"


def test_every_command_the_docs_name_exists() -> None:
    stale = []
    for first, second in re.findall(r"(?<![\w.-])kith ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", docs_text()):
        command = main.commands.get(first)
        if command is None:
            stale.append(f"kith {first}")
        elif isinstance(command, click.Group) and second not in command.commands:
            stale.append(f"kith {first} {second}")
    assert not stale, f"the docs name commands that do not exist: {sorted(set(stale))}"
