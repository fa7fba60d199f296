"""``kith bots list|import|export``: bots and character cards from the terminal (§3.4, §11.3).

Import reads and validates the whole card before the database is opened, so a bad card
appends nothing; the ``bot_authored`` event and its unique id are chosen in one write
transaction, so two imports of the same card get two ids instead of a clash.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

import click

from chat.cards import MAX_CARD_BYTES, export_card, parse_card
from chat.cards.export import CardFormat
from chat.cli.base import cli_settings, common_options, main, reports_errors
from chat.cli.core_commands import database as _database
from chat.errors import NotFound, PayloadTooLarge
from chat.eventlog.log import NewEvent
from chat.eventlog.writer import commit_now
from chat.snapshots.api import snapshot_checkpoints
from chat.state.entities import get_bot, list_bots
from chat.world.imports import import_events
from chat.world.lore import bot_for_export


@main.group("bots")
def bots() -> None:
    """List bots, import character cards (V1/V2/V3, JSON or PNG) and export them."""


@bots.command("list")
@common_options
@click.option("--all", "include_retired", is_flag=True, help="Include retired bots.")
@click.pass_context
@reports_errors
def list_command(ctx: click.Context, include_retired: bool) -> None:
    """Show each bot: id, name, lore entries, tags."""
    with _database(ctx) as conn:
        rows = list_bots(conn, include_retired=include_retired)
    if not rows:
        click.echo("no bots yet; import one with: kith bots import CARD.png")
        return
    for bot in rows:
        click.echo(_describe(bot))


def _describe(bot: dict[str, Any]) -> str:
    parts = [bot["id"], bot["name"]]
    lore = len(bot.get("lore") or [])
    if lore:
        parts.append(f"{lore} lore entr{'y' if lore == 1 else 'ies'}")
    if bot.get("tags"):
        parts.append("tags: " + ", ".join(bot["tags"]))
    if bot.get("retired"):
        parts.append("retired")
    return "\t".join(parts)


@bots.command("import")
@common_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--on-conflict", type=click.Choice(["update", "copy"]), default=None,
              help="When a bot of the same name exists: update it from the card, or add a copy.")
@click.option("--world", "world_id", default=None, metavar="ID",
              help="Join this world (default: a new world named after the character).")
@click.pass_context
@reports_errors
def import_command(ctx: click.Context, file: Path, on_conflict: str | None, world_id: str | None) -> None:
    """Import a character card file (JSON or PNG) as a new bot in a world of its own (or
    update a matching one)."""
    size = file.stat().st_size
    if size > MAX_CARD_BYTES:
        raise PayloadTooLarge(f"{file.name}: card file is {size:,} bytes; the limit is {MAX_CARD_BYTES:,} bytes")
    payload = parse_card(file.read_bytes(), filename=file.name)
    checkpoints = snapshot_checkpoints(cli_settings(ctx).data_dir)
    with _database(ctx, create=True) as conn:  # a card may start a data directory
        chosen: list[tuple[str, str]] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            # the same write path as the web import
            events, bot_id, world = import_events(conn, payload, world_id, on_conflict or "ask")  # type: ignore[arg-type]
            chosen.append((bot_id, world))
            return events

        commit_now(conn, build, checkpoints)
        bot_id, world = chosen[0]
    lore = len(payload["lore"])
    spec = payload["card"].get("spec", "V1 card")
    entries = f"{lore} lore entr{'y' if lore == 1 else 'ies'}"
    click.echo(f"imported {payload['name']} as {bot_id} in world {world} ({spec}, {entries})")


@bots.command("export")
@common_options
@click.argument("bot_id")
@click.option("--format", "fmt", type=click.Choice(["v2", "v3", "png"]), default="png",
              show_default=True, help="Card format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: <bot id>.png or <bot id>.<format>.json here).")
@click.option("--world", "world_id", default=None,
              help="The world whose lore is the card's character book (default: the bot's first).")
@click.pass_context
@reports_errors
def export_command(
    ctx: click.Context, bot_id: str, fmt: str, output: Path | None, world_id: str | None
) -> None:
    """Export a bot as a V2 or V3 JSON card or a PNG card."""
    with _database(ctx) as conn:
        if get_bot(conn, bot_id) is None:
            raise NotFound(f"no bot with id {bot_id!r}; see: kith bots list")
        bot = bot_for_export(conn, bot_id, world_id)
    body, _media_type, filename = export_card(bot, cast(CardFormat, fmt))
    target = output if output is not None else Path(filename)
    try:
        target.write_bytes(body)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
    click.echo(f"wrote {target} ({len(body):,} bytes)")
