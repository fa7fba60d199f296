"""The package layering of architecture review §4.3, read off the code's own imports.

Every ``import`` and ``from … import`` in ``chat/`` (tests left out) is walked with
``ast``, including the lazy ones inside functions and those under TYPE_CHECKING, so
no arrow can point back up without this test naming the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> packages (or top-level modules) it must never import
FORBIDDEN: dict[str, set[str]] = {
    "eventlog": {"snapshots", "state", "world", "memory", "turns", "runtime", "app", "cli", "cards"},
    "state": {"world", "memory", "turns", "runtime", "snapshots", "app", "cli"},
    "snapshots": {"state", "world", "memory", "turns", "runtime", "app", "cli", "cards", "llm"},
    "llm": {"state", "world", "memory", "turns", "runtime", "snapshots", "app", "cli", "cards"},
    "world": {"memory", "turns", "runtime", "app", "cli", "snapshots"},
    "memory": {"turns", "runtime", "app", "cli", "snapshots"},
    "turns": {"runtime", "app", "cli", "snapshots"},
    "runtime": {"app", "cli"},
    "db": {"eventlog", "state", "world", "memory", "turns", "runtime", "snapshots", "app", "cli"},
}
# cards: bytes in, payload out
CARDS_ALLOWED = {"chat.errors", "chat.eventlog.schemas", "chat.cards"}
# export.py sits with the snapshots: db, eventlog, errors, config only
EXPORT_ALLOWED = {"chat.db", "chat.eventlog", "chat.errors", "chat.config", "chat.snapshots"}


def _modules() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if "tests" not in path.relative_to(ROOT).parts
    ]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # ``from chat import bus`` imports the module chat.bus
            if node.module == "chat":
                found += [(node.lineno, f"chat.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "chat" or name.startswith("chat.")]


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations() -> list[str]:
    problems: list[str] = []
    for path in _modules():
        rel = path.relative_to(ROOT.parent)
        package = _package(path)
        for line, module in _imports(path):
            where = f"{rel}:{line} imports {module}"
            if module.startswith("chat.services") and rel.as_posix() != "chat/services/snapshot.py":
                problems.append(f"{where} (only the acceptance test uses chat.services)")
            if _top(module) in FORBIDDEN.get(package, set()):
                problems.append(f"{where} ({package}/ must not import {_top(module)}/)")
            if package == "cards" and not any(
                module == allowed or module.startswith(allowed + ".") for allowed in CARDS_ALLOWED
            ):
                problems.append(f"{where} (cards/ imports only errors and eventlog.schemas)")
            if package == "export" and not any(
                module == allowed or module.startswith(allowed + ".") for allowed in EXPORT_ALLOWED
            ):
                problems.append(f"{where} (export.py imports only db, eventlog, errors, config)")
    return problems


def test_no_module_imports_a_package_above_it() -> None:
    assert _violations() == []


def test_services_holds_only_the_acceptance_test_reexport() -> None:
    left = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "services").rglob("*.py")
        if p.name != "__init__.py"
    )
    assert left == ["services/snapshot.py"]


def test_no_module_is_over_400_lines() -> None:
    long = {
        path.relative_to(ROOT).as_posix(): n
        for path in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from chat.runtime.runtime import Runtime\n", "turns/ must not import runtime/"),
        ("import chat.snapshots.api\n", "eventlog/ must not import snapshots/"),
    ],
)
def test_the_walk_sees_a_forbidden_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    """The rule check itself can fail: a planted bad import is reported."""
    fake = tmp_path / "chat"
    package = "turns" if "runtime" in source else "eventlog"
    (fake / package).mkdir(parents=True)
    (fake / package / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake)
    assert any(expected in problem for problem in _violations())
