"""Backend registry: name -> factory(settings). Built-ins register exactly like a plugin would.

A third-party package can call `register_backend` at import time, or expose a
factory under the `kith.backends` entry-point group.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from chat.errors import ConfigError

if TYPE_CHECKING:
    from chat.config import Settings
    from chat.llm.base import Backend

log = logging.getLogger(__name__)

BackendFactory = Callable[["Settings"], "Backend"]

_factories: dict[str, BackendFactory] = {}
_lock = threading.Lock()
_plugins_loaded = False


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make `name` selectable with `--backend name` / KITH_BACKEND."""
    with _lock:
        if name in _factories and not replace:
            raise ValueError(f"a backend named {name!r} is already registered")
        _factories[name] = factory


def available_backends() -> list[str]:
    """Names of every registered backend."""
    _load_plugins()
    return sorted(_factories)


def create_backend(settings: Settings) -> Backend:
    """Build the backend `settings.backend` names."""
    _load_plugins()
    factory = _factories.get(settings.backend)
    if factory is None:
        raise ConfigError(
            f"unknown backend {settings.backend!r}; choose one of {', '.join(sorted(_factories))}",
            field="backend",
        )
    return factory(settings)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group="kith.backends"):
        try:
            register_backend(ep.name, ep.load())
        except Exception:  # a broken plugin must not stop Kith
            log.exception("could not load backend plugin %s", ep.name)


def _embedded(settings: Settings) -> Backend:
    from chat.llm.embedded import EmbeddedBackend

    return EmbeddedBackend.from_settings(settings)


def _openai(settings: Settings) -> Backend:
    from chat.llm.openai_compat import OpenAIBackend

    return OpenAIBackend.from_settings(settings)


def _scripted(settings: Settings) -> Backend:
    from chat.llm.scripted import ScriptedBackend

    return ScriptedBackend.from_settings(settings)


register_backend("embedded", _embedded)
register_backend("openai", _openai)
register_backend("scripted", _scripted)
