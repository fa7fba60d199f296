// Worlds (§3.5) and the persona (§3.6) in the top bar: a switcher that the chat list,
// the bots and the state panel follow; create, rename, archive and restore worlds; and
// who "you" are, asked once on first run (a banner that never blocks the page).

import { del, get, patch, post, put, setWorld, worldId } from "./api.js";
import { $, h, mount, notify } from "./dom.js";
import { emit, on, store } from "./store.js";
import { confirmDialog, modal } from "./widgets.js";

const WORLD_KEY = "kith.world";
const PERSONA_ASKED_KEY = "kith.persona-asked";

let worlds = [];

export function currentWorld() {
  return worlds.find((w) => w.id === worldId()) || null;
}

/** The world of that id (archived ones too), or null when it is not known. */
export function worldById(id) {
  return worlds.find((w) => w.id === id) || null;
}

/** Load the worlds and pick one: the one asked for, the one shown, the remembered one,
 * else the server's default (the most recently active live world), else the first. */
export async function loadWorlds(wanted = null) {
  try {
    worlds = (await get("/api/worlds?include_archived=true")) || [];
  } catch (exc) {
    notify(`Cannot load worlds: ${exc.message}`, "error");
    worlds = [];
  }
  const live = worlds.filter((w) => !w.archived);
  const pick = [wanted, worldId(), localStorage.getItem(WORLD_KEY)]
    .find((id) => id && worlds.some((w) => w.id === id && (!w.archived || id === wanted || id === worldId())));
  const fallback = live.find((w) => w.default) || live[0];
  const shown = pick || (fallback && fallback.id) || null;
  setWorld(shown);
  // Nothing remembered yet (or it was archived): the world the page opened in is the
  // person's until they pick another. Left to the server's default (the latest active,
  // which a card import's new world is), a reload after two imports landed in the last.
  const remembered = localStorage.getItem(WORLD_KEY);
  if (shown && !live.some((w) => w.id === remembered)) localStorage.setItem(WORLD_KEY, shown);
  renderSwitcher();
  await loadPersona();
  return worlds;
}

/** Show ``id``; the chat list, bots and state panel follow (``world-changed``). The page
 * opens next time in the world the person last chose (``remember``); a card import that
 * shows its new world passes ``remember: false``, so a reload does not land in it. */
export async function switchWorld(id, { quiet = false, remember = true } = {}) {
  if (id && remember) localStorage.setItem(WORLD_KEY, id);
  if (id === worldId()) return;
  setWorld(id);
  renderSwitcher();
  await loadPersona();
  if (!quiet) emit("world-changed", id);
}

function renderSwitcher() {
  const shown = currentWorld();
  store.archivedWorld = shown && shown.archived ? shown : null;
  document.body.classList.toggle("world-archived", Boolean(store.archivedWorld));
  const box = $("#world-switcher");
  if (!box) return;
  const live = worlds.filter((w) => !w.archived);
  const archived = worlds.filter((w) => w.archived);
  const option = (w) => h("option", { value: w.id, selected: w.id === worldId(),
    text: w.archived ? `${w.name} (archived)` : w.name });
  // An archived world's chats can still be read and exported (§3.5): its worlds come
  // after the live ones, marked, so they are reached from the page, not by a saved link.
  const options = live.map(option);
  if (archived.length) options.push(h("optgroup", { label: "Archived (read-only)" }, archived.map(option)));
  if (!options.length) options.push(h("option", { value: "", text: "No worlds yet" }));
  const select = h("select", { id: "world-select", "aria-label": "World", disabled: !options.length }, options);
  select.addEventListener("change", () => switchWorld(select.value || null));
  // Its name is its visible label (WCAG 2.5.3, label in name: "Manage worlds" was not what
  // a speech user sees and says); what it does is its description.
  const manage = h("button", { type: "button", id: "world-menu-btn", class: "small",
    title: "Create, rename, archive and restore worlds" }, "Worlds…");
  manage.addEventListener("click", () => manageWorlds());
  const you = h("button", { type: "button", id: "persona-btn", class: "small link", title: "Who you are in the stories" },
    `You: ${store.persona ? store.persona.name : "You"}`);
  you.addEventListener("click", () => editPersona());
  mount(box, h("label", { class: "world-label", for: "world-select", text: "World" }), select, manage, you);
  fitWorldNames();
}

/** Widen the chat list pane (wide screens, up to 340 px) so the longest world name shows
 * whole in the switcher and in the New chat form: a 165 px select cut "The Ashfall Isles
 * o…". The width goes in --side-w, which style.css reads for the pane's column. */
function fitWorldNames() {
  const select = $("#world-select");
  if (!select || !select.isConnected) return;
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = getComputedStyle(select).font;
  const widest = Math.max(0, ...[...select.options].map((o) => ctx.measureText(o.text).width));
  // the select's arrow and padding, then the pane's padding around it
  const wanted = Math.ceil(widest + 48 + 2 * 22);
  document.documentElement.style.setProperty("--side-w", `${Math.min(340, Math.max(210, wanted))}px`);
}

async function manageWorlds() {
  const list = h("ul", { class: "world-admin", "aria-label": "Worlds" });
  const fill = () => mount(list, worlds.map((w) => {
    const newName = h("input", { value: w.name, maxlength: "80", "aria-label": `Name of ${w.name}`, class: "world-rename" });
    const rename = h("button", { type: "button", class: "small", "aria-label": `Rename ${w.name}` }, "Rename");
    rename.addEventListener("click", async () => {
      const name = newName.value.trim();
      if (!name || name === w.name) return;
      try {
        await patch(`/api/worlds/${encodeURIComponent(w.id)}`, { name });
        await loadWorlds();
        fill();
      } catch (exc) {
        notify(`Cannot rename: ${exc.message}`, "error");
      }
    });
    const archive = h("button", { type: "button", class: "small", "aria-label": `${w.archived ? "Restore" : "Archive"} ${w.name}` },
      w.archived ? "Restore" : "Archive");
    archive.addEventListener("click", async () => {
      if (!w.archived && !(await confirmDialog("Archive world", `Hide ${w.name}? Nothing in it is lost; you can restore it here.`, "Archive"))) return;
      try {
        await post(`/api/worlds/${encodeURIComponent(w.id)}/${w.archived ? "restore" : "archive"}`);
        const leaving = !w.archived && w.id === worldId();
        await loadWorlds(w.archived ? w.id : null);
        if (leaving || w.archived) {
          const next = w.archived ? w.id : (worlds.find((x) => !x.archived) || {}).id || null;
          setWorld(null);
          await switchWorld(next);
        }
        fill();
      } catch (exc) {
        notify(`Cannot change the world: ${exc.message}`, "error");
      }
    });
    return h("li", { class: ["world-row", w.archived && "archived"] },
      h("span", { class: "world-name", text: w.name }), w.archived ? h("span", { class: "muted", text: " (archived)" }) : null,
      " ", newName, " ", rename, " ", archive);
  }));
  fill();
  const name = h("input", { name: "name", maxlength: "80", required: true, "aria-label": "New world name" });
  const scenario = h("textarea", { name: "scenario", rows: "2", maxlength: "20000", "aria-label": "Scenario" });
  const form = h("form", { class: "new-world", id: "new-world-form" },
    h("h3", { text: "New world" }),
    h("label", null, "Name ", name), h("label", null, "Scenario ", scenario),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Create world")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const world = await post("/api/worlds", { name: name.value.trim(), scenario: scenario.value });
      await loadWorlds();
      await switchWorld(world.id);
      form.closest("dialog").close("created");
    } catch (exc) {
      notify(`Cannot create the world: ${exc.message}`, "error");
    }
  });
  await modal("Worlds", h("div", null, list, form), { wide: true });
}

// --- persona ------------------------------------------------------------------------

async function loadPersona() {
  try {
    store.persona = await get("/api/persona");
  } catch {
    store.persona = { name: "You", description: "", scope: null };
  }
  const btn = $("#persona-btn");
  if (btn) btn.textContent = `You: ${store.persona.name}`;
  emit("persona", store.persona);
}

async function savePersona(name, description, worldOnly) {
  const body = { name, description };
  if (worldOnly && worldId()) body.world_id = worldId();
  await put("/api/persona", body);
  localStorage.setItem(PERSONA_ASKED_KEY, "1");
  await loadPersona();
  emit("state-changed", {});
}

async function editPersona() {
  const who = store.persona || { name: "You", description: "" };
  const name = h("input", { id: "persona-name", maxlength: "80", value: who.name === "You" && who.scope === null ? "" : who.name, "aria-label": "Your name" });
  const description = h("textarea", { id: "persona-description", rows: "2", maxlength: "4000", "aria-label": "About you" });
  description.value = who.description || "";
  const only = h("input", { type: "checkbox", id: "persona-world-only", checked: who.scope && who.scope === worldId() });
  const world = currentWorld();
  const form = h("form", { class: "persona-form" },
    h("label", null, "Your name ", name), h("label", null, "About you ", description),
    world ? h("label", { class: "check" }, only, ` Only in ${world.name}`) : null,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!name.value.trim()) {
      notify("Give a name.", "error");
      return;
    }
    try {
      await savePersona(name.value.trim(), description.value.trim(), only.checked);
      form.closest("dialog").close("saved");
    } catch (exc) {
      notify(`Cannot save: ${exc.message}`, "error");
    }
  });
  if (who.scope && who.scope === worldId()) {
    const back = h("button", { type: "button", class: "small" }, "Use the global persona here");
    back.addEventListener("click", async () => {
      await del(`/api/worlds/${encodeURIComponent(worldId())}/persona`);
      await loadPersona();
      back.closest("dialog").close("cleared");
    });
    form.append(back);
  }
  setTimeout(() => name.focus(), 0);
  await modal("Who are you?", form);
}

/** First run: ask once for a name, in a banner that leaves the page usable. */
export function askPersonaOnce() {
  if (!store.persona || store.persona.scope !== null || localStorage.getItem(PERSONA_ASKED_KEY)) return;
  const name = h("input", { id: "first-persona-name", maxlength: "80", placeholder: "Your name", "aria-label": "Your name" });
  const later = h("button", { type: "button", class: "small" }, "Not now");
  const bar = h("form", { id: "persona-banner", class: "persona-banner", role: "region", "aria-label": "Your name" },
    h("span", { text: "What should the characters call you? " }), name, " ",
    h("button", { type: "submit", class: "primary small" }, "Save"), " ", later);
  // Narrow screens size the chat pane from the window (it scrolls with the page there):
  // they subtract the banner's height, kept in --banner-h while it shows.
  const root = document.documentElement;
  const sized = new ResizeObserver(() => root.style.setProperty("--banner-h", `${bar.isConnected ? bar.getBoundingClientRect().height : 0}px`));
  const close = () => {
    sized.disconnect();
    bar.remove();
    root.style.removeProperty("--banner-h");
  };
  later.addEventListener("click", () => {
    localStorage.setItem(PERSONA_ASKED_KEY, "1");
    close();
  });
  bar.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!name.value.trim()) return;
    try {
      await savePersona(name.value.trim(), "", false);
      close();
      notify(`The characters will call you ${name.value.trim()}.`);
    } catch (exc) {
      notify(`Cannot save: ${exc.message}`, "error");
    }
  });
  document.querySelector("header.topbar").after(bar);
  sized.observe(bar);
}

// The first bot of a fresh data directory brings its world into being: show it.
on("bots", () => {
  if (!worlds.length) loadWorlds().catch(() => null);
});

export function liveWorlds() {
  return worlds.filter((w) => !w.archived);
}
