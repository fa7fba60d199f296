// Entry point: asks for the access token when the server wants one (§12.1),
// routes between the sections by URL hash, and keeps the health line current.
// GET /api/auth (public) says first whether a token is needed, so the UI asks
// before any request fails; a 401 later on (a changed token) still asks.

import { get, onUnauthorized, onWriteSucceeded, seg, setToken, worldId } from "./api.js";
import { renderBots } from "./bots.js";
import { initChat, openChat } from "./chat.js";
import { initChatFiles } from "./chatfiles.js";
import { initChatList, loadChats } from "./chatlist.js";
import { $, clearToasts, h, notify } from "./dom.js";
import { renderEvents } from "./events.js";
import { renderSettings } from "./settings.js";
import { initStatePanel } from "./statepanel.js";
import { emit, loadBots, loadEntities, on, store } from "./store.js";
import { modal } from "./widgets.js";
import { askPersonaOnce, loadWorlds, switchWorld } from "./worlds.js";

let asking = null;

/** Ask for the access token once, however many requests got a 401 meanwhile. */
function askToken(rejected = false) {
  if (asking) return asking;
  const input = h("input", { type: "password", id: "token-input", autocomplete: "off", "aria-label": "Access token" });
  const ok = h("button", { type: "submit", class: "primary" }, "Continue");
  const body = h("form", { class: "token-form", method: "dialog" },
    h("p", { text: "This Kith server needs an access token (the one it was started with). It is kept for this browser tab only." }),
    rejected ? h("p", { class: "error", role: "alert", text: "That token was not accepted; try again." }) : null,
    h("label", { for: "token-input", text: "Access token" }), input, h("div", { class: "row" }, ok));
  body.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    body.closest("dialog").close("ok");
  });
  asking = modal("Access token needed", body).then((result) => {
    asking = null;
    return result === "ok" && input.value.trim() ? input.value.trim() : null;
  });
  setTimeout(() => input.focus(), 0);
  return asking;
}

/** Before any other call: ask for the token until the server takes it (or the person
 * dismisses the prompt, and the later 401s ask again). */
async function ensureToken() {
  let rejected = false;
  for (;;) {
    let auth;
    try {
      auth = await get("/api/auth");
    } catch {
      return; // the server is away; the health line says so
    }
    if (!auth.token_required || auth.authenticated) return;
    if (!(await askToken(rejected))) return;
    rejected = true;
  }
}

async function refreshHealth() {
  const box = $("#health");
  try {
    const health = await get("/api/health");
    box.textContent = `${health.backend || "?"} · event ${health.last_event_id ?? "?"}`;
    box.title = `status ${health.status}; projected up to event ${health.projected_event_id}`;
    box.classList.toggle("bad", health.status !== "ok");
    return true;
  } catch (exc) {
    box.textContent = "offline";
    box.title = exc.message;
    box.classList.add("bad");
    return false;
  }
}

const VIEWS = ["chat", "bots", "events", "settings"];

async function route() {
  if (!isRoute(location.hash)) {
    if (document.body.dataset.view) return; // an anchor within the open view
    history.replaceState(null, "", "#/chat");
  }
  const hash = location.hash;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const view = VIEWS.includes(parts[0]) ? parts[0] : "chat";
  for (const name of VIEWS) $(`#view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll(".tabs a")) {
    const on = link.dataset.view === view;
    link.classList.toggle("active", on);
    if (on) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.view = view;
  refreshHealth();
  if (view === "chat") {
    if (parts[1]) await followChat(parts[1]);
    const chats = await loadChats();
    const id = parts[1] || (chats[0] && chats[0].id) || null;
    if (location.hash !== hash) return; // the user went elsewhere while the chats loaded
    if (!parts[1] && id) {
      history.replaceState(null, "", `#/chat/${encodeURIComponent(id)}`);
    }
    await openChat(id);
  } else if (view === "bots") {
    await renderBots(parts[1] || "");
  } else if (view === "events") {
    await Promise.all([loadChats(), loadEntities()].map((p) => p.catch(() => null))); // names, not ids
    await renderEvents();
  } else {
    await renderSettings();
  }
}

/** A chat opened by its address shows its own world (the switcher follows the chat). */
async function followChat(chatId) {
  try {
    const chat = await get(`/api/chats/${seg(chatId)}`);
    if (chat && chat.world_id && chat.world_id !== worldId()) {
      await switchWorld(chat.world_id, { quiet: true });
    }
  } catch {
    // an unknown chat: openChat says so
  }
}

/** The skip link moves focus to the open chat's composer. Its href is only a fallback:
 * followed, "#composer-input" would be read as a route and open the newest chat, so a
 * keyboard user could post into the wrong chat (issue 14). */
function initSkipLink() {
  const link = document.querySelector("a.skip");
  link?.addEventListener("click", (ev) => {
    ev.preventDefault();
    const input = $("#composer-input");
    if ($("#view-chat").hidden) location.hash = store.chatId ? `#/chat/${encodeURIComponent(store.chatId)}` : "#/chat";
    setTimeout(() => input.focus(), 0);
  });
}

/** A hash that is no route (an in-page anchor) leaves the open view alone. */
function isRoute(hash) {
  return hash === "" || hash === "#" || hash.startsWith("#/");
}

async function start() {
  onUnauthorized(askToken);
  onWriteSucceeded(() => clearToasts("error")); // an error toast is stale once a change went through
  initSkipLink();
  initChatList();
  initChatFiles();
  initChat();
  initStatePanel();
  await ensureToken();
  await refreshHealth();
  await loadWorlds();
  askPersonaOnce();
  on("world-changed", async (id) => {
    // Each await below may outlive the user's next step (another world picked, another
    // tab opened); a stale switch must not pull the page back to the chat view.
    const hash = location.hash;
    const current = () => worldId() === id && location.hash === hash;
    await loadBots().catch(() => null);
    if (!current()) return;
    if (document.body.dataset.view === "chat") {
      const chats = await loadChats();
      if (!current()) return;
      location.hash = chats[0] ? `#/chat/${encodeURIComponent(chats[0].id)}` : "#/chat";
      if (!chats[0]) await openChat(null);
    } else if (document.body.dataset.view === "bots") {
      await renderBots("");
    }
    emit("state-changed", {});
  });
  try {
    await loadBots();
  } catch (exc) {
    notify(`Cannot load bots: ${exc.message}`, "error");
  }
  window.addEventListener("hashchange", route);
  on("state-changed", refreshHealth);
  on("settings-changed", refreshHealth); // the header names the backend in use
  await route();
  document.body.dataset.ready = "1";
}

start();
