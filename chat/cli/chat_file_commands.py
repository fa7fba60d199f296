"""``kith import-chat`` and ``kith export-chat``: SillyTavern chats in, chats out (§11.5).

Import reads and checks the whole file before the database is opened (a bad file appends
nothing), then appends every event in one transaction, in batches behind a progress bar.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from chat.cli.base import cli_settings, common_options, main, reports_errors
from chat.cli.core_commands import database as _database
from chat.cli.core_commands import progress_bar
from chat.errors import PayloadTooLarge
from chat.eventlog.writer import commit_batches
from chat.snapshots.api import snapshot_checkpoints
from chat.state.worlds import bot_worlds
from chat.world.chat_export import plain_text, st_jsonl
from chat.world.chats import require_chat
from chat.world.ids import new_id
from chat.world.st_chat import (
    MAX_CHAT_FILE_BYTES,
    import_events,
    parse_st_chat,
    pick_bots,
    with_speakers,
)


@main.command("import-chat")
@common_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bot", "bot_ids", multiple=True,
              help="Bot id the chat is with (repeat for a group); default: the bot named in the file.")
@click.option("--title", default=None, help="Title of the new chat.")
@click.pass_context
@reports_errors
def import_chat(ctx: click.Context, file: Path, bot_ids: tuple[str, ...], title: str | None) -> None:
    """Import a SillyTavern chat file (.jsonl) as a new chat; swipes become alternatives."""
    size = file.stat().st_size
    if size > MAX_CHAT_FILE_BYTES:
        raise PayloadTooLarge(f"{file.name} is {size:,} bytes; the limit is {MAX_CHAT_FILE_BYTES:,}")
    parsed = parse_st_chat(file.read_bytes())
    checkpoints = snapshot_checkpoints(cli_settings(ctx).data_dir)
    chat_id = new_id("chat")
    with _database(ctx) as conn:
        bots = pick_bots(conn, parsed, list(bot_ids) or None)
        joined = bot_worlds(conn, bots[0]["id"])  # the world of its (first) bot, as the web import
        bots = with_speakers(conn, parsed, bots, joined[0] if joined else None)  # a group chat
        events = import_events(parsed, bots, chat_id, title)
        if joined:
            events[0].payload["world_id"] = joined[0]
        with progress_bar("importing", 0, len(events)) as tick:
            commit_batches(conn, events, progress=lambda done, _total: tick(done), checkpoints=checkpoints)
    click.echo(f"imported {len(parsed.messages)} messages as chat {chat_id} with {', '.join(b['id'] for b in bots)}")


@main.command("export-chat")
@common_options
@click.argument("chat_id")
@click.option("--format", "fmt", type=click.Choice(["st", "txt"]), default="st", show_default=True,
              help="st: SillyTavern JSONL (other alternatives as swipes); txt: plain text.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: <chat id>.jsonl or <chat id>.txt here; - for stdout).")
@click.pass_context
@reports_errors
def export_chat(ctx: click.Context, chat_id: str, fmt: str, output: Path | None) -> None:
    """Export a chat as a SillyTavern chat file or as plain text."""
    with _database(ctx) as conn:
        body = _export(conn, chat_id, fmt)
    if output is not None and str(output) == "-":
        click.get_binary_stream("stdout").write(body)
        return
    target = output or Path(f"{chat_id}.{'jsonl' if fmt == 'st' else 'txt'}")
    try:
        target.write_bytes(body)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
    click.echo(f"wrote {target} ({len(body):,} bytes)")


def _export(conn: sqlite3.Connection, chat_id: str, fmt: str) -> bytes:
    require_chat(conn, chat_id)
    return st_jsonl(conn, chat_id) if fmt == "st" else plain_text(conn, chat_id)
