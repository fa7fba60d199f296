// The lore editor (§11.1, §8.1, §3.5): the lore of the world shown — a bot's book there
// (imported from its card's character book, or authored here) or the world's own entries —
// listed, searched, added, edited, switched on and off, deleted. Every save is one PUT of
// that book (`/api/lore?world=&bot=`), so each edit is a `lore_set` event of this world
// only. Fields the editor does not show (SillyTavern's extensions, ids) are kept as they are.

import { get, put, query, worldId } from "./api.js";
import { store } from "./store.js";
import { currentWorld } from "./worlds.js";
import { h, mount, notify } from "./dom.js";
import { confirmDialog } from "./widgets.js";

const SHOWN = 200; // rows drawn at once; a search narrows a big book
const LOGICS = [["0", "AND ANY"], ["1", "NOT ALL"], ["2", "NOT ANY"], ["3", "AND ALL"]];
const POSITIONS = [["before_char", "Before the character"], ["after_char", "After the character"]];
let filterText = "";

const label = (e, i) => e.name || e.comment || (e.keys || [])[0] || `entry ${i + 1}`;
const csv = (value) => String(value || "").split(",").map((t) => t.trim()).filter(Boolean);

function matches(entry, needle) {
  if (!needle) return true;
  const hay = [entry.name, entry.comment, entry.content, ...(entry.keys || []), ...(entry.secondary_keys || [])]
    .filter(Boolean).join("\n").toLowerCase();
  return hay.includes(needle.toLowerCase());
}

function field(labelText, control) {
  return h("label", { class: "field" }, h("span", { text: labelText }), control);
}

/** The form for one entry; resolves `onSave(entry)` with a copy that keeps unknown keys. */
function entryForm(entry, onSave, onCancel) {
  const ext = entry.extensions || {};
  const name = h("input", { name: "lore_name", value: entry.name || entry.comment || "", "aria-label": "Entry name" });
  const keys = h("input", { name: "lore_keys", value: (entry.keys || []).join(", "), "aria-label": "Keys (comma separated; /regex/flags allowed)" });
  const secondary = h("input", { name: "lore_secondary", value: (entry.secondary_keys || []).join(", "), "aria-label": "Secondary keys" });
  const logic = h("select", { name: "lore_logic", "aria-label": "Secondary key logic" },
    LOGICS.map(([v, t]) => h("option", { value: v, text: t, selected: String(ext.selectiveLogic ?? 0) === v })));
  const content = h("textarea", { name: "lore_content", rows: 4, value: entry.content || "", "aria-label": "Content" });
  const order = h("input", { type: "number", name: "lore_order", value: entry.insertion_order ?? 100, step: 1, "aria-label": "Insertion order" });
  const position = h("select", { name: "lore_position", "aria-label": "Position" },
    POSITIONS.map(([v, t]) => h("option", { value: v, text: t, selected: (entry.position || "before_char") === v })));
  const constant = h("input", { type: "checkbox", name: "lore_constant", checked: !!entry.constant });
  const caseSensitive = h("input", { type: "checkbox", name: "lore_case", checked: !!entry.case_sensitive });
  const probability = h("input", { type: "number", name: "lore_probability", min: 0, max: 100, value: ext.probability ?? 100, "aria-label": "Probability (%)" });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "lore-form", "aria-label": entry.content === undefined ? "New lore entry" : `Edit ${label(entry, 0)}` },
    field("Name", name), field("Keys (comma separated; /regex/flags allowed)", keys),
    h("div", { class: "grid2" }, field("Secondary keys", secondary), field("Secondary key logic", logic)),
    field("Content", content),
    h("div", { class: "grid2" }, field("Insertion order", order), field("Position", position)),
    h("div", { class: "row" },
      h("label", { class: "check" }, constant, " always on (constant)"),
      h("label", { class: "check" }, caseSensitive, " case sensitive"),
      field("Probability (%)", probability)),
    error,
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary small" }, "Save entry"),
      h("button", { type: "button", class: "small", onclick: onCancel }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ev.stopPropagation();
    const next = { ...entry, extensions: { ...ext } };
    next.name = name.value.trim();
    next.keys = csv(keys.value);
    next.secondary_keys = csv(secondary.value);
    next.selective = next.secondary_keys.length > 0;
    next.extensions.selectiveLogic = Number(logic.value);
    next.content = content.value;
    next.insertion_order = Number.parseInt(order.value, 10) || 0;
    next.position = position.value;
    next.constant = constant.checked;
    next.case_sensitive = caseSensitive.checked;
    const p = Number(probability.value);
    next.extensions.probability = Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 100;
    next.extensions.useProbability = next.extensions.probability < 100 || ext.useProbability === true;
    if (next.enabled === undefined) next.enabled = true;
    if (!next.content.trim()) {
      error.textContent = "Write the entry's content.";
      content.focus();
      return;
    }
    if (!next.keys.length && !next.constant) {
      error.textContent = "Give at least one key, or make the entry always on.";
      keys.focus();
      return;
    }
    try {
      await onSave(next);
    } catch (exc) {
      error.textContent = exc.message;
    }
  });
  setTimeout(() => name.focus(), 0);
  return form;
}

/** The lore editor of one book of the current world (§3.5): with `bot`, that bot's book in
 * this world (its card's character book as this world has it); without, the world's own
 * entries, which any bot of the world may activate. Other worlds keep their own lore. */
export function lorePanel(bot = null) {
  const world = worldId();
  const where = currentWorld();
  const box = h("section", { class: "lore-panel", "aria-label": bot ? "Lore" : "World lore" });
  const path = `/api/lore${query({ world, bot: bot ? bot.id : "" })}`;
  let lore = [];
  let editing = null; // index being edited, or "new"
  const readOnly = Boolean(where && where.archived); // an archived world's lore is read (§3.5); the server refuses edits

  async function save(entries, message) {
    const saved = await put(path, { entries });
    lore = Array.isArray(saved.entries) ? saved.entries : [];
    notify(message);
    editing = null;
    render();
  }

  function render() {
    const needle = filterText.trim();
    const hits = lore.map((e, i) => [e, i]).filter(([e]) => matches(e, needle));
    const search = h("input", { type: "search", value: filterText, placeholder: "Search keys and content", "aria-label": "Search lore" });
    search.addEventListener("input", () => {
      filterText = search.value;
      render();
      box.querySelector("input[type=search]")?.focus();
    });
    const rows = hits.slice(0, SHOWN).map(([entry, index]) => {
      if (editing === index) {
        return h("li", null, entryForm(entry, (next) => save(lore.map((e, i) => (i === index ? next : e)), `Saved ${label(next, index)}.`),
          () => { editing = null; render(); }));
      }
      const enabled = entry.enabled !== false;
      const toggle = h("input", { type: "checkbox", checked: enabled, disabled: readOnly, "aria-label": `Enabled: ${label(entry, index)}` });
      toggle.addEventListener("change", () => save(lore.map((e, i) => (i === index ? { ...e, enabled: toggle.checked } : e)),
        `${label(entry, index)} ${toggle.checked ? "enabled" : "disabled"}.`).catch((exc) => notify(exc.message, "error")));
      return h("li", { class: ["lore-row", !enabled && "disabled"] },
        toggle,
        h("span", { class: "lore-label", text: label(entry, index) }),
        h("span", { class: "lore-keys muted", text: entry.constant ? "always on" : (entry.keys || []).join(", ") }),
        readOnly ? h("details", { class: "lore-read" }, h("summary", { text: "Content" }), h("p", { text: entry.content || "" })) : [
          h("button", { type: "button", class: "small", "aria-label": `Edit ${label(entry, index)}`, onclick: () => { editing = index; render(); } }, "Edit"),
          h("button", { type: "button", class: "small danger", "aria-label": `Delete ${label(entry, index)}`, onclick: async () => {
            if (!(await confirmDialog("Delete lore entry", `Delete “${label(entry, index)}”?`, "Delete"))) return;
            save(lore.filter((_, i) => i !== index), `Deleted ${label(entry, index)}.`).catch((exc) => notify(exc.message, "error"));
          } }, "Delete")]);
    });
    const adding = editing === "new"
      ? entryForm({ keys: [], enabled: true, insertion_order: 100, extensions: {} },
        (next) => save([...lore, next], `Added ${label(next, lore.length)}.`), () => { editing = null; render(); })
      : null;
    const count = `${lore.length} ${lore.length === 1 ? "entry" : "entries"}`;
    const worldName = where ? where.name : "this world";
    mount(box,
      h("div", { class: "pane-head" }, h("h3", { text: bot ? `Lore (${count})` : `World lore (${count})` }),
        readOnly ? null : h("button", { type: "button", class: "small primary", onclick: () => { editing = "new"; render(); } }, "Add entry")),
      readOnly ? h("p", { class: "archived-note", role: "note" }, `The world ${where.name} is archived, so its lore is read-only: `
        + "it can be read, not changed. Restore the world (Worlds…) to edit it.") : null,
      h("p", { class: "muted", text: bot
        ? `${bot.name}'s lore in ${worldName}: it switches on in ${bot.name}'s replies when its keys appear in the recent messages (SillyTavern's World Info rules). An imported character book starts here; other worlds keep their own copy.`
        : `Lore of ${worldName} that any of its bots may use; entries switch on when their keys appear in the recent messages. Other worlds never see it.` }),
      lore.length ? search : null,
      adding,
      h("ul", { class: "lore-list", "aria-label": "Lore entries" }, rows),
      hits.length > SHOWN ? h("p", { class: "muted", text: `${hits.length - SHOWN} more — search to narrow the list.` }) : null,
      needle && !hits.length ? h("p", { class: "muted", text: "No entry matches." }) : null);
  }
  async function load() {
    if (!world) {
      mount(box, h("p", { class: "muted", text: "Create a world first; lore belongs to a world." }));
      return;
    }
    const absent = () => mount(box, h("p", { class: "muted",
      text: `${bot.name} takes no part in ${where ? where.name : "this world"}; a chat here brings in a copy of the character book of ${bot.name}'s card.` }));
    if (bot && store.worldBotIds && !store.worldBotIds.includes(bot.id)) {
      absent();
      return;
    }
    try {
      lore = (await get(path)).entries || [];
    } catch (exc) {
      if (exc.status === 404 && exc.field === "bot") absent();
      else mount(box, h("p", { class: "error", text: `Cannot load the lore: ${exc.message}` }));
      return;
    }
    render();
  }

  mount(box, h("p", { class: "muted", text: "Loading lore…" }));
  load();
  return box;
}
