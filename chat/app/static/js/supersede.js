// "Superseded by": the user picks the newer memory from the same bot's memories (§5.3),
// searching by words, instead of typing an id the UI never shows.

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

/** Ask which of the owner's other memories replaces `memory`; resolves its id, or "". */
export function chooseNewer(memory) {
  const owner = nameOf(memory.owner);
  const search = h("input", { type: "search", placeholder: "Search by words", "aria-label": `Search ${owner}'s memories` });
  const list = h("ul", { class: "pick-list", "aria-label": `${owner}'s memories` });
  const status = h("p", { class: "muted count", role: "status" });
  const body = h("div", { class: "supersede-picker" },
    h("p", { class: "muted", text: `Which memory of ${owner} replaces “${shortText(memory.text, 120)}”? It stays in the list, struck through, but is no longer recalled into prompts.` }),
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
    const choices = found.filter((m) => m.id !== memory.id);
    status.textContent = choices.length ? `${choices.length} memor${choices.length === 1 ? "y" : "ies"}` : "";
    mount(list, choices.length
      ? choices.map((m) => h("li", {},
        h("button", { type: "button", class: "pick", dataset: { id: m.id }, onclick: (ev) => ev.currentTarget.closest("dialog").close(m.id) },
          h("span", { class: "pick-text", text: m.text }),
          h("span", { class: "muted pick-meta", text: `${when(m.created_at)} · ${m.id}` }))))
      : h("li", { class: "muted empty", text: q ? "No memory matches." : `${owner} has no other memory.` }));
  }
  search.addEventListener("input", debounce(load, 200));
  const cancel = h("button", { type: "button", dataset: { result: "" } }, "Cancel");
  const chosen = modal(`Superseded by…`, body, { actions: [cancel], wide: true });
  load().then(() => search.focus());
  return chosen;
}
