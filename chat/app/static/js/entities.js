// The "Entities" tab: every person, bot, place and thing, each field editable
// in place, with pins and history (§5.1, §6.1).

import { patch, seg } from "./api.js";
import { h, mount, notify } from "./dom.js";
import { loadEntities } from "./store.js";
import { editable, historyButton, pinBadge } from "./widgets.js";

const KINDS = ["bot", "you", "person", "place", "thing", "group", "other"];

const listText = (v) => (Array.isArray(v) ? v.join(", ") : "");
const parseList = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);
const factsText = (v) => Object.entries(v || {}).map(([k, val]) => `${k}: ${val}`).join("\n");
function parseFacts(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const cut = line.indexOf(":");
    if (cut > 0) out[line.slice(0, cut).trim()] = line.slice(cut + 1).trim();
    else if (line.trim()) throw new Error(`facts: “${line.trim()}” needs the form key: value`);
  }
  return out;
}

function entityCard(entity) {
  const save = (field, toValue = (v) => v) => async (raw) => {
    const value = toValue(raw);
    const updated = await patch(`/api/entities/${seg(entity.id)}`, { [field]: value });
    entity[field] = updated && updated[field] !== undefined ? updated[field] : value;
    notify(`Saved ${field} of ${entity.name}.`);
    return entity[field];
  };
  const row = (field, control) => h("div", { class: "field-row" },
    h("span", { class: "field-name", text: field }), control, pinBadge("entity", entity.id, field));
  return h("li", { class: "card entity", dataset: { id: entity.id } },
    h("div", { class: "item-head" },
      h("h3", { text: entity.name }),
      h("span", { class: ["kind", `kind-${entity.kind}`], text: entity.kind }),
      h("code", { class: "muted", text: entity.id }),
      historyButton("entity", entity.id, entity.name)),
    row("name", editable({ label: `name of ${entity.name}`, value: entity.name, onSave: save("name") })),
    row("kind", editable({ label: `kind of ${entity.name}`, value: entity.kind, type: "select", options: KINDS, onSave: save("kind") })),
    row("description", editable({ label: `description of ${entity.name}`, value: entity.description, type: "textarea", onSave: save("description") })),
    row("aliases", editable({ label: `aliases of ${entity.name} (comma separated)`, value: listText(entity.aliases), format: (v) => (Array.isArray(v) ? listText(v) : v), onSave: save("aliases", parseList) })),
    row("facts", editable({ label: `facts of ${entity.name} (one key: value per line)`, value: factsText(entity.facts), type: "textarea", format: (v) => (typeof v === "object" ? factsText(v) : v), onSave: save("facts", parseFacts) })));
}

export async function renderEntities(panel) {
  let entities;
  try {
    entities = await loadEntities();
  } catch (exc) {
    mount(panel, h("p", { class: "error", text: `Cannot load entities: ${exc.message}` }));
    return;
  }
  mount(panel, entities.length
    ? h("ul", { class: "cards", "aria-label": "Entities" }, entities.map(entityCard))
    : h("p", { class: "muted", text: "No entities yet." }));
}
