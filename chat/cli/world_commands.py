"""``kith worlds list|create|rename|archive|restore|export|import`` and ``kith persona`` (§3.5, §3.6).

Writes go through the ordinary write path (`commit_now`: validated, projected, in one
transaction), the same checks as the web app, so a bad name or an unknown world appends
nothing and the message names what is wrong.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import click

from chat.cli.base import cli_settings, common_options, main, reports_errors
from chat.cli.core_commands import database as _database
from chat.eventlog.log import NewEvent
from chat.eventlog.writer import commit_now
from chat.snapshots.api import snapshot_checkpoints
from chat.state.worlds import list_worlds, persona, world_bot_ids
from chat.turns.prompt_record import whole_record
from chat.world import openings, transfer
from chat.world import worlds as world_service


def _commit(ctx: click.Context, build: Callable[[sqlite3.Connection], list[NewEvent]], *, create: bool = False) -> int:
    checkpoints = snapshot_checkpoints(cli_settings(ctx).data_dir)
    with _database(ctx, create=create) as conn:
        events: list[NewEvent] = []

        def wrapped(conn: sqlite3.Connection) -> list[NewEvent]:
            events[:] = build(conn)
            return events

        commit_now(conn, wrapped, checkpoints)
    return len(events)


@main.group("worlds")
def worlds() -> None:
    """Story universes: each has its own entities, memories, facts, scenes and chats."""


@worlds.command("list")
@common_options
@click.option("--all", "include_archived", is_flag=True, help="Include archived worlds.")
@click.pass_context
@reports_errors
def list_command(ctx: click.Context, include_archived: bool) -> None:
    """Show each world: id, name, its bots, and whether it is archived."""
    with _database(ctx) as conn:
        found = list_worlds(conn, include_archived=include_archived)
        rows = [(w, world_bot_ids(conn, w["id"])) for w in found]
    if not rows:
        click.echo("no worlds yet: run `kith init` for the demo, or import a card")
    for world, bots in rows:
        flag = " (archived)" if world["archived"] else ""
        click.echo(f"{world['id']}\t{world['name']}{flag}\tbots: {', '.join(bots) or '-'}")


@worlds.command("create")
@common_options
@click.argument("name")
@click.option("--scenario", default="", help="What the world is about (goes into every prompt).")
@click.option("--id", "world_id", default=None, help="Its id (default: a slug of the name).")
@click.pass_context
@reports_errors
def create_command(ctx: click.Context, name: str, scenario: str, world_id: str | None) -> None:
    """Create an empty world."""
    chosen: list[str] = []

    def build(conn: sqlite3.Connection) -> list[NewEvent]:
        events = world_service.create_events(conn, name, scenario=scenario, world_id=world_id, distinct=True)
        chosen.append(events[0].payload["id"])
        return events

    _commit(ctx, build)
    click.echo(f"created world {chosen[0]} ({name.strip()})")


@worlds.command("rename")
@common_options
@click.argument("world_id")
@click.argument("name")
@click.pass_context
@reports_errors
def rename_command(ctx: click.Context, world_id: str, name: str) -> None:
    """Give a world a new name."""
    n = _commit(ctx, lambda conn: world_service.revise_events(conn, world_id, name=name))
    click.echo(f"renamed {world_id} to {name.strip()}" if n else "nothing to change")


@worlds.command("archive")
@common_options
@click.argument("world_id")
@click.pass_context
@reports_errors
def archive_command(ctx: click.Context, world_id: str) -> None:
    """Hide a world (nothing is lost; `kith worlds restore` brings it back)."""
    _commit(ctx, lambda conn: world_service.archive_events(conn, world_id, archived=True))
    click.echo(f"archived {world_id}")


@worlds.command("restore")
@common_options
@click.argument("world_id")
@click.pass_context
@reports_errors
def restore_command(ctx: click.Context, world_id: str) -> None:
    """Bring an archived world back."""
    _commit(ctx, lambda conn: world_service.archive_events(conn, world_id, archived=False))
    click.echo(f"restored {world_id}")


@worlds.command("export")
@common_options
@click.argument("world_id")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def export_command(ctx: click.Context, world_id: str, file: Path) -> None:
    """Write one world (its events, bots and chats) to FILE."""
    with _database(ctx) as conn:
        conn.execute("BEGIN")
        try:
            lines = list(transfer.export_world_lines(conn, world_id, whole_record))
        finally:
            conn.execute("COMMIT")
    file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    click.echo(f"exported world {world_id}: {len(lines) - 2} events to {file}")


@worlds.command("import")
@common_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def import_command(ctx: click.Context, file: Path) -> None:
    """Bring in a world file written by `kith worlds export` (into any data directory)."""
    world, records = transfer.read_world_file(file.read_text(encoding="utf-8").splitlines())
    n = _commit(ctx, lambda conn: transfer.import_events(conn, world, records), create=True)
    click.echo(f"imported world {world['id']}: {n} events")


@main.command("persona")
@common_options
@click.argument("name", required=False)
@click.option("--description", default=None, help="A short description of you.")
@click.option("--world", "world_id", default=None, help="Only in this world (default: everywhere).")
@click.pass_context
@reports_errors
def persona_command(ctx: click.Context, name: str | None, description: str | None, world_id: str | None) -> None:
    """Show or set who "you" are in the stories."""
    if name is not None:
        _commit(ctx, lambda conn: openings.set_persona_events(conn, name, description or "", world_id=world_id))
    with _database(ctx) as conn:
        who = persona(conn, world_id)
    click.echo(f"{who['name']}" + (f" — {who['description']}" if who["description"] else ""))
