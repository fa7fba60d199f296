// The event log (§9.1, §11.1): every event, oldest first, paged with
// ?after=&limit=, filtered by kind; reverted events are visibly marked (§4.6).

import { get, query, seg } from "./api.js";
import { $, h, mount, notify, when } from "./dom.js";
import { chatById } from "./chatlist.js";
import { actorWord, chatName, describe } from "./eventwords.js";

let kinds = null; // every kind the server knows (GET /api/events/kinds), asked once
const titles = new Map(); // chat id -> title (null: no such chat), of chats outside the open world
const LIMIT = 50;
const page = { after: 0, kind: "", history: [] };

function isReverted(event) {
  return Boolean(event.reverted || event.reverted_by || event.status === "reverted");
}

function row(event) {
  const reverted = isReverted(event);
  const chat = (chatById(event.chat_id) && chatName(event.chat_id)) || titles.get(event.chat_id) || chatName(event.chat_id);
  return h("tr", { class: [reverted && "reverted", `ev-${event.kind}`], dataset: { id: String(event.id) } },
    h("td", { class: "num", text: String(event.id) }),
    h("td", null, h("time", { datetime: event.created_at, text: when(event.created_at) })),
    h("td", null, h("code", { text: event.kind }),
      reverted ? h("span", { class: "badge reverted-badge", title: "Undone by a rewind; kept in the log", text: "reverted" }) : null),
    h("td", { text: actorWord(event.actor, event.payload) }),
    h("td", { class: "small", text: chat, title: [event.chat_id, event.turn_id].filter(Boolean).join(" / ") }),
    h("td", null, h("span", { class: "ev-line" }, describe(event)),
      h("details", null, h("summary", { text: "JSON" }),
        h("pre", { class: "json", text: JSON.stringify(event.payload, null, 2) }))));
}

async function load() {
  const table = $("#events-body");
  let events;
  try {
    events = (await get(`/api/events${query({ after: page.after, limit: LIMIT, kind: page.kind })}`)) || [];
  } catch (exc) {
    notify(`Cannot load events: ${exc.message}`, "error");
    return;
  }
  if (Array.isArray(events.events)) events = events.events;
  await nameChats(events);
  mount(table, events.length ? events.map(row)
    : h("tr", null, h("td", { colspan: 6, class: "muted", text: "No events here." })));
  $("#events-prev").disabled = page.after === 0;
  $("#events-next").disabled = events.length < LIMIT;
  $("#events-next").dataset.after = events.length ? String(events[events.length - 1].id) : String(page.after);
  const first = events[0];
  $("#events-range").textContent = events.length
    ? `events ${first.id}–${events[events.length - 1].id}${page.kind ? ` of kind ${page.kind}` : ""}`
    : "";
}

async function latest() {
  try {
    const health = await get("/api/health");
    page.history = [];
    page.after = page.kind ? 0 : Math.max(0, (health.last_event_id || 0) - LIMIT);
  } catch {
    page.after = 0;
  }
  await load();
}

/** Name the chats a page of events mentions that the open world's list does not hold: the
 * log spans every world. Each is asked once (GET /api/chats/{id}) and kept; a page names a
 * handful. Every world's chat list was once fetched on each visit of this page. */
async function nameChats(events) {
  const unknown = new Set(events.map((e) => e.chat_id).filter((id) => id && !titles.has(id) && !chatById(id)));
  await Promise.all([...unknown].map((id) => get(`/api/chats/${seg(id)}`).then(
    (chat) => titles.set(id, chat && chat.title ? chat.title : null),
    (exc) => { if (exc.status === 404) titles.set(id, null); }, // offline: ask again next page
  )));
}

async function loadKinds() {
  if (kinds) return kinds;
  try {
    kinds = (await get("/api/events/kinds")) || [];
  } catch (exc) {
    notify(`Cannot load the event kinds: ${exc.message}`, "error");
    return [];
  }
  return kinds;
}

export async function renderEvents() {
  const view = $("#view-events");
  const known = await loadKinds();
  if (!view.dataset.ready) {
    const kind = h("select", { id: "events-kind", "aria-label": "Filter by kind" },
      h("option", { value: "" }, "All kinds"), known.map((k) => h("option", { value: k }, k)));
    kind.addEventListener("change", () => {
      page.kind = kind.value;
      page.after = 0;
      page.history = [];
      load();
    });
    const prev = h("button", { type: "button", id: "events-prev", class: "small" }, "‹ Older");
    const next = h("button", { type: "button", id: "events-next", class: "small" }, "Newer ›");
    prev.addEventListener("click", () => {
      page.after = page.history.length ? page.history.pop() : Math.max(0, page.after - LIMIT);
      load();
    });
    next.addEventListener("click", () => {
      page.history.push(page.after);
      page.after = Number(next.dataset.after || 0);
      load();
    });
    mount(view, h("div", { class: "events-wrap" },
      h("div", { class: "pane-head" }, h("h2", { text: "Event log" }),
        h("div", { class: "row" }, kind, prev, next,
          h("button", { type: "button", class: "small", onclick: () => { page.history = []; page.after = 0; load(); } }, "First"),
          h("button", { type: "button", class: "small", onclick: latest }, "Latest"),
          h("span", { id: "events-range", class: "muted", role: "status" }))),
      h("table", { class: "events" },
        h("thead", null, h("tr", null, ["#", "When", "Kind", "Who", "Chat", "What happened"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", { id: "events-body" }))));
    view.dataset.ready = "1";
    await latest();
    return;
  }
  await load();
}
