// Moving chats in and out (§11.5): import a SillyTavern chat file (with a progress bar
// while it uploads and is imported) and export the open chat as SillyTavern JSONL or text.

import { ApiError, download, seg, token, worldId } from "./api.js";
import { $, h, mount, notify } from "./dom.js";
import { loadChats } from "./chatlist.js";
import { botLabel, loadBots, on, store } from "./store.js";
import { modal } from "./widgets.js";
import { liveWorlds } from "./worlds.js";

/** POST a FormData with upload progress (fetch cannot report it); resolves to the JSON. */
function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-Kith-Request", "1");
    xhr.setRequestHeader("Accept", "application/json");
    if (token()) xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) onProgress(ev.loaded / ev.total);
    });
    xhr.upload.addEventListener("load", () => onProgress(1));
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const err = (body && body.error) || {};
        reject(new ApiError(xhr.status, err.code || "error", err.message || `${xhr.status} ${xhr.statusText}`, err.field));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "cannot reach the Kith server", null)));
    xhr.send(form);
  });
}

async function importChat(file) {
  await loadBots().catch(() => null);
  const bots = store.bots.filter((b) => !b.retired);
  const select = h("select", { name: "bot_id", "aria-label": "Bot the chat is with" },
    h("option", { value: "", text: "The character named in the file" }),
    bots.map((b) => h("option", { value: b.id, text: botLabel(b) })));
  const bar = h("progress", { max: 100, value: 0, "aria-label": "Import progress", hidden: true });
  const status = h("p", { class: "muted", role: "status" });
  const start = h("button", { type: "button", class: "primary" }, "Import");
  const cancel = h("button", { type: "button", dataset: { result: "cancel" } }, "Cancel");
  start.addEventListener("click", async () => {
    start.disabled = true;
    select.disabled = true;
    bar.hidden = false;
    const form = new FormData();
    form.append("file", file, file.name);
    if (select.value) form.append("bot_id", select.value);
    try {
      const chat = await upload("/api/chats/import", form, (share) => {
        bar.value = Math.round(share * 90);
        status.textContent = share < 1 ? `Uploading… ${Math.round(share * 100)}%` : "Importing messages…";
      });
      bar.value = 100;
      const world = liveWorlds().find((w) => w.id === chat.world_id);
      const where = world && chat.world_id !== worldId() ? `, in ${world.name} (its bot's world)` : "";
      notify(`Imported ${chat.messages} messages into “${chat.title}”${where}.`);
      document.querySelector("dialog.modal")?.close("done");
      await loadChats();
      location.hash = `#/chat/${encodeURIComponent(chat.id)}`;
    } catch (exc) {
      bar.hidden = true;
      status.textContent = `Import failed: ${exc.message}`;
      status.className = "error";
      start.disabled = false;
      select.disabled = false;
    }
  });
  await modal(`Import ${file.name}`, h("div", { class: "stack" },
    h("p", { class: "format-hint", text: `${FORMAT}. Swipes become alternatives; dates are kept. The chat goes into the world of the bot it is with.` }),
    wrongKind(file.name),
    h("label", { class: "field" }, h("span", { text: "Bot" }), select), bar, status), { actions: [cancel, start] });
}

const FORMAT = "Expects a SillyTavern chat file (.jsonl, one message a line)";
const CARD_NAME = /\.(png|webp|json|charx|ya?ml)$/i;

/** A line at once when the file's name is not a chat's: a character card given here was
 * found out only after Import, and the dialog named the chat format only until then.
 * The server still decides (a chat may be named anything); this only says it early. */
function wrongKind(name) {
  if (/\.jsonl$/i.test(name)) return null;
  const card = CARD_NAME.test(name);
  return h("p", { class: "warning", role: "note", text: card
    ? `“${name}” looks like a character card, not a chat: a card is imported with Import card… in Bots.`
    : `“${name}” is not a .jsonl file; Import reads it as a chat all the same.` });
}

function exportLinks(chat) {
  if (!chat) return [];
  const link = (format, label, ext) => {
    const href = `/api/chats/${seg(chat.id)}/export?format=${format}`;
    const filename = `${chat.id}.${ext}`;
    return h("a", {
      class: "button small", href, download: filename, "aria-label": `Export this chat as ${label}`,
      onclick: (ev) => {
        if (!token()) return;
        ev.preventDefault();
        download(href, filename).catch((exc) => notify(`Export failed: ${exc.message}`, "error"));
      },
    }, label);
  };
  return [h("span", { class: "muted", text: "Export:" }), link("st", "SillyTavern", "jsonl"), link("txt", "Text", "txt")];
}

export function initChatFiles() {
  const file = h("input", { type: "file", id: "chat-file", class: "sr-only", accept: ".jsonl,application/jsonl,application/x-ndjson,text/plain" });
  file.addEventListener("change", () => {
    if (file.files && file.files[0]) importChat(file.files[0]).catch((exc) => notify(exc.message, "error"));
    file.value = "";
  });
  const label = h("label", { for: "chat-file", class: "button small", tabindex: "0", role: "button",
    onkeydown: (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        file.click();
      }
    }, title: "Import a SillyTavern chat file (.jsonl)" }, "Import chat…");
  $(".chat-list-pane .pane-head")?.append(label, file);
  on("chat-opened", (chat) => {
    const box = $("#chat-files");
    if (box) mount(box, exportLinks(chat));
  });
}
