"""The root ``kith`` group and the options every command accepts (``--data-dir``, ``--backend``).

Options may be given before or after the command name (``kith --data-dir d serve`` and
``kith serve --data-dir d`` mean the same); command modules decorate with ``common_options``
and read the merged values with ``cli_settings(ctx)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from chat.errors import KithError

BACKENDS = ("embedded", "openai", "scripted")


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.ensure_object(dict)[param.name] = value
    return value


def common_options(fn: Callable) -> Callable:
    """Add --data-dir, --backend, --model, --base-url and --script to a command."""
    options = [
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     expose_value=False, callback=_remember,
                     help="Data directory (default ./data or KITH_DATA_DIR)."),
        click.option("--backend", type=click.Choice(BACKENDS), default=None, expose_value=False,
                     callback=_remember, help="Model backend (default embedded or KITH_BACKEND)."),
        click.option("--model", default=None, expose_value=False, callback=_remember,
                     help="GGUF path (embedded) or model name (openai)."),
        click.option("--base-url", default=None, expose_value=False, callback=_remember,
                     help="Base URL of an OpenAI-compatible server."),
        click.option("--script", "script_path", default=None, expose_value=False,
                     callback=_remember, help="Script file for the scripted backend."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def cli_overrides(ctx: click.Context) -> dict[str, Any]:
    """The settings given on the command line, root group and command merged."""
    merged: dict[str, Any] = {}
    chain = []
    current: click.Context | None = ctx
    while current is not None:
        chain.append(current)
        current = current.parent
    for level in reversed(chain):
        if isinstance(level.obj, dict):
            merged.update(level.obj)
    return merged


def cli_settings(ctx: click.Context):
    """Settings for this invocation: flags > KITH_* environment > config file > defaults."""
    from chat.config import load_settings

    overrides = cli_overrides(ctx)
    return load_settings(data_dir=overrides.pop("data_dir", None), overrides=overrides)


def require_data_dir(data_dir: Path) -> None:
    """Refuse a data directory that does not exist: a mistyped ``--data-dir`` is to be told,
    not turned into a new, empty directory ("no bots yet"). ``kith init``, ``kith serve``
    and the import commands create one; every other command needs one."""
    if not Path(data_dir).is_dir():
        raise click.ClickException(
            f"there is no data directory {data_dir}; check --data-dir or KITH_DATA_DIR"
            " (`kith init` or `kith serve` creates one there)"
        )


def reports_errors(fn: Callable) -> Callable:
    """Turn a KithError into a one-line message and exit status 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KithError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(package_name="kith")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Kith: long conversations with characters that remember, on a world you can see and fix."""
    ctx.ensure_object(dict)
