// The bot editor form: every §3.1 field, read back into a payload. Lists of
// lines (voice samples, greetings) get one text box per item.

import { showImage } from "./api.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";

export const FIELDS = [
  "name", "persona", "voice_samples", "traits", "backstory", "initial_relationship_to_you",
  "kickoff_prose", "tags", "talkativeness", "alternate_greetings", "scenario", "avatar",
];
const AVATAR_MAX_BYTES = 700 * 1024; // the data URL must fit the API's 1 MiB JSON limit
const IMAGE_DATA_URL = /^data:image\/(png|jpeg|webp|gif);base64,/;

/** The picture of a bot: its avatar data URL, else the generated one the PNG export draws. */
export function avatarSrc(bot) {
  if (bot && typeof bot.avatar === "string" && IMAGE_DATA_URL.test(bot.avatar)) return bot.avatar;
  return bot && bot.id ? `/api/bots/${encodeURIComponent(bot.id)}/card?format=png` : null;
}

function avatarField(bot) {
  const hidden = h("input", { type: "hidden", name: "avatar", value: (bot && bot.avatar) || "" });
  const src = avatarSrc(bot);
  const img = showImage(h("img", { class: "avatar-preview", alt: "", width: 72, height: 72, hidden: !src }), src);
  const note = h("span", { class: "muted hint", role: "status" });
  const file = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp", "aria-label": "Avatar image (PNG, JPEG or WebP, up to 700 KB)" });
  file.addEventListener("change", () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    if (chosen.size > AVATAR_MAX_BYTES) {
      note.textContent = `That image is ${Math.round(chosen.size / 1024)} KB; the limit is 700 KB.`;
      file.value = "";
      return;
    }
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      if (!IMAGE_DATA_URL.test(String(reader.result))) {
        note.textContent = "Not a PNG, JPEG or WebP image.";
        return;
      }
      hidden.value = String(reader.result);
      img.src = hidden.value;
      img.hidden = false;
      note.textContent = "New avatar chosen; save to keep it.";
    });
    reader.readAsDataURL(chosen);
  });
  const clear = h("button", { type: "button", class: "small", onclick: () => {
    hidden.value = "";
    file.value = "";
    img.hidden = true;
    note.textContent = "Avatar removed; save to keep the change.";
  } }, "Remove avatar");
  return h("div", { class: "field avatar-field", dataset: { field: "avatar" } },
    h("span", { text: "Avatar" }), h("div", { class: "row" }, img, file, clear, hidden), note);
}

function listEditor(name, label, items, itemLabel) {
  const list = h("ol", { class: "list-editor-items" });
  const addItem = (value = "", focus = false) => {
    const index = list.children.length + 1;
    const area = h("textarea", { rows: 2, name, "aria-label": `${itemLabel} ${index}`, value });
    const remove = h("button", { type: "button", class: "icon", "aria-label": `Remove ${itemLabel} ${index}`, title: "Remove" }, icon("close"));
    const li = h("li", null, area, remove);
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      (next ? next.querySelector("textarea") : addBtn).focus();
    });
    list.append(li);
    if (focus) area.focus();
  };
  const addBtn = h("button", { type: "button", class: "small", onclick: () => addItem("", true) }, `Add ${itemLabel}`);
  for (const item of items || []) addItem(item);
  return h("fieldset", { class: "list-editor", dataset: { field: name } }, h("legend", { text: label }), list, addBtn);
}

function text(name, label, value, attrs = {}) {
  return h("label", { class: "field", dataset: { field: name } }, h("span", { text: label }),
    h("input", { name, value: value ?? "", ...attrs }));
}

function area(name, label, value, rows = 4, attrs = {}) {
  return h("label", { class: "field", dataset: { field: name } }, h("span", { text: label }),
    h("textarea", { name, rows, value: value ?? "", ...attrs }));
}

/** Build the form's fields for `bot` (null for a new bot). */
export function botFields(bot) {
  const b = bot || {};
  const talk = b.talkativeness ?? 0.5;
  const range = h("input", { type: "range", name: "talkativeness", min: 0, max: 1, step: 0.05, value: talk, "aria-describedby": "talk-out" });
  const out = h("output", { id: "talk-out", for: "talkativeness", text: Number(talk).toFixed(2) });
  range.addEventListener("input", () => {
    out.textContent = Number(range.value).toFixed(2);
  });
  return [
    avatarField(bot),
    h("div", { class: "grid2" },
      text("name", "Name", b.name, { required: true, maxlength: 80, autocomplete: "off" }),
      bot
        ? h("div", { class: "field" }, h("span", { text: "Id" }), h("code", { class: "bot-id", text: b.id }))
        : text("id", "Id (optional, made from the name)", "", { pattern: "[a-z0-9][a-z0-9_\\-]{0,63}", maxlength: 64, autocomplete: "off" })),
    area("persona", "Persona", b.persona, 5),
    h("div", { class: "grid2" },
      text("traits", "Traits (comma separated)", (b.traits || []).join(", ")),
      text("initial_relationship_to_you", "Relationship to you", b.initial_relationship_to_you ?? "stranger", { maxlength: 200 })),
    area("backstory", "Backstory", b.backstory, 4),
    area("scenario", "Scenario", b.scenario, 3),
    area("kickoff_prose", "Kickoff prose (opening message; {{user}} and {{char}} are replaced)", b.kickoff_prose, 3),
    listEditor("voice_samples", "Voice samples (example lines in the bot's voice)", b.voice_samples, "voice sample"),
    listEditor("alternate_greetings", "Alternate greetings", b.alternate_greetings, "greeting"),
    h("div", { class: "grid2" },
      text("tags", "Tags (comma separated)", (b.tags || []).join(", ")),
      h("label", { class: "field", dataset: { field: "talkativeness" } },
        h("span", { text: "Talkativeness in group chats" }), h("span", { class: "range-row" }, range, out))),
  ];
}

const words = (value) => value.split(",").map((t) => t.trim()).filter(Boolean);

/** Read the form into a bot payload (all fields). */
export function readBot(form) {
  const el = form.elements;
  const lines = (name) => [...form.querySelectorAll(`textarea[name=${name}]`)].map((t) => t.value).filter((t) => t.trim());
  const bot = {
    name: el.name.value.trim(),
    persona: el.persona.value,
    voice_samples: lines("voice_samples"),
    traits: words(el.traits.value),
    backstory: el.backstory.value,
    initial_relationship_to_you: el.initial_relationship_to_you.value.trim() || "stranger",
    kickoff_prose: el.kickoff_prose.value,
    tags: words(el.tags.value),
    talkativeness: Number(el.talkativeness.value),
    alternate_greetings: lines("alternate_greetings"),
    scenario: el.scenario.value,
    avatar: el.avatar.value || null,
  };
  if (el.id && el.id.value && el.id.value.trim()) bot.id = el.id.value.trim();
  return bot;
}

/** The fields of `next` that differ from `bot`. */
export function changedFields(bot, next) {
  const changes = {};
  for (const field of FIELDS) {
    const fallback = { talkativeness: 0.5, avatar: null }[field];
    const before = bot[field] ?? (fallback !== undefined ? fallback : Array.isArray(next[field]) ? [] : "");
    if (JSON.stringify(before) !== JSON.stringify(next[field])) changes[field] = next[field];
  }
  return changes;
}

/** Mark the field an API error names (e.g. "name" or "voice_samples.2"). */
export function markInvalid(form, field) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  if (!field) return null;
  const name = String(field).replace(/^(body|changes)\./, "").split(".")[0];
  const box = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  const control = box && box.querySelector("input, textarea, select");
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
  return control;
}
