// Forms to add a memory and a relationship by hand (§11.1), shaped like "Add entity":
// one node each, kept across refreshes of the state panel so what was typed survives
// one; errors show inline beside the form, in the UI's words, and nothing is saved then.

import { patch, post, seg } from "./api.js";
import { markInvalid } from "./botform.js";
import { h, mount, notify } from "./dom.js";
import { emit, nameOf, store } from "./store.js";

/** A labelled control; a <select> also gets aria-label, since its label's text would
 * otherwise include every option. */
function field(name, label, control) {
  if (control.tagName === "SELECT") control.setAttribute("aria-label", label);
  return h("label", { class: "field", dataset: { field: name } }, h("span", { text: label }), control);
}

/** Fill a <select> with options unless the person is using it right now. */
function fillSelect(select, items, keep = true) {
  if (document.activeElement === select) return;
  const current = select.value;
  mount(select, items.map(([value, label]) => h("option", { value }, label)));
  if (keep && items.some(([value]) => value === current)) select.value = current;
}

function formShell(title, name, fields, submitLabel, onSubmit) {
  const summary = h("summary", { text: title, dataset: { focusKey: title.toLowerCase() } });
  const errorBox = h("div", { class: "form-error", role: "alert" });
  const form = h("form", { class: `${name}-form`, "aria-label": title, novalidate: true },
    errorBox, fields, h("div", { class: "row" }, h("button", { type: "submit", class: "small primary" }, submitLabel)));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.textContent = "";
    markInvalid(form, null);
    try {
      const said = await onSubmit(form.elements);
      form.reset();
      notify(said);
      summary.focus(); // out of the fields, so the panel refreshes now and shows it
      emit("state-changed");
    } catch (exc) {
      errorBox.textContent = exc.message;
      markInvalid(form, exc.field);
    }
  });
  return { box: h("details", { class: ["add-form", name] }, summary, form), form };
}

function invalid(message, fieldName) {
  return Object.assign(new Error(message), { field: fieldName });
}

let memoryForm = null;

/** "Add memory": whose, what, how important (POST /api/memories). */
export function addMemoryForm(defaultOwner = "") {
  if (!memoryForm) {
    memoryForm = formShell("Add memory", "add-memory", [
      field("owner", "Whose memory", h("select", { name: "owner" })),
      field("text", "What they remember", h("textarea", { name: "text", rows: 2, maxlength: 4000 })),
      field("importance", "Importance (1 to 10)", h("input", { name: "importance", type: "number", min: 1, max: 10, step: 1, value: 5 })),
    ], "Add memory", async (f) => {
      const text = f.text.value.trim();
      if (!f.owner.value) throw invalid("Pick whose memory it is: there is no bot yet.", "owner");
      if (!text) throw invalid("Write what the bot remembers.", "text");
      const importance = Number(f.importance.value || 5);
      if (!Number.isInteger(importance) || importance < 1 || importance > 10) {
        throw invalid("Importance is a whole number from 1 to 10.", "importance");
      }
      await post("/api/memories", { owner: f.owner.value, text, importance });
      return `Added a memory for ${nameOf(f.owner.value)}.`;
    });
  }
  const select = memoryForm.form.elements.owner;
  fillSelect(select, store.bots.filter((b) => !b.retired).map((b) => [b.id, b.name]));
  if (defaultOwner && document.activeElement !== select) select.value = defaultOwner;
  return memoryForm.box;
}

let relationForm = null;

/** "Add relationship": from whom, to whom, label, affinity, trust (PATCH creates it). */
export function addRelationForm(entities, edges) {
  if (!relationForm) {
    relationForm = formShell("Add relationship", "add-relation", [
      field("src", "From", h("select", { name: "src" })),
      field("dst", "To", h("select", { name: "dst" })),
      field("label", "How they see them", h("input", { name: "label", maxlength: 120, autocomplete: "off", placeholder: "friend, rival…" })),
      field("affinity", "Affinity (−100 to 100)", h("input", { name: "affinity", type: "number", min: -100, max: 100, step: 1, value: 0 })),
      field("trust", "Trust (−100 to 100)", h("input", { name: "trust", type: "number", min: -100, max: 100, step: 1, value: 0 })),
    ], "Add relationship", async (f) => {
      const src = f.src.value;
      const dst = f.dst.value;
      if (!src || !dst) throw invalid("Pick who the relationship is from and to.", "src");
      if (src === dst) throw invalid("A relationship goes from one entity to another: pick two different ones.", "dst");
      if ((relationForm.edges || []).some((e) => e.src === src && e.dst === dst)) {
        throw invalid(`${nameOf(src)} → ${nameOf(dst)} exists already; select its arrow to edit it.`, "dst");
      }
      const body = {};
      for (const name of ["affinity", "trust"]) {
        const value = Number(f[name].value || 0);
        if (!Number.isInteger(value) || value < -100 || value > 100) {
          throw invalid(`${name[0].toUpperCase()}${name.slice(1)} is a whole number from −100 to 100.`, name);
        }
        body[name] = value;
      }
      const label = f.label.value.trim();
      if (label) body.label = label;
      await patch(`/api/edges/${seg(src)}/${seg(dst)}`, body);
      return `Added ${nameOf(src)} → ${nameOf(dst)}.`;
    });
  }
  relationForm.edges = edges;
  const options = entities.map((e) => [e.id, e.name || e.id]);
  fillSelect(relationForm.form.elements.src, options);
  fillSelect(relationForm.form.elements.dst, options);
  return relationForm.box;
}
