// Accessible tabs (WAI-ARIA pattern): arrow keys move between tabs, the panel
// of the selected tab is the only one shown.

import { h } from "./dom.js";

let counter = 0;

/**
 * `tabs`: [{id, label, render(panel)}]. Returns {el, select(id), current()}.
 * `render` is called each time a tab is shown (and by refresh()).
 */
export function tabSet(label, tabs, { onChange } = {}) {
  counter += 1;
  const prefix = `tabs${counter}`;
  let current = tabs[0].id;
  const buttons = new Map();
  const panels = new Map();
  const list = h("div", { class: "tablist", role: "tablist", "aria-label": label });
  const body = h("div", { class: "tabpanels" });
  for (const tab of tabs) {
    const btn = h("button", {
      type: "button", role: "tab", id: `${prefix}-${tab.id}-tab`, "aria-controls": `${prefix}-${tab.id}`,
      class: "tab", dataset: { tab: tab.id },
    }, tab.label);
    const panel = h("div", {
      role: "tabpanel", id: `${prefix}-${tab.id}`, "aria-labelledby": btn.id, class: "tabpanel", tabindex: "-1",
    });
    btn.addEventListener("click", () => select(tab.id, true));
    btn.addEventListener("keydown", (ev) => {
      const index = tabs.findIndex((t) => t.id === tab.id);
      let next = null;
      if (ev.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
      if (ev.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
      if (ev.key === "Home") next = tabs[0];
      if (ev.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        ev.preventDefault();
        select(next.id, true);
      }
    });
    buttons.set(tab.id, btn);
    panels.set(tab.id, panel);
    list.append(btn);
    body.append(panel);
  }
  const show = () => {
    for (const tab of tabs) {
      const on = tab.id === current;
      buttons.get(tab.id).setAttribute("aria-selected", String(on));
      buttons.get(tab.id).tabIndex = on ? 0 : -1;
      panels.get(tab.id).hidden = !on;
    }
  };
  const refresh = () => {
    const tab = tabs.find((t) => t.id === current);
    return tab.render(panels.get(current));
  };
  const select = (id, focus = false) => {
    current = id;
    show();
    if (focus) buttons.get(id).focus();
    if (onChange) onChange(id);
    return refresh();
  };
  show();
  return { el: h("div", { class: "tabs-wrap" }, list, body), select, refresh, current: () => current };
}
