"""The state panel and the other views at a glance (issue 14 items 4 and 7, §11.1): graph
labels off the nodes and inside the picture, clear affinity colours, a chart in times;
pins as labelled chips, scene pins, history columns, the event log in names, and
layouts that fit at 375 px. Real app, real Chromium (browser_support.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

WIDTHS = [1280, 375]


def at_width(page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800 if width > 500 else 740})


SALTMERE_EDGES = [
    ("tobias", "you", "innkeeper friend", 17),
    ("mara", "you", "wary respect", -12),
    ("isolde", "mara", "old rival from the school days", -40),
    ("mara", "tobias", "drinking companion", 12),
    ("tobias", "mara", "worries about her", 30),
    ("isolde", "you", "curious", 10),
    ("you", "tobias", "regular", 15),
    ("tobias", "isolde", "owes her money", -18),
]


def saltmere_graph(server: LiveServer) -> dict[str, Any]:
    for name, bot_id in (("Mara", "mara"), ("Tobias", "tobias"), ("Isolde", "isolde")):
        server.author(name=name, bot_id=bot_id)
    chat = server.chat_with("mara", "tobias", title="Fog over Saltmere")
    for src, dst, label, affinity in SALTMERE_EDGES:
        server.api("PATCH", f"/api/edges/{src}/{dst}", json={"label": label, "affinity": affinity})
    return chat


LABEL_GEOMETRY = """() => {
  const svg = document.querySelector('svg.graph');
  const frame = svg.getBoundingClientRect();
  const rect = (el) => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  return {
    frame: rect(svg),
    labels: [...svg.querySelectorAll('.edge-label')].map((g) => ({
      text: g.querySelector('text').textContent, box: rect(g.querySelector('rect')),
      ink: rect(g.querySelector('text')),
    })),
    nodes: [...svg.querySelectorAll('.node circle, .node .node-name')].map(rect),
  };
}"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return w * h if w > 0 and h > 0 else 0.0


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_graph_labels_stay_off_nodes_and_inside_the_picture(
    page: Any, live_server: LiveServer, width: int, scheme: str
) -> None:
    chat = saltmere_graph(live_server)
    page.emulate_media(color_scheme=scheme)
    at_width(page, width)
    open_app(page, f"#/chat/{chat['id']}")
    page.locator("svg.graph .edge").nth(len(SALTMERE_EDGES) - 1).wait_for()
    geometry = page.evaluate(LABEL_GEOMETRY)
    frame = geometry["frame"]
    assert len(geometry["labels"]) == len(SALTMERE_EDGES)
    for label in geometry["labels"]:
        box, ink = label["box"], label["ink"]
        assert frame["x"] <= box["x"] and box["x"] + box["w"] <= frame["x"] + frame["w"] + 0.5, label
        assert frame["y"] <= box["y"] and box["y"] + box["h"] <= frame["y"] + frame["h"] + 0.5, label
        assert box["x"] - 0.5 <= ink["x"] and ink["x"] + ink["w"] <= box["x"] + box["w"] + 0.5, (
            f"the text of {label['text']!r} spills out of its box"
        )
        for node in geometry["nodes"]:
            assert _overlap(box, node) == 0, f"{label['text']!r} covers a node"
    boxes = [label["box"] for label in geometry["labels"]]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert _overlap(a, b) == 0, "two labels cover each other"

    edge = page.locator("svg.graph .edge[data-src='tobias'][data-dst='you']")
    edge.focus()
    hit_stroke = edge.locator(".edge-hit").evaluate("el => getComputedStyle(el).stroke")
    assert hit_stroke in ("none", "transparent", "rgba(0, 0, 0, 0)"), "no big band around a focused arrow"
    assert edge.evaluate("el => getComputedStyle(el).outlineStyle") == "none"
    focused = page.locator("svg.graph .edge-label.focus rect")
    assert focused.evaluate("el => getComputedStyle(el).strokeWidth") == "2px"  # the focus ring


def test_small_affinities_are_clearly_red_or_green(page: Any, live_server: LiveServer) -> None:
    chat = saltmere_graph(live_server)
    open_app(page, f"#/chat/{chat['id']}")
    page.locator("svg.graph .edge").nth(len(SALTMERE_EDGES) - 1).wait_for()
    for src, dst, _, affinity in SALTMERE_EDGES:
        if abs(affinity) > 20:
            continue
        colour = page.locator(f"svg.graph .edge[data-src='{src}'][data-dst='{dst}'] .edge-line").get_attribute("stroke")
        r, g, b = (int(v) for v in colour.removeprefix("rgb(").removesuffix(")").split(","))
        lead = g - r if affinity > 0 else r - g
        assert lead >= 60, f"affinity {affinity} drawn {colour}: too close to grey"


def test_affinity_chart_x_axis_shows_times_not_event_ids(page: Any, live_server: LiveServer) -> None:
    chat = saltmere_graph(live_server)
    live_server.api("PATCH", "/api/edges/tobias/you", json={"affinity": 25})
    open_app(page, f"#/chat/{chat['id']}")
    page.locator("svg.graph .edge[data-src='tobias'][data-dst='you']").click()
    page.locator("svg.chart .pt").nth(1).wait_for()
    ticks = page.locator("svg.chart .x-tick").all_text_contents()
    assert ticks and not any(t.startswith("#") for t in ticks), ticks
    assert all(any(ch.isdigit() for ch in t) for t in ticks), ticks


@pytest.mark.parametrize("width", WIDTHS)
def test_event_log_reads_in_names_and_fits_the_screen(page: Any, live_server: LiveServer, width: int) -> None:
    live_server.author()
    chat = live_server.chat_with("ana", title="At the bakery")
    live_server.say(chat["id"], "welcome to the bakery")
    at_width(page, width)
    open_app(page, "#/events")
    page.get_by_label("Filter by kind").select_option("edge_changed")
    row = page.locator("#events-body tr").first
    row.locator(".ev-line", has_text="Ana → You: friend, affinity +8, trust +4").wait_for()
    assert row.locator("td:nth-child(5)").inner_text() == "At the bakery", "the chat by its title"
    assert row.locator("pre.json").is_hidden(), "JSON only on demand"
    row.get_by_text("JSON").click()
    assert '"affinity_delta": 8' in row.locator("pre.json").inner_text()
    page.get_by_label("Filter by kind").select_option("message_posted")
    page.locator("#events-body .ev-line", has_text="You: “welcome to the bakery”").wait_for()
    overflow = page.evaluate("(() => { const v = document.querySelector('#view-events'); return v.scrollWidth - v.clientWidth; })()")
    assert overflow <= 1, f"the event log is {overflow}px wider than its view"


@pytest.mark.parametrize("width", WIDTHS)
def test_bot_list_shows_every_bot_without_an_inner_scroll(page: Any, live_server: LiveServer, width: int) -> None:
    for i in range(7):
        live_server.author(name=f"Baker {i}", bot_id=f"baker-{i}")
    at_width(page, width)
    open_app(page, "#/bots")
    page.locator(".bot-list li").nth(6).wait_for()
    pane = page.evaluate("(() => { const p = document.querySelector('.bots-pane'); return [p.scrollHeight, p.clientHeight]; })()")
    assert pane[0] <= pane[1] + 1, f"the bot list scrolls inside a {pane[1]}px box"


@pytest.mark.parametrize("width", WIDTHS)
def test_pins_are_labelled_chips_scene_pins_show_and_history_columns_fit(
    page: Any, live_server: LiveServer, width: int
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "welcome to the bakery")
    live_server.api("PUT", f"/api/chats/{chat['id']}/scene", json={"location": "the back room"})
    live_server.api("PUT", "/api/world/weather", json={"value": "sleet"})
    at_width(page, width)
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="World").click()
    scene_pin = page.locator(".scene").get_by_role("button", name="location is pinned; unpin it")
    scene_pin.wait_for()
    fact_pin = page.locator(".facts tr[data-key='weather']").get_by_role("button", name="value is pinned; unpin it")
    for pin in (scene_pin, fact_pin):
        assert pin.inner_text().strip() == "pinned"
        box = pin.bounding_box()
        assert box["height"] >= 16 and box["width"] >= 40, f"a pin of {box} is too small to see or hit"
    value = page.locator(".facts tr[data-key='weather'] .editable-value").bounding_box()
    pin = fact_pin.bounding_box()
    assert abs((pin["y"] + pin["height"] / 2) - (value["y"] + value["height"] / 2)) < 8, "the pin sits beside its value"

    page.get_by_role("button", name="History of world fact weather").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("table.history td").first.wait_for()
    for header in ("When", "Who", "Field"):
        cell = dialog.locator("th", has_text=header)
        assert cell.evaluate("el => el.getClientRects().length") == 1 and cell.inner_text() == header
        assert cell.evaluate("el => el.scrollHeight <= parseFloat(getComputedStyle(el).lineHeight) * 1.5 + 8"), (
            f"the {header} column wraps"
        )
