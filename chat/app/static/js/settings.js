// Settings (§7.7, §11.1): backend, model, base URL, API key (write-only: the
// server never returns it, the field only says whether one is set),
// extraction on/off and every N turns, reflection threshold, review, sentiment nudges,
// replies per message and recall weights, recall by meaning (embedsettings.js); a server
// backend is checked on open and save; then snapshots.

import { get, put } from "./api.js";
import { $, clearToasts, h, mount, notify } from "./dom.js";
import { emit } from "./store.js";
import { markInvalid } from "./botform.js";
import { renderSnapshots } from "./snapshots.js";
import { embedderFieldset, embedderProblem, embedderValues } from "./embedsettings.js";

const BACKENDS = ["embedded", "openai", "scripted"];
let current = {};
/** The model typed for each backend this visit, so a switch there and back restores it. */
const modelOf = {};
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

/** Number settings that take whole numbers only (the server refuses 2.5 for them). */
const WHOLE = new Set(["extraction_every_n_turns", "reflection_threshold", "max_replies_per_turn", "memory_top_k"]);

/** The first number field left empty, holding what is not a number (the browser gives
 * "" then) or a fraction where a whole number is needed, as an error in the form's words;
 * null when every one holds a number of its kind. Number("") is 0: an emptied "Recall
 * weight" was once saved as 0 without a word. */
function badNumber(formEl) {
  for (const name of NUMBERS) {
    const input = formEl.elements[name];
    const value = Number(input.value);
    const blank = input.value.trim() === "" || !Number.isFinite(value);
    if (!blank && !(WHOLE.has(name) && !Number.isInteger(value))) continue;
    const label = labelOf(formEl, name);
    const range = input.max ? ` from ${input.min} to ${input.max}` : ` of at least ${input.min}`;
    const what = blank ? `is empty: type a number${range}` : `takes a whole number${range}, not ${input.value}`;
    return { name, message: `“${label}” ${what} (it is ${current[name]} now).` };
  }
  return null;
}

function labelOf(formEl, name) {
  return formEl.querySelector(`[data-field="${CSS.escape(name)}"] label`)?.textContent || name;
}

/** Say `message` at the top of the form and beside the field it is about, and show that
 * field: the top line is off screen from the last fields ("Most replies…" once showed
 * its error only there, out of view). */
function showError(formEl, errorBox, message, name) {
  errorBox.textContent = message;
  const box = name && formEl.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (box) {
    box.append(h("p", { class: "error hint field-error", id: `set-${name}-error`, text: message }));
    const control = markInvalid(formEl, name);
    control?.setAttribute("aria-describedby", `set-${name}-error`);
    box.scrollIntoView({ block: "center" });
  } else {
    markInvalid(formEl, null);
    errorBox.scrollIntoView({ block: "nearest" });
  }
}

/** What the Model field means for each backend (it is told again when the backend changes). */
const MODEL_HINT = {
  embedded: "Empty: the bundled model. Or the path of a GGUF model file.",
  openai: "The server's model name, e.g. llama3.1 (empty: the server's default).",
  scripted: "Not used by the scripted backend.",
};

function numberField(name, label, settings, min, max, step, help, fallback = "") {
  return field(name, label, h("input", {
    id: `set-${name}`, name, type: "number", min, max, step, value: settings[name] ?? fallback,
  }), help);
}

/** The check's problem in plain words: "the server at X did not answer: ConnectError All
 * connection attempts failed" names a library's class; say what it means instead. */
export function plainProblem(problem) {
  const text = String(problem || "");
  const quiet = text.match(/^(.*?) did not answer(?::\s*(.*))?$/s);
  if (!quiet) return text;
  const why = quiet[2] || "";
  if (/timeout|timed out/i.test(why)) return `${quiet[1]} did not answer in time`;
  return `${quiet[1]} did not answer (is it running, and is the address right?)`;
}

/** Forget what the last check said: it was about a Base URL or key no longer shown. */
function clearBackendStatus(formEl) {
  const line = $("#backend-status", formEl);
  if (!line) return;
  line.textContent = "";
  line.classList.remove("error");
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
      line.textContent = answer.ok ? "The server answers." : `Not answering: ${plainProblem(answer.problem)}`;
      line.classList.toggle("error", !answer.ok);
    }
    return answer.ok ? null : plainProblem(answer.problem);
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
      field("model", "Model", h("input", { id: "set-model", name: "model", value: settings.model ?? "", placeholder: "GGUF path or model name" }),
        MODEL_HINT[settings.backend] || " "),
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
    embedderFieldset(settings, field),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save settings")));
  const clearErrors = () => {
    errorBox.textContent = "";
    for (const old of el.querySelectorAll(".field-error")) old.remove();
    markInvalid(el, null);
  };
  // A model means something to one backend only (a GGUF path, a server's model name):
  // switching the backend shows that backend's own model, the one saved for it or none,
  // and drops what was said about the other backend's server (§7.7).
  modelOf[settings.backend] = settings.model ?? "";
  let shownBackend = settings.backend;
  el.elements.backend.addEventListener("change", () => {
    const f = el.elements;
    modelOf[shownBackend] = f.model.value;
    shownBackend = f.backend.value;
    f.model.value = modelOf[shownBackend] ?? "";
    $("#set-model-help", el).textContent = MODEL_HINT[shownBackend] || " ";
    clearBackendStatus(el);
    clearToasts("error"); // "the server did not answer" was about the backend left
    clearErrors();
  });
  for (const name of ["base_url", "api_key"]) el.elements[name].addEventListener("input", () => clearBackendStatus(el));
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const bad = badNumber(el) || embedderProblem(el);
    if (bad) { // refused here, naming the field: never sent as 0 or as a fraction
      clearBackendStatus(el);
      showError(el, errorBox, bad.message, bad.name);
      return;
    }
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
    for (const [k, v] of Object.entries(embedderValues(el))) if (v !== undefined) next[k] = v;
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
      clearBackendStatus(el); // what the last check said was about the settings before
      const name = exc.field && el.querySelector(`[data-field="${CSS.escape(exc.field)}"]`) ? exc.field : null;
      showError(el, errorBox, inLabels(el, exc), name);
    }
  });
  return el;
}

/** A settings error in the form's words: the field's label where the message starts with
 * its key, no JSON-schema detail. Only the leading key is replaced: "model is not usable:
 * give the path of a GGUF model file" once read "“Model” … a GGUF “Model” file". */
function inLabels(formEl, exc) {
  let text = String(exc.message || "").replace(/^settings: /, "");
  if (exc.field) {
    const key = exc.field;
    text = text.replace(`bad value for '${key}': `, `${key} `).replace(/ \((?:Input should|Value error)[^)]*\)$/, "");
    const label = formEl.querySelector(`[data-field="${CSS.escape(key)}"] label`)?.textContent;
    if (label && text.startsWith(`${key} `)) text = `“${label}”${text.slice(key.length)}`;
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
