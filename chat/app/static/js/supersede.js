// "Superseded by": the user picks the newer memory from the same bot's memories (§5.3),
// searching by words, instead of typing an id the UI never shows. Only sensible choices
// are offered: memories written after this one that are still recalled themselves (an
// older one cannot replace it; a superseded one is no longer recalled, and the one this
// memory already replaces would make the two supersede each other, which the server
// refuses). Each choice reads as its text, kind and date, never its id.

import { get, query } from "./api.js";
import { debounce, h, mount, when } from "./dom.js";
import { nameOf } from "./store.js";
import { modal } from "./widgets.js";

/** Up to `limit` characters of `text`, cut at a word with "…". */
export function shortText(text, limit = 90) {
  if (!text || text.length <= limit) return text || "";
  const cut = text.slice(0, limit);
  const space = cut.lastIndexOf(" ");
  return `${space > limit / 2 ? cut.slice(0, space) : cut}…`;
}

/** Whether `m` may replace `memory`: another memory of the same bot, written after it,
 * not superseded itself. */
export function replaces(m, memory) {
  return m.id !== memory.id && m.owner === memory.owner && !m.superseded_by &&
    (m.event_id === undefined || memory.event_id === undefined || m.event_id > memory.event_id);
}

/** Ask which of the owner's other memories replaces `memory`; resolves its id, or "". */
export function chooseNewer(memory) {
  const owner = nameOf(memory.owner);
  const search = h("input", { type: "search", placeholder: "Search by words", "aria-label": `Search ${owner}'s memories` });
  const list = h("ul", { class: "pick-list", "aria-label": `${owner}'s memories` });
  const status = h("p", { class: "muted count", role: "status" });
  const body = h("div", { class: "supersede-picker" },
    h("p", { class: "muted", text: `Which newer memory of ${owner} replaces “${shortText(memory.text, 120)}”? It stays in the list, struck through, but is no longer recalled into prompts.` }),
    search, status, list);

  async function load() {
    const q = search.value.trim();
    let found;
    try {
      found = (await get(`/api/memories${query({ owner: memory.owner, q, limit: 60 })}`)) || [];
    } catch (exc) {
      mount(list, h("li", { class: "error", text: `Cannot load memories: ${exc.message}` }));
      return;
    }
    if (search.value.trim() !== q) return; // a newer search owns the list
    const choices = found.filter((m) => replaces(m, memory));
    const n = choices.length;
    status.textContent = n ? `${n} newer memor${n === 1 ? "y" : "ies"}${q ? " match" + (n === 1 ? "es" : "") : ""}` : "";
    mount(list, n
      ? choices.map((m) => h("li", {},
        h("button", { type: "button", class: "pick", dataset: { id: m.id }, onclick: (ev) => ev.currentTarget.closest("dialog").close(m.id) },
          h("span", { class: "pick-text", text: m.text }),
          h("span", { class: "muted pick-meta", text: `${m.kind} · ${when(m.created_at)}` }))))
      : h("li", { class: "muted empty", text: q
        ? "No newer memory matches."
        : `${owner} has no memory newer than this one that is still recalled. Add the one that replaces it first (Add memory), then mark this one.` }));
  }
  search.addEventListener("input", debounce(load, 200));
  const cancel = h("button", { type: "button", dataset: { result: "" } }, "Cancel");
  const chosen = modal(`Superseded by…`, body, { actions: [cancel], wide: true });
  load().then(() => search.focus());
  return chosen;
}
