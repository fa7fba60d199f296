// The "Memories" tab: what each bot remembers, with importance; filter by owner,
// full-text search, edit text and importance in place, delete (§5.3, §6.1).

import { del, get, patch, query, seg } from "./api.js";
import { debounce, h, mount, notify, when } from "./dom.js";
import { icon } from "./icons.js";
import { botLabel, emit, nameOf, store } from "./store.js";
import { addMemoryForm } from "./addforms.js";
import { confirmDialog, editable, historyButton, pinBadge } from "./widgets.js";
import { chooseNewer, shortText } from "./supersede.js";

const filter = { owner: "", q: "" };
/** The memory a "superseded by" link pointed at: it keeps its outline when the list is
 * drawn again (an event arriving just after the click redraws it), until another such
 * link is followed. */
const flashed = { id: "" };

function importanceBar(value) {
  const bar = h("span", { class: "imp-bar", "aria-hidden": "true" }, h("span", { class: "imp-fill" }));
  bar.firstChild.style.width = `${Math.max(0, Math.min(10, value)) * 10}%`;
  return bar;
}

/** What a saved change of a memory's field says, in words (never its key, "superseded_by"). */
const SAVED = {
  text: () => "Saved the memory's text.",
  importance: (value) => `Saved the memory's importance (${value}).`,
  superseded_by: (value) => (value ? "Marked the memory superseded: it is no longer recalled." : "The memory is no longer marked superseded."),
};

/** The memories drawn now, by id: a superseded one names its newer one by its text. */
const known = new Map();

function memoryItem(memory) {
  const save = (field) => async (value) => {
    const updated = await patch(`/api/memories/${seg(memory.id)}`, { [field]: value });
    memory[field] = updated && updated[field] !== undefined ? updated[field] : value;
    notify(SAVED[field] ? SAVED[field](memory[field]) : `Saved the memory's ${field}.`);
    return memory[field];
  };
  const remove = async () => {
    if (!(await confirmDialog("Delete memory", `Delete this memory of ${nameOf(memory.owner)}? “${memory.text}”`, "Delete"))) return;
    try {
      await del(`/api/memories/${seg(memory.id)}`);
      notify("Memory deleted.");
      emit("state-changed");
    } catch (exc) {
      notify(`Cannot delete: ${exc.message}`, "error");
    }
  };
  const showNewer = async (ev) => {
    ev.preventDefault();
    const item = document.querySelector(`li.memory[data-id="${CSS.escape(memory.superseded_by)}"]`);
    if (item) {
      for (const other of document.querySelectorAll("li.memory.flash")) other.classList.remove("flash");
      flashed.id = memory.superseded_by;
      item.scrollIntoView({ block: "center" });
      item.classList.add("flash");
      return;
    }
    try {
      const newer = await get(`/api/memories/${seg(memory.superseded_by)}`);
      notify(`Superseded by: “${newer.text}”`);
    } catch (exc) {
      notify(`Cannot load the newer memory: ${exc.message}`, "error");
    }
  };
  const pickNewer = async () => {
    const id = await chooseNewer(memory);
    if (!id) return;
    try {
      await save("superseded_by")(id);
      emit("state-changed");
    } catch (exc) {
      notify(`Cannot mark it superseded: ${exc.message}`, "error");
    }
  };
  const newer = memory.superseded_by ? known.get(memory.superseded_by) : null;
  const superseded = memory.superseded_by
    ? h("div", { class: "field-row superseded-by" },
        h("span", { class: "field-name", text: "superseded by" }),
        h("a", { href: "#", class: "newer-link", onclick: showNewer, title: memory.superseded_by,
          text: newer ? `“${shortText(newer.text)}”` : "the newer memory" }),
        h("button", { type: "button", class: "link", onclick: async () => { await save("superseded_by")(null); emit("state-changed"); }, text: "unmark" }))
    : h("div", { class: "field-row superseded-by" },
        h("button", { type: "button", class: "link", onclick: pickNewer,
          title: "Choose the newer memory of the same bot that replaces this one", text: "Mark superseded by…" }));
  const classes = ["card", "memory", `mem-${memory.kind}`];
  if (memory.superseded_by) classes.push("superseded");
  if (memory.id === flashed.id) classes.push("flash");
  return h("li", { class: classes, dataset: { id: memory.id } },
    h("div", { class: "item-head" },
      h("span", { class: "owner", text: nameOf(memory.owner) }),
      h("span", { class: ["kind", `kind-${memory.kind}`], text: memory.kind }),
      h("time", { class: "muted", datetime: memory.created_at, text: when(memory.created_at) }),
      historyButton("memory", memory.id, `memory of ${nameOf(memory.owner)}`),
      h("button", { type: "button", class: "icon danger-text", "aria-label": "Delete memory", title: "Delete", onclick: remove }, icon("trash"))),
    h("div", { class: "memory-text" },
      editable({ label: "memory text", value: memory.text, type: "textarea", onSave: save("text") }),
      pinBadge("memory", memory.id, "text")),
    h("div", { class: "field-row importance" },
      h("span", { class: "field-name", text: "importance" }),
      editable({ label: "importance (1 to 10)", value: memory.importance, type: "number", min: 1, max: 10, step: 1, onSave: save("importance") }),
      importanceBar(memory.importance),
      pinBadge("memory", memory.id, "importance")),
    superseded);
}

export async function renderMemories(panel) {
  const refresh = () => loadList();
  const owners = store.bots.map((b) => h("option", { value: b.id, selected: b.id === filter.owner }, botLabel(b)));
  const ownerSelect = h("select", { "aria-label": "Whose memories", onchange: (ev) => {
    filter.owner = ev.target.value;
    refresh();
  } }, h("option", { value: "" }, "All bots"), owners);
  const search = h("input", {
    type: "search", placeholder: "Search memories", "aria-label": "Search memories", value: filter.q,
    oninput: debounce((ev) => {
      filter.q = ev.target.value.trim();
      refresh();
    }, 250),
  });
  const list = h("ul", { class: "cards", "aria-label": "Memories", "aria-live": "polite" });
  const count = h("p", { class: "muted count", role: "status" });
  mount(panel, addMemoryForm(filter.owner), h("div", { class: "filters" }, ownerSelect, search), count, list);

  async function loadList() {
    let memories;
    try {
      memories = (await get(`/api/memories${query({ owner: filter.owner, q: filter.q })}`)) || [];
    } catch (exc) {
      mount(list, h("li", { class: "error", text: `Cannot load memories: ${exc.message}` }));
      return;
    }
    known.clear();
    for (const m of memories) known.set(m.id, m);
    count.textContent = `${memories.length} memor${memories.length === 1 ? "y" : "ies"}`;
    mount(list, memories.length
      ? memories.map((m) => memoryItem(m))
      : h("li", { class: "muted empty", text: filter.q ? "No memory matches." : "No memories yet." }));
  }
  await loadList();
}
