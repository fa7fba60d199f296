"""Core commands (§11.3): snapshots, rebuild, export/import, the event log, benchmarks.

Every command opens the data directory's one database (``database_path``),
migrates it, and brings the projections up to date the way the app does
(``cold_load``) where it needs them. Long work (replay, rebuild, import,
benchmarks) draws a progress bar on stderr (§11.4), so stdout stays the
command's answer.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from chat.cli.base import cli_settings, common_options, main, reports_errors, require_data_dir
from chat.db.connection import database_path, open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import Event, count_events, last_event_id, read_events
from chat.eventlog.projected import shown_reverted
from chat.eventlog.projector import (
    canonical_dump,
    get_cursor,
    project,
    rebuild,
    reverted_turns,
)
from chat.eventlog.schemas import SCHEMAS
from chat.export import export_log, export_settings, import_log
from chat.snapshots import api as snapshots
from chat.snapshots import cold_load as cold


@contextmanager
def progress_bar(label: str, start: int, end: int, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A bar over log positions start..end; the callback takes the id just handled."""
    if not enabled or end - start <= 0:
        yield lambda _event_id: None
        return
    with click.progressbar(length=end - start, label=label, file=sys.stderr) as bar:
        position = start

        def tick(event_id: int) -> None:
            nonlocal position
            if event_id > position:
                bar.update(event_id - position)
                position = event_id

        yield tick


@contextmanager
def database(
    ctx: click.Context, *, load: bool = True, show_progress: bool = True, create: bool = False
) -> Iterator[sqlite3.Connection]:
    """The migrated database of the data directory; with ``load``, projections up to date.
    A directory without one is an error (`require_data_dir`) unless ``create`` (imports)."""
    settings = cli_settings(ctx)
    if not create:
        require_data_dir(settings.data_dir)
    path = database_path(settings.data_dir)
    apply_migrations(path)
    with open_db(path) as conn:
        if load:
            cold_load(conn, settings.data_dir, show_progress=show_progress)
        yield conn


def cold_load(
    conn: sqlite3.Connection, data_dir: Path, *, force_rebuild: bool = False, show_progress: bool = True
) -> cold.ColdLoadReport:
    with progress_bar("replaying events", get_cursor(conn), last_event_id(conn), enabled=show_progress) as tick:
        return cold.cold_load(conn, data_dir, force_rebuild=force_rebuild, on_event=tick)


# --- snapshots -----------------------------------------------------------------------


@main.group("snapshot")
@common_options
def snapshot_group() -> None:
    """Take, list and restore snapshots of the projections (§10.4–§10.5)."""


@snapshot_group.command("take")
@common_options
@click.option("--periodic", is_flag=True, help="Store it with the periodic ones (pruned to the last 5).")
@click.pass_context
@reports_errors
def snapshot_take(ctx: click.Context, periodic: bool) -> None:
    """Write a snapshot now (manual ones are kept until deleted)."""
    settings = cli_settings(ctx)
    with database(ctx) as conn:
        path = snapshots.take_snapshot(conn, data_dir=settings.data_dir, kind="periodic" if periodic else "manual")
        info = snapshots.load_snapshot(path)
    click.echo(f"{path.name}\t{path.parent.name}\tlast_event_id={info.last_event_id}\t{path.stat().st_size} bytes")


@snapshot_group.command("list")
@common_options
@click.pass_context
@reports_errors
def snapshot_list(ctx: click.Context) -> None:
    """Show every snapshot, newest first: name, kind, log position, size, time."""
    settings = cli_settings(ctx)
    require_data_dir(settings.data_dir)
    items = snapshots.list_snapshots(settings.data_dir)
    if not items:
        click.echo("no snapshots yet; take one with: kith snapshot take")
        return
    for item in items:
        click.echo(
            f"{item['name']}\t{item['kind']}\tlast_event_id={item['last_event_id']}"
            f"\t{item['size_bytes']} bytes\t{item['created_at']}"
        )


@snapshot_group.command("restore")
@common_options
@click.argument("name")
@click.pass_context
@reports_errors
def snapshot_restore(ctx: click.Context, name: str) -> None:
    """Rebuild the projections from snapshot NAME plus the events after it.

    The log is never changed: the state after a restore is the whole log's state,
    reached from NAME instead of from the newest snapshot.
    """
    settings = cli_settings(ctx)
    path, _kind = snapshots.find_snapshot(settings.data_dir, name)
    with database(ctx, load=False) as conn:
        data = snapshots.load_snapshot(path)
        snapshots.check_matches_log(conn, data)
        snapshots.restore_tables(conn, data)
        with progress_bar("replaying events", data.last_event_id, last_event_id(conn)) as tick:
            result = project(
                conn, on_event=tick, checkpoints=snapshots.snapshot_checkpoints(settings.data_dir)
            )
    click.echo(f"restored {name} (last_event_id={data.last_event_id}) and replayed {result.applied} events")


# --- rebuild -------------------------------------------------------------------------


@main.command("rebuild")
@common_options
@click.option("--from-scratch", is_flag=True, help="Replay the whole log; ignore snapshots.")
@click.option("--verify", is_flag=True,
              help="Compare the rebuilt state with the incremental one; exit 1 on a difference.")
@click.pass_context
@reports_errors
def rebuild_command(ctx: click.Context, from_scratch: bool, verify: bool) -> None:
    """Rebuild the projections: newest snapshot plus the tail, or the whole log (§9.4, §10.6)."""
    settings = cli_settings(ctx)
    with database(ctx, load=verify) as conn:
        before = canonical_dump(conn) if verify else None
        started = time.perf_counter()
        if from_scratch:
            with progress_bar("replaying events", 0, last_event_id(conn)) as tick:
                result = rebuild(conn, on_event=tick)
            how, applied = "full replay", result.applied
        else:
            report = cold_load(conn, settings.data_dir, force_rebuild=True)
            how = f"snapshot {report.snapshot} + tail" if report.snapshot else report.path.replace("_", " ")
            applied = report.replayed
        seconds = time.perf_counter() - started
        after = canonical_dump(conn) if verify else None
    click.echo(f"rebuilt by {how}: {applied} events replayed in {seconds:.2f} s")
    if before is None or after is None:
        return
    differing = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
    if differing:
        for table in differing:
            click.echo(
                f"differs: {table} ({len(before.get(table, []))} rows incremental,"
                f" {len(after.get(table, []))} rebuilt)",
                err=True,
            )
        ctx.exit(1)
    click.echo(f"verified: the rebuilt state equals the incremental one ({len(after)} tables)")


# --- export and import ---------------------------------------------------------------


@main.command("export")
@common_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.pass_context
@reports_errors
def export_command(ctx: click.Context, file: Path, force: bool) -> None:
    """Write the whole world to FILE: the event log with versions and non-secret settings.

    FILE ending in .gz is compressed. Secrets are never written.
    """
    if file.exists() and not force:
        raise click.ClickException(f"{file} exists; pass --force to overwrite it")
    settings = cli_settings(ctx)
    secrets = [s.get_secret_value() for s in (settings.api_key, settings.access_token) if s is not None]
    with database(ctx, load=False) as conn, progress_bar("exporting", 0, last_event_id(conn)) as tick:
        report = export_log(conn, file, settings=export_settings(settings.data_dir), secrets=secrets,
                            on_event=tick)
    click.echo(f"exported {report.events} events to {file} ({report.bytes} bytes)")


@main.command("import")
@common_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def import_command(ctx: click.Context, file: Path) -> None:
    """Read an export into an empty data directory, check every event, rebuild the projections."""
    settings = cli_settings(ctx)
    with ExitStack() as stack:
        ticks: list[Callable[[int], None]] = []

        def start_bar(header: dict[str, Any]) -> None:
            end = header.get("last_event_id")
            ticks.append(stack.enter_context(progress_bar("importing", 0, end if isinstance(end, int) else 0)))

        report = import_log(file, settings.data_dir, on_header=start_bar, on_event=lambda i: ticks[0](i))
    with database(ctx, load=False, create=True) as conn:
        loaded = cold_load(conn, settings.data_dir)
    extra = "; settings written to kith.toml" if report.settings_written else ""
    click.echo(f"imported {report.events} events; projections rebuilt in {loaded.seconds:.2f} s{extra}")


# --- the event log -------------------------------------------------------------------


def _line(event: Event, reverted: bool) -> str:
    payload = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    if len(payload) > 160:
        payload = payload[:157] + "..."
    mark = " [reverted]" if reverted else ""
    return (f"{event.id}\t{event.created_at}\t{event.actor}\t{event.kind}{mark}"
            f"\t{event.chat_id or '-'}\t{event.turn_id or '-'}\t{payload}")


@main.command("events")
@common_options
@click.option("--after", type=click.IntRange(min=0), default=None,
              help="Page forward: the first --limit events with a larger id (instead of the newest).")
@click.option("--limit", type=click.IntRange(min=1, max=100_000), default=100, show_default=True,
              help="At most this many: the newest, or with --after the first after that id.")
@click.option("--all", "show_all", is_flag=True, help="Every event (that passes the filters), oldest first.")
@click.option("--kind", type=click.Choice(sorted(SCHEMAS)), default=None, help="Only this kind.")
@click.option("--chat", "chat_id", default=None, help="Only events of this chat.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--follow", is_flag=True, help="Keep printing new events as they are appended (Ctrl-C stops).")
@click.option("--idle-exit", type=float, default=None, hidden=True,
              help="With --follow, stop after this many seconds without a new event.")
@click.pass_context
@reports_errors
def events_command(ctx: click.Context, after: int | None, limit: int, show_all: bool, kind: str | None,
                   chat_id: str | None, as_json: bool, follow: bool, idle_exit: float | None) -> None:
    """Show the tail of the event log: the newest 100 events (--limit), oldest first.

    Events of reverted turns are marked. When events are left out, a note on stderr
    says how many and how to see them (--limit, --after ID, --all)."""
    if show_all and after is not None:
        raise click.UsageError("--all and --after do not go together: --all shows every event")
    with database(ctx, load=False) as conn:
        if after is None and not show_all:  # the tail
            page = read_events(conn, limit=limit, kind=kind, chat_id=chat_id, newest=True)
            _print_events(conn, page, as_json)
            earlier = count_events(conn, before=page[0].id, kind=kind, chat_id=chat_id) if page else 0
            if earlier:
                click.echo(f"{earlier} earlier events not shown (these are the newest {len(page)});"
                           " --limit N shows more, --after ID pages forward from an id, --all shows every event",
                           err=True)
            position = page[-1].id if page else last_event_id(conn)
        else:
            position = _page_forward(conn, after or 0, limit, kind, chat_id, as_json, show_all)
        if follow:
            _follow(conn, position, limit, kind, chat_id, as_json, idle_exit)


def _print_events(conn: sqlite3.Connection, page: list[Event], as_json: bool) -> None:
    reverted = reverted_turns(conn) if page else set()
    for event in page:
        is_reverted = shown_reverted(event.kind, event.turn_id, reverted)
        if as_json:
            click.echo(json.dumps({**event.to_dict(), "reverted": is_reverted}, ensure_ascii=False))
        else:
            click.echo(_line(event, is_reverted))


def _page_forward(conn: sqlite3.Connection, after: int, limit: int, kind: str | None, chat_id: str | None,
                  as_json: bool, show_all: bool) -> int:
    """Print the first ``limit`` events after ``after`` (every one, a page at a time, with
    ``show_all``); say how many more follow. Returns the id of the last one printed."""
    position = after
    while True:
        page = read_events(conn, after=position, limit=limit, kind=kind, chat_id=chat_id)
        _print_events(conn, page, as_json)
        if page:
            position = page[-1].id
        if len(page) < limit:
            return position
        if not show_all:
            break
    later = count_events(conn, after=position, kind=kind, chat_id=chat_id)
    if later:
        click.echo(f"{later} later events not shown; --after {position} shows the next {limit}, --all every event",
                   err=True)
    return position


def _follow(conn: sqlite3.Connection, position: int, limit: int, kind: str | None, chat_id: str | None,
            as_json: bool, idle_exit: float | None) -> None:
    """Keep printing events after ``position`` as they are appended."""
    quiet_since = time.monotonic()
    while True:
        page = read_events(conn, after=position, limit=limit, kind=kind, chat_id=chat_id)
        _print_events(conn, page, as_json)
        if page:
            position = page[-1].id
            quiet_since = time.monotonic()
        if idle_exit is not None and time.monotonic() - quiet_since >= idle_exit:
            return
        if len(page) < limit:
            time.sleep(0.25)


# --- benchmarks ----------------------------------------------------------------------


@main.command("bench")
@common_options
@click.argument("which", type=click.Choice(["core", "backend", "turns", "memory", "ui", "rewind", "restore",
                                          "prompt", "growth", "chatimport", "quality", "ttft", "all"]), default="all")
@click.option("--sizes", default=None, help="Core, memory, ui and rewind: comma-separated sizes (core: events,"
              " default 10000,100000; memory: 1000,100000; ui: messages, default 100,5000,30000;"
              " rewind: events, default 10000,100000,1000000; restore: events, default 1000000; growth: turns,messages, default 200,30000).")
@click.option("--turns", type=click.IntRange(1, 10_000), default=None,
              help="Prompt and ttft: turns of the chat (default 60).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the raw results to this JSON file.")
@click.pass_context
@reports_errors
def bench_command(
    ctx: click.Context, which: str, sizes: str | None, turns: int | None, json_path: Path | None
) -> None:
    """Measure the §13 targets: core (log, replay, snapshots), backend, turns, memory
    (recall and retrieval latency), chatimport; quality (what the bundled model does to a
    world in 10 turns) and ttft (time to first token over a long chat, embedded model and
    llama_cpp.server), only when named; or all of them."""
    from chat.bench import run_benchmark, selected

    results: dict[str, Any] = {}
    for name in selected(which):
        options: dict[str, Any] = {}
        if name in ("core", "memory", "ui", "rewind", "restore", "growth") and sizes:
            try:
                options["sizes"] = tuple(int(s) for s in sizes.split(","))
            except ValueError:
                raise click.BadParameter("sizes must be whole numbers such as 10000,100000",
                                         param_hint="--sizes") from None
        if name in ("prompt", "ttft") and turns:
            options["turns"] = turns
        outcome = run_benchmark(name, progress=True, **options)
        if outcome.skipped:
            click.echo(f"[{name}] skipped: {outcome.skipped}", err=True)
            continue
        results[name] = outcome.result
        click.echo(f"## {name}\n\n{outcome.report}\n")
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
