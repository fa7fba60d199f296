"""Page-side probes for long-chat tests and `kith bench ui`: which transcript requests the
page makes, and how long a reply takes from its `message` event to its <li> in the DOM.

The app announces each streamed message it has drawn (a ``kith:drawn`` event on the
transcript, with the time from the stream event to the DOM change and to the next frame)
and each older page it put in (``kith:older``); the probe collects both.
"""

from __future__ import annotations

from typing import Any

PROBE = """
() => {
  const probe = { drawn: [], pages: 0 };
  window.__kithProbe = probe;
  const list = document.querySelector("#transcript");
  list.addEventListener("kith:drawn", (ev) => probe.drawn.push(ev.detail));
  list.addEventListener("kith:older", () => { probe.pages += 1; });
}
"""

SCROLL_TO_FIRST = """
async (firstText) => {
  const list = document.querySelector("#transcript");
  const found = () => list.querySelector(".msg .msg-text")?.textContent === firstText;
  let rounds = 0;
  const started = performance.now();
  while (!found()) {
    if (rounds++ > 2000) throw new Error("the first message never came");
    const more = new Promise((resolve) => {
      list.addEventListener("kith:older", resolve, { once: true });
      setTimeout(resolve, 5000);
    });
    list.scrollTop = 0;
    list.dispatchEvent(new Event("scroll"));
    await more;
  }
  return { rounds, shown: list.querySelectorAll(".msg").length, ms: performance.now() - started };
}
"""


def watch_transcript_requests(page: Any) -> list[str]:
    """Every GET of a chat's transcript the page makes from now on (URLs, in order)."""
    seen: list[str] = []

    def on_request(request: Any) -> None:
        if request.method == "GET" and "/messages" in request.url and "/api/chats/" in request.url:
            seen.append(request.url)

    page.on("request", on_request)
    return seen


def install_probe(page: Any) -> None:
    page.evaluate(PROBE)


def drawn_times(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("() => window.__kithProbe.drawn")
