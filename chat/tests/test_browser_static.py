"""Static guards on the web UI files (§11.1, §12.2): no HTML injection sinks, nothing the
Content Security Policy would block, nothing loaded from the network, no broken imports.

These read the files only (no browser), so they run everywhere and fast; the browser
tests in test_browser.py check the same rules in a real Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "app" / "static"
JS_FILES = sorted((STATIC / "js").glob("*.js"))

SINKS = {
    "innerHTML": re.compile(r"\.innerHTML\b"),
    "outerHTML": re.compile(r"\.outerHTML\b"),
    "insertAdjacentHTML": re.compile(r"insertAdjacentHTML"),
    "document.write": re.compile(r"document\.write"),
    "eval": re.compile(r"\beval\s*\("),
    "new Function": re.compile(r"new\s+Function\s*\("),
    "string timer": re.compile(r"set(?:Timeout|Interval)\(\s*[\"'`]"),
    "style attribute": re.compile(r"setAttribute\(\s*[\"']style[\"']"),
    "srcdoc": re.compile(r"\.srcdoc\b"),
    "DOMParser": re.compile(r"DOMParser"),
    "createContextualFragment": re.compile(r"createContextualFragment"),
}
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import|from\s+["'](?:https?:)?//""")


def test_the_ui_files_exist() -> None:
    assert (STATIC / "index.html").is_file()
    assert (STATIC / "style.css").is_file()
    assert len(JS_FILES) >= 5


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: p.name)
def test_scripts_have_no_html_sinks(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    found = [name for name, pattern in SINKS.items() if pattern.search(code)]
    assert found == [], f"{path.name} uses {found}; build DOM with h()/textContent instead"


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: p.name)
def test_module_imports_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"""from\s+["'](\.[^"']+)["']""", text):
        assert (path.parent / target).is_file(), f"{path.name} imports missing {target}"
    for names, target in re.findall(r"""import\s*\{([^}]*)\}\s*from\s+["'](\.[^"']+)["']""", text):
        exported = (path.parent / target).read_text(encoding="utf-8")
        for name in filter(None, (n.strip() for n in names.split(","))):
            word = rf"(?<![\w$]){re.escape(name)}(?![\w$])"
            assert re.search(
                rf"export\s+(?:async\s+)?(?:function|const|let|class)\s+{word}|export\s*\{{[^}}]*{word}",
                exported,
            ), f"{path.name} imports {name} which {target} does not export"


def test_index_html_has_nothing_the_csp_blocks() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.search(r"\sstyle\s*=", html) is None, "inline style attribute"
    assert re.search(r"<style\b", html) is None, "inline <style> element"
    assert re.search(r"\son[a-z]+\s*=", html) is None, "inline event handler"
    assert re.search(r"javascript:", html, re.IGNORECASE) is None
    for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.DOTALL):
        assert tag.strip() == "", "inline script"
    assert re.findall(r"<script\b([^>]*)>", html) == [' type="module" src="js/app.js"']


@pytest.mark.parametrize(
    "path", [STATIC / "index.html", STATIC / "style.css", *JS_FILES], ids=lambda p: p.name
)
def test_nothing_is_loaded_from_the_network(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert REMOTE.search(text) is None, f"{path.name} loads something from another host"
