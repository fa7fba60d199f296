// The "World" tab: the scene of the open chat (its location, and who is present,
// picked from the entities) and the shared world facts, all editable (§5.4, §6.1).

import { del, get, put, seg } from "./api.js";
import { h, mount, notify } from "./dom.js";
import { icon } from "./icons.js";
import { emit, loadEntities, nameOf, store } from "./store.js";
import { confirmDialog, editable, historyButton, pinBadge } from "./widgets.js";

function factsFrom(data) {
  if (Array.isArray(data)) return data.map((f) => [f.key, f.value]);
  const facts = data && typeof data.facts === "object" ? data.facts : data;
  return Object.entries(facts || {});
}

const PRESENT_ORDER = ["you", "bot", "person", "group", "thing", "place", "other"];

/** Save a scene change (PUT /api/chats/{id}/scene) and refresh the views. */
async function saveScene(change) {
  const scene = await put(`/api/chats/${seg(store.chatId)}/scene`, change);
  if (store.chat) store.chat.scene = scene;
  return scene;
}

/** Who is present, as checkboxes of every entity (the present ones first); each change saves. */
function presentBlock(scene, entities) {
  const present = new Set(scene.present || []);
  const rank = (e) => [present.has(e.id) ? 0 : 1, PRESENT_ORDER.indexOf(e.kind), e.name.toLowerCase()];
  const sorted = [...entities].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
  const boxes = sorted.map((entity) => h("input", {
    type: "checkbox", value: entity.id, checked: present.has(entity.id), disabled: Boolean(store.archivedWorld),
    dataset: { focusKey: `present ${entity.id}` },
  }));
  const list = h("div", { class: "check-list scene-present-list" }, sorted.map((entity, i) => h("label", { class: "check" },
    boxes[i], h("span", { text: entity.name }), h("span", { class: ["kind", `kind-${entity.kind}`], text: entity.kind }))));
  const fieldset = h("fieldset", { class: "scene-present", dataset: { refreshOk: "" } },
    h("legend", { text: "Present" }),
    entities.length ? list : h("p", { class: "muted", text: "No entities yet." }));
  fieldset.addEventListener("change", async (ev) => {
    const box = ev.target;
    const wanted = boxes.filter((b) => b.checked).map((b) => b.value);
    for (const b of boxes) b.disabled = true;
    let saved = false;
    try {
      await saveScene({ present: wanted });
      saved = true;
    } catch (exc) {
      box.checked = !box.checked;
      notify(`Cannot change who is present: ${exc.message}`, "error");
    }
    for (const b of boxes) b.disabled = Boolean(store.archivedWorld);
    box.focus(); // before the refresh, so it puts the focus back on the same checkbox
    if (saved) {
      notify(`${box.checked ? "Now present" : "No longer present"}: ${nameOf(box.value)}.`);
      emit("state-changed");
    }
  });
  return fieldset;
}

async function sceneBlock() {
  if (!store.chatId) return h("p", { class: "muted", text: "Open a chat to see its scene." });
  let scene = store.chat && store.chat.scene;
  let entities = store.entities;
  try {
    const [chat, loaded] = await Promise.all([get(`/api/chats/${seg(store.chatId)}`), loadEntities()]);
    store.chat = chat;
    scene = chat.scene || scene;
    entities = loaded;
  } catch {
    /* keep what we had */
  }
  if (!scene) return h("p", { class: "muted", text: "No scene yet." });
  const location = editable({
    label: "scene location", value: scene.location || "", format: (v) => v || "",
    onSave: async (value) => {
      const saved = await saveScene({ location: value });
      notify("Saved the location.");
      return saved.location;
    },
  });
  return h("div", { class: "scene" },
    h("div", { class: "field-row" }, h("span", { class: "field-name", text: "location" }), location,
      pinBadge("scene", store.chatId, "location"), historyButton("scene", store.chatId, "the scene")),
    presentBlock(scene, entities || []),
    pinBadge("scene", store.chatId, "present")
      ? h("div", { class: "field-row" }, h("span", { class: "field-name", text: "who is present" }), pinBadge("scene", store.chatId, "present"))
      : null);
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
    h("td", null, h("div", { class: "fact-value" }, editable({
      label: `world fact ${key}`, value, type: "textarea",
      onSave: async (v) => {
        await put(`/api/world/${seg(key)}`, { value: v });
        notify(`Saved ${key}.`);
        return v;
      },
    }), pinBadge("world", key, "value"))),
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
  const keyInput = h("input", { name: "key", required: true, maxlength: 100, placeholder: "key, e.g. time_of_day", "aria-label": "New fact key" });
  const valueInput = h("input", { name: "value", maxlength: 4000, placeholder: "value", "aria-label": "New fact value" });
  const add = h("form", { class: "add-fact", "aria-label": "Add a world fact", dataset: { refreshOk: "" } },
    keyInput, valueInput, h("button", { type: "submit", class: "small primary" }, "Add"));
  add.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // A key is a short snake_case name (§5.5): "Time of day" is stored as time_of_day.
    const key = keyInput.value.trim().toLowerCase().replace(/[\s-]+/g, "_");
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
