// The "Entities" tab: every person, bot, place and thing, each field editable
// in place, with pins and history (§5.1, §6.1), and a form to add one.

import { patch, post, seg } from "./api.js";
import { markInvalid } from "./botform.js";
import { h, mount, notify } from "./dom.js";
import { emit, loadEntities } from "./store.js";
import { editable, historyButton, pinBadge } from "./widgets.js";

const KINDS = ["bot", "you", "person", "place", "thing", "group", "other"];
const NEW_KINDS = ["person", "place", "thing", "group", "other"]; // bots are authored; "you" exists

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

let addForm = null;

/**
 * The "Add entity" form (POST /api/entities). One node kept across refreshes, so what
 * was typed (and whether it is open) survives one; while the person types in it the
 * state panel waits with its refresh.
 */
function addEntityForm() {
  if (addForm) return addForm;
  const field = (name, label, control) => h("label", { class: "field", dataset: { field: name } },
    h("span", { text: label }), control);
  const summary = h("summary", { text: "Add entity", dataset: { focusKey: "add entity" } });
  const errorBox = h("div", { class: "form-error", role: "alert" });
  const form = h("form", { class: "add-entity-form", "aria-label": "Add an entity", novalidate: true },
    errorBox,
    field("name", "Name", h("input", { name: "name", required: true, maxlength: 120, autocomplete: "off" })),
    field("kind", "Kind", h("select", { name: "kind" }, NEW_KINDS.map((k) => h("option", { value: k }, k)))),
    field("description", "Description", h("textarea", { name: "description", rows: 2 })),
    field("aliases", "Aliases (comma separated)", h("input", { name: "aliases", autocomplete: "off" })),
    field("facts", "Facts (one key: value per line)", h("textarea", { name: "facts", rows: 2 })),
    h("div", { class: "row" }, h("button", { type: "submit", class: "small primary" }, "Add entity")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.textContent = "";
    markInvalid(form, null);
    const f = form.elements;
    let body;
    try {
      body = {
        name: f.name.value.trim(), kind: f.kind.value, description: f.description.value,
        aliases: parseList(f.aliases.value), facts: parseFacts(f.facts.value),
      };
    } catch (exc) {
      errorBox.textContent = exc.message;
      markInvalid(form, "facts");
      return;
    }
    if (!body.name) {
      errorBox.textContent = "An entity needs a name.";
      markInvalid(form, "name");
      return;
    }
    try {
      const entity = await post("/api/entities", body);
      form.reset();
      notify(`Added ${entity.name} (${entity.id}).`);
      summary.focus(); // out of the fields, so the panel refreshes now and shows it
      emit("state-changed");
    } catch (exc) {
      errorBox.textContent = exc.message;
      markInvalid(form, exc.field);
    }
  });
  addForm = h("details", { class: "add-entity" }, summary, form);
  return addForm;
}

export async function renderEntities(panel) {
  let entities;
  try {
    entities = await loadEntities();
  } catch (exc) {
    mount(panel, h("p", { class: "error", text: `Cannot load entities: ${exc.message}` }));
    return;
  }
  mount(panel, addEntityForm(), entities.length
    ? h("ul", { class: "cards", "aria-label": "Entities" }, entities.map(entityCard))
    : h("p", { class: "muted", text: "No entities yet." }));
}
