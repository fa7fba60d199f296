// Settings (§7.7, §11.1): backend, model, base URL, API key (write-only: the
// server never returns it, the field only says whether one is set),
// extraction on/off and every N turns, reflection threshold, review, sentiment nudges,
// replies per message and recall weights; a server backend is checked on open and save;
// then snapshots.

import { get, put } from "./api.js";
import { $, clearToasts, h, mount, notify } from "./dom.js";
import { emit } from "./store.js";
import { markInvalid } from "./botform.js";
import { renderSnapshots } from "./snapshots.js";

const BACKENDS = ["embedded", "openai", "scripted"];
let current = {};
const formBox = () => $("#settings-form-box");

/** Where a key typed here lives (§12.5): secrets are never written to disk. */
const KEY_KEPT = "It is never shown again, and kept only until Kith restarts: keys are never written to disk " +
  "(not to kith.toml either). To keep one across restarts, start Kith with KITH_API_KEY set in the environment.";

function field(name, label, control, help) {
  return h("div", { class: "field", dataset: { field: name } },
    h("label", { for: `set-${name}`, text: label }), control,
    help ? h("p", { class: "muted hint", id: `set-${name}-help`, text: help }) : null);
}

const REVIEW = [["auto", "With the bundled model only"], ["true", "Always"], ["false", "Never"]];
const NUMBERS = ["extraction_every_n_turns", "reflection_threshold", "max_replies_per_turn", "memory_top_k",
  "memory_weight_relevance", "memory_weight_importance", "memory_weight_recency"];

/** The first number field left empty (or holding what is not a number: the browser gives
 * "" then), as an error in the form's words; null when every one holds a number.
 * Number("") is 0: an emptied "Recall weight" was once saved as 0 without a word. */
function emptyNumber(formEl) {
  for (const name of NUMBERS) {
    const input = formEl.elements[name];
    if (input.value.trim() !== "" && Number.isFinite(Number(input.value))) continue;
    const label = formEl.querySelector(`[data-field="${CSS.escape(name)}"] label`)?.textContent || name;
    const range = input.max ? ` from ${input.min} to ${input.max}` : ` of at least ${input.min}`;
    return { name, message: `“${label}” is empty: type a number${range} (it is ${current[name]} now).` };
  }
  return null;
}

function numberField(name, label, settings, min, max, step, help, fallback = "") {
  return field(name, label, h("input", {
    id: `set-${name}`, name, type: "number", min, max, step, value: settings[name] ?? fallback,
  }), help);
}

/** Ask whether the backend in use answers (a server's URL and key); the problem in words,
 * shown under the backend, or null. Saving checks only what needs no server. */
async function checkBackend() {
  const line = $("#backend-status");
  if (current.backend !== "openai") {
    if (line) line.textContent = "";
    return null;
  }
  if (line) line.textContent = "Checking the server…";
  try {
    const answer = await get("/api/settings/backend-check");
    if (line) {
      line.textContent = answer.ok ? "The server answers." : `Not answering: ${answer.problem}`;
      line.classList.toggle("error", !answer.ok);
    }
    return answer.ok ? null : answer.problem;
  } catch (exc) {
    if (line) line.textContent = "";
    return null; // the check itself failing says nothing about the server
  }
}

function form(settings) {
  const backends = BACKENDS.includes(settings.backend) ? BACKENDS : [...BACKENDS, settings.backend];
  const keySet = Boolean(settings.api_key);
  const errorBox = h("div", { class: "form-error", role: "alert" });
  const el = h("form", { class: "settings-form", "aria-label": "Settings", novalidate: true },
    h("h2", { text: "Settings" }), errorBox,
    h("fieldset", null, h("legend", { text: "Model" }),
      field("backend", "Backend", h("select", { id: "set-backend", name: "backend" },
        backends.map((b) => h("option", { value: b, selected: b === settings.backend }, b))),
      "embedded: the bundled model, offline · openai: any OpenAI-compatible server · scripted: deterministic test replies"),
      field("model", "Model", h("input", { id: "set-model", name: "model", value: settings.model ?? "", placeholder: "GGUF path or model name" })),
      field("base_url", "Base URL", h("input", { id: "set-base_url", name: "base_url", type: "url", value: settings.base_url ?? "" }),
        "For the openai backend, e.g. http://127.0.0.1:11434/v1"),
      h("p", { id: "backend-status", class: "muted hint", role: "status" }),
      field("api_key", "API key", h("input", {
        id: "set-api_key", name: "api_key", type: "password", autocomplete: "off", value: "",
        placeholder: keySet ? "•••••• (set — type to replace)" : "(not set)", "aria-describedby": "set-api_key-help",
      }), `${keySet ? "A key is set; leave this empty to keep it. " : ""}${KEY_KEPT}`)),
    h("fieldset", null, h("legend", { text: "Memory and state" }),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "extraction_enabled", id: "set-extraction_enabled", checked: settings.extraction_enabled }), " Extract state changes after turns"),
      numberField("extraction_every_n_turns", "Extract every N turns", settings, 1, 1000, 1, undefined, 1),
      numberField("reflection_threshold", "Reflection threshold (summed importance)", settings, 1, 100000, 1, undefined, 50),
      field("extraction_review", "Review proposed changes", h("select", { id: "set-extraction_review", name: "extraction_review" },
        REVIEW.map(([value, label]) => h("option", { value, selected: value === String(settings.extraction_review ?? "auto") }, label))),
        "Changes the model proposes after a turn (memories, relationships, world facts) wait in the review tray until you accept them."),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "sentiment_nudges", id: "set-sentiment_nudges", checked: settings.sentiment_nudges }), " Nudge relationships by how your messages sound")),
    h("fieldset", null, h("legend", { text: "Conversation and recall" }),
      numberField("max_replies_per_turn", "Most replies per message (group chats)", settings, 1, 20, 1),
      numberField("memory_top_k", "Memories recalled into a prompt", settings, 1, 200, 1),
      numberField("memory_weight_relevance", "Recall weight: relevance", settings, 0, 100, 0.1),
      numberField("memory_weight_importance", "Recall weight: importance", settings, 0, 100, 0.1),
      numberField("memory_weight_recency", "Recall weight: recency", settings, 0, 100, 0.1,
        "How much each counts when choosing which memories a bot recalls; relevance first (§8.3).")),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save settings")));
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.textContent = "";
    for (const old of el.querySelectorAll(".field-error")) old.remove();
    const blank = emptyNumber(el);
    if (blank) { // refused here, naming the field: never sent as 0
      errorBox.textContent = blank.message;
      // said beside the field too: the form's error line is off screen from the last fields
      el.querySelector(`[data-field="${CSS.escape(blank.name)}"]`)
        ?.append(h("p", { class: "error hint field-error", text: blank.message }));
      markInvalid(el, blank.name);
      return;
    }
    markInvalid(el, null);
    const f = el.elements;
    const next = {
      backend: f.backend.value,
      model: f.model.value.trim() || null,
      base_url: f.base_url.value.trim(),
      extraction_enabled: f.extraction_enabled.checked,
      extraction_review: f.extraction_review.value === "auto" ? null : f.extraction_review.value === "true",
      sentiment_nudges: f.sentiment_nudges.checked,
    };
    for (const name of NUMBERS) next[name] = Number(f[name].value);
    const changes = {};
    for (const [k, v] of Object.entries(next)) if (v !== current[k]) changes[k] = v;
    if (f.api_key.value) changes.api_key = f.api_key.value;
    if (!Object.keys(changes).length) {
      notify("Nothing changed.");
      return;
    }
    try {
      current = (await put("/api/settings", changes)) || { ...current, ...changes, api_key: current.api_key };
      mount(formBox(), form(current));
      notify("Settings saved.");
      emit("settings-changed", current);
      const problem = await checkBackend();
      if (problem) notify(`Settings saved, but ${problem}. Replies will fail until it answers.`, "error");
    } catch (exc) {
      clearToasts(); // the inline error is the whole story; no "saved" beside it
      errorBox.textContent = inLabels(el, exc);
      markInvalid(el, exc.field);
    }
  });
  return el;
}

/** A settings error in the form's words: the field's label, not its key. */
function inLabels(formEl, exc) {
  let text = String(exc.message || "").replace(/^settings: /, "");
  if (exc.field) {
    const label = formEl.querySelector(`[data-field="${CSS.escape(exc.field)}"] label`)?.textContent;
    if (label) text = text.split(exc.field).join(`“${label}”`);
  }
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export async function renderSettings() {
  const view = $("#view-settings");
  const snapshots = h("section", { class: "snapshots", "aria-label": "Snapshots" });
  mount(view, h("div", { id: "settings-form-box" }), snapshots);
  try {
    current = (await get("/api/settings")) || {};
    mount(formBox(), form(current));
    checkBackend();
  } catch (exc) {
    mount(formBox(), h("p", { class: "error", text: `Cannot load settings: ${exc.message}` }));
  }
  await renderSnapshots(snapshots);
}
