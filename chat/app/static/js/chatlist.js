// The list of chats and the "new chat with these bots" form (§4.1).

import { get, post, worldId } from "./api.js";
import { $, h, mount, notify } from "./dom.js";
import { botLabel, loadBots, nameOf, on, store } from "./store.js";
import { currentWorld, liveWorlds } from "./worlds.js";

let chats = [];

export async function loadChats() {
  try {
    chats = (await get("/api/chats")) || [];
  } catch (exc) {
    notify(`Cannot load chats: ${exc.message}`, "error");
    chats = [];
  }
  renderChats();
  return chats;
}

export function chatById(id) {
  return chats.find((c) => c.id === id) || null;
}

export function renderChats() {
  const list = $("#chat-list");
  if (!chats.length) {
    // With several worlds, an empty list must not read as "the chats are gone": name the
    // world shown and where the others are.
    const shown = currentWorld();
    if (shown && shown.archived) {  // an archived world takes no new chats (§3.5)
      mount(list, h("li", { class: "muted empty", text: `No chats in ${shown.name} (archived).` }));
      return;
    }
    const world = liveWorlds().length > 1 ? shown : null;
    mount(list, h("li", { class: "muted empty", text: world
      ? `No chats in ${world.name} yet. Start one with “New chat”, or pick another world above.`
      : "No chats yet. Start one with “New chat”." }));
    return;
  }
  mount(list, chats.map((c) => h("li", null,
    h("a", {
      href: `#/chat/${encodeURIComponent(c.id)}`,
      class: ["chat-link", c.id === store.chatId && "active"],
      "aria-current": c.id === store.chatId ? "page" : null,
    },
    h("span", { class: "chat-link-title", text: c.title }),
    h("span", { class: "chat-link-bots muted", text: (c.bot_ids || []).map(nameOf).join(", ") })))));
}

function renderWorldChoices() {
  const select = $("#new-chat-world");
  if (!select) return;
  mount(select, liveWorlds().map((w) => h("option", { value: w.id, selected: w.id === worldId(), text: w.name })));
  select.closest("label").hidden = liveWorlds().length < 2;
}

function renderBotChoices() {
  const box = $("#new-chat-bots");
  const here = new Set(store.worldBotIds || []);
  const bots = store.bots.filter((b) => !b.retired)
    .sort((a, b) => Number(!here.has(a.id)) - Number(!here.has(b.id)));  // this world's first
  if (!bots.length) {
    mount(box, h("p", { class: "muted" }, "No bots yet. ", h("a", { href: "#/bots/new", text: "Author one" }), "."));
    return;
  }
  mount(box, bots.map((b, i) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "bot_ids", value: b.id, checked: i === 0 && bots.length === 1 }),
    " ", botLabel(b), here.size && !here.has(b.id) ? h("span", { class: "muted", text: " (joins this world)" }) : null)));
}

function toggleForm(show) {
  const form = $("#new-chat-form");
  form.hidden = !show;
  $("#new-chat-btn").setAttribute("aria-expanded", String(show));
  if (show) {
    renderWorldChoices();
    renderBotChoices();
    form.querySelector("input[name=title]").focus();
  } else {
    $("#new-chat-btn").focus();
  }
}

export function initChatList() {
  $("#new-chat-btn").addEventListener("click", async () => {
    if ($("#new-chat-form").hidden) await loadBots().catch(() => null);
    toggleForm($("#new-chat-form").hidden);
  });
  $("#new-chat-cancel").addEventListener("click", () => toggleForm(false));
  $("#new-chat-form").addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") toggleForm(false);
  });
  $("#new-chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const botIds = [...form.querySelectorAll("input[name=bot_ids]:checked")].map((i) => i.value);
    if (!botIds.length) {
      notify("Choose at least one bot for the chat.", "error");
      return;
    }
    const title = form.elements.title.value.trim();
    const body = { bot_ids: botIds };
    if (title) body.title = title;
    const world = form.elements.world && form.elements.world.value;
    if (world) body.world_id = world;
    try {
      const chat = await post("/api/chats", body);
      form.reset();
      form.hidden = true;
      $("#new-chat-btn").setAttribute("aria-expanded", "false");
      location.hash = `#/chat/${encodeURIComponent(chat.id)}`;  // the route follows its world
    } catch (exc) {
      notify(`Cannot create the chat: ${exc.message}`, "error");
    }
  });
  on("bots", () => {
    renderChats();
    if (!$("#new-chat-form").hidden) renderBotChoices();
  });
}
