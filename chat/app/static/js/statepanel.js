// The state panel beside the chat (§11.1): relationships, entities, memories and
// the world, refreshed whenever the server says state changed.

import { $, h, mount } from "./dom.js";
import { renderEntities } from "./entities.js";
import { renderMemories } from "./memories.js";
import { renderRelations } from "./relations.js";
import { renderReview } from "./review.js";
import { on, store } from "./store.js";
import { tabSet } from "./tabs.js";
import { loadPins } from "./widgets.js";
import { renderWorld } from "./world.js";

let tabs = null;

const withPins = (render) => async (panel) => {
  await loadPins();
  return render(panel);
};

/** True while the person is typing in the panel: a refresh then would lose the edit. */
function editing() {
  const active = document.activeElement;
  return Boolean(active && active.closest("#state-panel") && active.matches("input, textarea, select")
    && !active.closest("[data-refresh-ok]"));
}

/** An archived world's state is read-only (the server refuses each edit with 409): say
 * so above the tabs, whose values then show without edit controls (widgets.js, style.css). */
function archivedNote(box) {
  const world = store.archivedWorld;
  mount(box, world ? h("p", { class: "archived-note", role: "note" },
    `The world ${world.name} is archived, so what is in it is read-only: it can be read, not changed. `
    + "Restore the world (Worlds…) to edit it.") : null);
}

export function initStatePanel() {
  tabs = tabSet("State", [
    { id: "graph", label: "Relationships", render: withPins(renderRelations) },
    { id: "memories", label: "Memories", render: withPins(renderMemories) },
    { id: "entities", label: "Entities", render: withPins(renderEntities) },
    { id: "world", label: "World", render: withPins(renderWorld) },
  ]);
  const reviewBox = h("div", { id: "review-box" });
  const noteBox = h("div", { id: "state-archived" });
  mount($("#state-panel"), h("h2", { class: "sr-only", text: "State" }), noteBox, reviewBox, tabs.el);
  let stale = false;
  const refresh = async () => {
    if (editing()) {
      stale = true; // refreshed when the person leaves the field
      return;
    }
    stale = false;
    const pane = $("#state-panel");
    const active = document.activeElement;
    const key = active && pane.contains(active) ? active.dataset.focusKey || active.getAttribute("aria-label") : null;
    const scroll = pane.scrollTop;
    archivedNote(noteBox);
    await Promise.all([tabs.refresh(), renderReview(reviewBox)]);
    pane.scrollTop = scroll;
    if (key && (!document.activeElement || document.activeElement === document.body)) {
      const again = [...pane.querySelectorAll("[data-focus-key], [aria-label]")]
        .find((el) => (el.dataset.focusKey || el.getAttribute("aria-label")) === key);
      if (again) again.focus({ preventScroll: true });
    }
  };
  $("#state-panel").addEventListener("focusout", () => {
    setTimeout(() => {
      if (stale && !editing()) refresh();
    }, 0);
  });
  on("state-changed", refresh);
  on("chat-opened", refresh);
  on("bots", refresh);
}
