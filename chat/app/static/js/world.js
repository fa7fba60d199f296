// The "World" tab: the scene of the open chat and the shared world facts,
// which can be edited, added and deleted (§5.4, §6.1).

import { del, get, put, seg } from "./api.js";
import { h, mount, notify } from "./dom.js";
import { icon } from "./icons.js";
import { emit, nameOf, store } from "./store.js";
import { confirmDialog, editable, historyButton, pinBadge } from "./widgets.js";

function factsFrom(data) {
  if (Array.isArray(data)) return data.map((f) => [f.key, f.value]);
  const facts = data && typeof data.facts === "object" ? data.facts : data;
  return Object.entries(facts || {});
}

async function sceneBlock() {
  if (!store.chatId) return h("p", { class: "muted", text: "Open a chat to see its scene." });
  let scene = store.chat && store.chat.scene;
  try {
    const chat = await get(`/api/chats/${seg(store.chatId)}`);
    store.chat = chat;
    scene = chat.scene || scene;
  } catch {
    /* keep what we had */
  }
  if (!scene) return h("p", { class: "muted", text: "No scene yet." });
  return h("dl", { class: "scene" },
    h("dt", { text: "Location" }), h("dd", { text: scene.location || "(not set)" }),
    h("dt", { text: "Present" }), h("dd", { text: (scene.present || []).map(nameOf).join(", ") || "(nobody)" }));
}

export async function renderWorld(panel) {
  let facts;
  try {
    facts = factsFrom(await get("/api/world"));
  } catch (exc) {
    mount(panel, h("p", { class: "error", text: `Cannot load the world: ${exc.message}` }));
    return;
  }
  const rows = facts.map(([key, value]) => h("tr", { dataset: { key } },
    h("th", { scope: "row", text: key }),
    h("td", null, editable({
      label: `world fact ${key}`, value, type: "textarea",
      onSave: async (v) => {
        await put(`/api/world/${seg(key)}`, { value: v });
        notify(`Saved ${key}.`);
        return v;
      },
    }), pinBadge("world", key, "value")),
    h("td", { class: "actions" },
      historyButton("world", key, `world fact ${key}`),
      h("button", {
        type: "button", class: "icon danger-text", "aria-label": `Delete world fact ${key}`, title: "Delete",
        onclick: async () => {
          if (!(await confirmDialog("Delete world fact", `Delete “${key}”?`, "Delete"))) return;
          try {
            await del(`/api/world/${seg(key)}`);
            emit("state-changed");
          } catch (exc) {
            notify(`Cannot delete: ${exc.message}`, "error");
          }
        },
      }, icon("trash")))));
  const keyInput = h("input", { name: "key", required: true, maxlength: 100, placeholder: "key, e.g. weather", "aria-label": "New fact key" });
  const valueInput = h("input", { name: "value", maxlength: 4000, placeholder: "value", "aria-label": "New fact value" });
  const add = h("form", { class: "add-fact", "aria-label": "Add a world fact", dataset: { refreshOk: "" } },
    keyInput, valueInput, h("button", { type: "submit", class: "small primary" }, "Add"));
  add.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    try {
      await put(`/api/world/${seg(key)}`, { value: valueInput.value });
      notify(`Added ${key}.`);
      keyInput.value = "";
      valueInput.value = "";
      keyInput.focus(); // kept across the refresh, ready for the next fact
      emit("state-changed");
    } catch (exc) {
      notify(`Cannot add: ${exc.message}`, "error");
    }
  });
  mount(panel,
    h("h3", { text: "Scene" }), await sceneBlock(),
    h("h3", { text: "World facts" }),
    facts.length
      ? h("table", { class: "facts" }, h("tbody", null, rows))
      : h("p", { class: "muted", text: "No world facts yet." }),
    add);
}
