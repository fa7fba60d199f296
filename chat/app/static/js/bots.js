// The Bots section (§3): list, author and revise every field, import a
// character card, export it as V2/V3 JSON or PNG, retire.

import { api, del, download, patch, post, query, seg, showImage, token, worldId } from "./api.js";
import { $, h, mount, notify } from "./dom.js";
import { avatarSrc, botFields, changedFields, markInvalid, readBot } from "./botform.js";
import { loadBots, store } from "./store.js";
import { lorePanel } from "./lore.js";
import { confirmDialog, modal } from "./widgets.js";
import { currentWorld, liveWorlds, loadWorlds, switchWorld } from "./worlds.js";

let currentId = null;

function exportLink(bot, format, label) {
  const ext = format === "png" ? "png" : "json";
  // The character book is the bot's lore in the world shown, when it takes part in it.
  const here = worldId() && (!store.worldBotIds || store.worldBotIds.includes(bot.id)) ? worldId() : "";
  const href = `/api/bots/${seg(bot.id)}/card${query({ format, world: here })}`;
  const filename = `${bot.id}${format === "png" ? "" : `.${format}`}.${ext}`;
  return h("a", {
    class: "button small", href, download: filename, "aria-label": `Export ${bot.name} as ${label}`,
    onclick: (ev) => {
      if (!token()) return; // a plain link works without a token
      ev.preventDefault();
      download(href, filename).catch((exc) => notify(`Export failed: ${exc.message}`, "error"));
    },
  }, label);
}

function botList() {
  const showRetired = $("#show-retired")?.checked;
  const everywhere = $("#all-worlds")?.checked;
  const here = store.worldBotIds ? new Set(store.worldBotIds) : null;
  const bots = store.bots.filter((b) => (showRetired || !b.retired) && (everywhere || !here || here.has(b.id)));
  if (!bots.length) return h("p", { class: "muted", text: "No bots yet. Author one, or import a character card." });
  return h("ul", { class: "nav-list bot-list" }, bots.map((b) => h("li", null,
    h("a", {
      href: `#/bots/${encodeURIComponent(b.id)}`, class: ["bot-link", b.id === currentId && "active"],
      "aria-current": b.id === currentId ? "page" : null,
    },
    showImage(h("img", { class: "avatar-small", alt: "", width: 28, height: 28 }), avatarSrc(b)),
    h("span", { class: "bot-name", text: b.name }),
    b.retired ? h("span", { class: "badge", text: "retired" }) : null,
    h("span", { class: "muted bot-traits", text: (b.traits || []).join(", ") })))));
}

/** Where a new bot goes (§3.5): said, and chosen when there are several worlds; by
 * default the world shown. It once went silently to the world of the last card import. */
function worldField() {
  const live = liveWorlds();
  if (!live.length) return null; // the first bot brings the first world into being
  const here = live.find((w) => w.id === worldId()) || live[0];
  if (live.length === 1) {
    return h("p", { class: "muted hint bot-world-hint", id: "bot-world-hint", text: `It joins the world ${here.name}.` });
  }
  return h("div", { class: "field bot-world", dataset: { field: "world_id" } },
    h("label", { for: "bot-world", text: "World" }),
    h("select", { id: "bot-world", name: "world_id", "aria-describedby": "bot-world-hint" },
      live.map((w) => h("option", { value: w.id, selected: w.id === here.id, text: w.name }))),
    h("p", { class: "muted hint", id: "bot-world-hint", text: "The world it joins; it can take part in others later, in a chat there." }));
}

function editor(bot) {
  const errorBox = h("div", { class: "form-error", role: "alert" });
  const form = h("form", { class: "bot-form", "aria-label": bot ? `Edit ${bot.name}` : "New bot", novalidate: true },
    h("h2", { text: bot ? bot.name : "New bot", tabindex: "-1", class: "form-title" }),
    bot && bot.retired ? h("p", { class: "badge", text: "This bot is retired; its history stays." }) : null,
    creatorNotes(bot),
    errorBox,
    bot ? null : worldField(),
    botFields(bot),
    h("div", { class: "row form-actions" },
      h("button", { type: "submit", class: "primary" }, bot ? "Save changes" : "Create bot"),
      bot ? h("span", { class: "export", role: "group", "aria-label": "Export card" },
        h("span", { class: "muted", text: "Export:" }),
        exportLink(bot, "v2", "V2 JSON"), exportLink(bot, "v3", "V3 JSON"), exportLink(bot, "png", "PNG")) : null,
      bot && !bot.retired ? h("button", { type: "button", class: "danger", onclick: () => retire(bot) }, "Retire") : null));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.textContent = "";
    const next = readBot(form);
    try {
      let saved;
      if (bot) {
        const changes = changedFields(bot, next);
        if (!Object.keys(changes).length) {
          notify("Nothing changed.");
          return;
        }
        saved = await patch(`/api/bots/${seg(bot.id)}`, changes);
      } else {
        const into = form.elements.world_id?.value || (liveWorlds().length ? worldId() : null);
        saved = await post("/api/bots", into ? { ...next, world_id: into } : next);
        if (into) await switchWorld(into, { quiet: true }); // chosen: shown, and remembered
      }
      const where = !bot && liveWorlds().length > 1 && currentWorld() ? ` in ${currentWorld().name}` : "";
      notify(bot ? `Saved ${saved.name}.` : `Created ${saved.name}${where}.`);
      await loadBots();
      if (bot) {
        showBot(saved.id);
        $("#bot-editor .form-title")?.focus();
      }
      else location.hash = `#/bots/${encodeURIComponent(saved.id)}`;
    } catch (exc) {
      errorBox.textContent = exc.message;
      markInvalid(form, exc.field);
    }
  });
  return form;
}

async function retire(bot) {
  if (!(await confirmDialog("Retire bot", `Retire ${bot.name}? It leaves the bot list; its chats, memories and history stay.`, "Retire"))) return;
  try {
    await del(`/api/bots/${seg(bot.id)}`);
    notify(`${bot.name} retired.`);
    await loadBots();
    location.hash = "#/bots";
  } catch (exc) {
    notify(`Cannot retire: ${exc.message}`, "error");
  }
}

/** The card's notes for people (§3.4.1): shown, never prompted. */
function creatorNotes(bot) {
  const notes = bot && bot.card && typeof bot.card.creator_notes === "string" ? bot.card.creator_notes.trim() : "";
  if (!notes) return null;
  return h("section", { class: "creator-notes", "aria-label": "Creator's notes" },
    h("h3", { text: "Creator's notes" }), h("p", { text: notes }));
}

/** A card that matches a bot: ask whether to update that bot or add a copy. */
async function askConflict(match) {
  const update = h("button", { type: "button", class: "primary", dataset: { result: "update", autofocus: "" } }, "Update it from the card");
  const copy = h("button", { type: "button", dataset: { result: "copy" } }, "Import as a new bot");
  const cancel = h("button", { type: "button", dataset: { result: "" } }, "Cancel");
  const text = `This card matches the bot '${match.name}' (id ${match.id}). Update that bot from the card, or import it as a new bot?`;
  return modal("This card is already here", h("p", { text }), { actions: [cancel, copy, update] });
}

function cardForm(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return form;
}

/** Import a card; when it matches a bot (asked first, so no request fails), ask what to do. */
async function importCard(file) {
  try {
    let onConflict = "copy";
    const checked = await api("POST", "/api/bots/import/check", { form: cardForm(file) });
    if (checked.matches) {
      onConflict = await askConflict(checked.matches);
      if (onConflict !== "update" && onConflict !== "copy") return;
    }
    const into = $("#import-into")?.value || "";  // "": a new world named after the character
    const path = `/api/bots/import${query({ on_conflict: onConflict, world: into })}`;
    const bot = await api("POST", path, { form: cardForm(file) });
    const known = new Set(liveWorlds().map((w) => w.id));
    await loadWorlds();
    // Shown now, but not remembered: a reload opens the world last picked, not the last import's.
    if (bot.world_id) await switchWorld(bot.world_id, { quiet: true, remember: false });
    const world = currentWorld();
    const where = world && world.id === bot.world_id
      ? `${known.has(world.id) ? " into" : " into a new world,"} ${world.name}, shown now` : "";
    notify(onConflict === "update" ? `Updated ${bot.name} from the card.` : `Imported ${bot.name}${where}.`);
    await loadBots();
    location.hash = `#/bots/${encodeURIComponent(bot.id)}`;
  } catch (exc) {
    notify(`Import failed: ${exc.message}`, "error");
  }
}

function showBot(id) {
  currentId = id;
  const bot = id === "new" ? null : store.bots.find((b) => b.id === id) || null;
  mount($("#bots-list"), botList());
  if (id && id !== "new" && !bot) {
    mount($("#bot-editor"), h("p", { class: "error", text: `No bot with id ${id}.` }));
    return;
  }
  // The lore of the world shown: the bot's book here, or (no bot picked) the world's own.
  const lore = bot ? lorePanel(bot) : (id ? null : lorePanel(null));
  mount($("#bot-editor"), id ? editor(bot) : h("p", { class: "muted", text: "Pick a bot to edit, author a new one, or import a card." }), lore);
  $("#bot-editor").scrollTop = 0;
}

/** Render the Bots view for route `#/bots/<id>` (id may be "new" or empty). */
export async function renderBots(id) {
  const view = $("#view-bots");
  if (!view.dataset.ready) {
    const file = h("input", { type: "file", id: "card-file", class: "sr-only", accept: ".json,.png,application/json,image/png" });
    file.addEventListener("change", () => {
      if (file.files && file.files[0]) importCard(file.files[0]);
      file.value = "";
    });
    mount(view,
      h("aside", { class: "bots-pane", "aria-label": "Bot list" },
        h("div", { class: "pane-head" }, h("h2", { text: "Bots" }),
          h("a", { href: "#/bots/new", class: "button primary small" }, "New bot")),
        h("p", { id: "bots-world", class: "bots-world" }),
        h("div", { class: "row" },
          h("label", { for: "card-file", class: "button small", tabindex: "0", role: "button",
            onkeydown: (ev) => {
              if (ev.key === "Enter" || ev.key === " ") {
                ev.preventDefault();
                file.click();
              }
            } }, "Import card…"), file,
          h("label", { class: "muted" }, "into ", h("select", { id: "import-into", "aria-label": "Import the card into" },
            h("option", { value: "", text: "a new world" })))),
        h("label", { class: "check muted" },
          h("input", { type: "checkbox", id: "show-retired", onchange: () => mount($("#bots-list"), botList()) }), " show retired"),
        h("label", { class: "check muted" },
          h("input", { type: "checkbox", id: "all-worlds", onchange: () => mount($("#bots-list"), botList()) }), " all worlds"),
        h("div", { id: "bots-list" })),
      h("section", { id: "bot-editor", class: "bot-editor", "aria-label": "Bot editor" }));
    view.dataset.ready = "1";
  }
  try {
    await loadBots();
  } catch (exc) {
    notify(`Cannot load bots: ${exc.message}`, "error");
  }
  const world = currentWorld();
  // Which world's bots these are, said here too (the switcher is on the Chat page).
  mount($("#bots-world"), world ? ["World: ", h("strong", { text: world.name })] : null);
  mount($("#import-into"), h("option", { value: "", text: "a new world" }),
    world ? h("option", { value: world.id, text: world.name }) : null);
  showBot(id || null);
}
