"""The benchmarks ``kith bench`` can run (§13), found lazily in the repository's ``benchmarks/``.

Each benchmark is a module ``benchmarks/bench_<name>.py`` with ``run(progress=True)``
returning a dict and, optionally, ``format_report(result) -> str``. They are
imported only when asked for, so a missing one (or one whose heavy dependency
is not installed) is skipped with a message instead of breaking the command.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REGISTRY: dict[str, str] = {
    "core": "bench_core",
    "backend": "bench_backend",
    "turns": "bench_turns",
    "memory": "bench_memory",
    "ui": "bench_ui",
    "rewind": "bench_rewind",
    "restore": "bench_restore",
    "prompt": "bench_prompt",
    "ttft": "bench_ttft",
    "growth": "bench_growth",
    "chatimport": "bench_chatimport",
    "quality": "bench_quality",
}
ORDER = ("core", "backend", "turns", "memory")
"""What ``all`` runs; ``quality`` and ``ttft`` (minutes of the bundled model's turns) only
when named."""


@dataclass(frozen=True)
class BenchOutcome:
    name: str
    result: dict[str, Any] | None
    report: str
    skipped: str | None = None


def repository_root() -> Path:
    """The checkout this package runs from (benchmarks are not installed with the package)."""
    return Path(__file__).resolve().parents[1]


def load_benchmark(name: str) -> ModuleType | str:
    """The benchmark module, or a message saying why it cannot be loaded."""
    module_name = REGISTRY.get(name)
    if module_name is None:
        return f"unknown benchmark {name!r}; known: {', '.join(REGISTRY)}"
    root = repository_root()
    if not (root / "benchmarks" / f"{module_name}.py").is_file():
        return f"benchmarks/{module_name}.py not found; skipping {name}"
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return importlib.import_module(f"benchmarks.{module_name}")
    except ImportError as exc:
        return f"benchmarks/{module_name}.py cannot be imported ({exc}); skipping {name}"


def run_benchmark(name: str, *, progress: bool = True, **options: Any) -> BenchOutcome:
    """Run one benchmark; a missing one comes back skipped, with the reason."""
    module = load_benchmark(name)
    if isinstance(module, str):
        return BenchOutcome(name, None, module, skipped=module)
    run: Callable[..., dict[str, Any]] = module.run
    result = run(progress=progress, **options)
    formatter = getattr(module, "format_report", None)
    report = formatter(result) if callable(formatter) else json.dumps(result, indent=2, default=str)
    return BenchOutcome(name, result, report)


def selected(which: str) -> list[str]:
    return list(ORDER) if which == "all" else [which]
