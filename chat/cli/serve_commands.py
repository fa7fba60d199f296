"""``kith serve``: the web UI and HTTP API on http://127.0.0.1:8765 (§11.1, §12.1).

The embedded model is the default backend, so ``kith serve`` alone runs fully
offline. Binding an address other than loopback needs an access token
(``KITH_TOKEN``); the printed URL then carries ``?token=`` once, which the server
turns into a cookie and strips from the address bar (and from the access log).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from pathlib import Path
from urllib.parse import quote

import click

from chat.cli.base import cli_overrides, common_options, main, reports_errors
from chat.errors import ConfigError


def configure_logging() -> None:
    """INFO lines for Kith's own loggers (cold-load path and time, snapshots, turns)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def app_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    url = f"http://{shown}:{port}/"
    return f"{url}?token={quote(token, safe='')}" if token else url


@main.command()
@common_options
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8765).")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Rebuild the projections at start: newest usable snapshot plus the log after it.",
)
@click.pass_context
@reports_errors
def serve(ctx: click.Context, host: str | None, port: int | None, rebuild: bool) -> None:
    """Start the web UI and HTTP API (OpenAPI at /docs)."""
    import uvicorn

    from chat.app.factory import create_app
    from chat.app.security import check_bind_allowed
    from chat.config import load_settings

    overrides = cli_overrides(ctx)
    overrides.update({"host": host, "port": port})
    settings = load_settings(data_dir=overrides.pop("data_dir", None), overrides=overrides)
    token = settings.access_token.get_secret_value() if settings.access_token else None
    check_bind_allowed(settings.host, token)
    listener = listen(settings.host, settings.port)  # before anything says where it serves
    configure_logging()
    try:
        _load_with_progress(settings.data_dir, force_rebuild=rebuild)
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            log_config=None,
            timeout_graceful_shutdown=5,
        )
        click.echo(
            f"Kith ({settings.backend} backend, data in {settings.data_dir}) at "
            f"{app_url(settings.host, settings.port, token)}"
        )
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn re-raises it after stopping
            server.run(sockets=[listener])
    finally:
        listener.close()
    if not server.started:
        raise SystemExit(3)  # the app did not start (uvicorn logged why), as uvicorn.run does


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound now, so a port in use is said plainly before any
    URL is printed (and no other program can take the port between a check and the bind)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use (another Kith, or another program)."
                f" Choose another port: kith serve --port {_other(port)}, or"
                f" make run PORT={_other(port)} (KITH_PORT works too)",
                field="port",
            ) from None
        if exc.errno == errno.EACCES:
            raise ConfigError(
                f"no permission to listen on port {port}: ports below 1024 need root;"
                f" choose another with --port (e.g. --port {_other(port)})",
                field="port",
            ) from None
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot listen on {host}:{port}: {reason}. Choose another address with --host"
            " (default 127.0.0.1) or another port with --port",
            field="host",
        ) from None


def _other(port: int) -> int:
    return port + 1 if port < 65535 else 8765


def _load_with_progress(data_dir: Path, *, force_rebuild: bool) -> None:
    """Bring the projections up to date before the server starts, with a progress bar (§11.4).

    A long replay (a rebuild, a new Kith version, an imported log) then shows its
    progress on the terminal; the app's own start finds the projections current and
    only projects the tail.
    """
    from chat.cli.core_commands import cold_load
    from chat.db.connection import database_path, open_db
    from chat.db.migrate import apply_migrations

    path = database_path(data_dir)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    apply_migrations(path)
    with open_db(path) as conn:
        cold_load(conn, Path(data_dir), force_rebuild=force_rebuild)
