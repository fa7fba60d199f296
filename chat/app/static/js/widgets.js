// Small shared pieces: modal dialogs, confirmation, inline editing of one field,
// pin badges and the per-item change history (§6.1, §6.2, §6.4).

import { get, inFieldWords, post, seg } from "./api.js";
import { h, mount, notify, show, when } from "./dom.js";
import { icon } from "./icons.js";
import { emit, store } from "./store.js";
import { whoChanged, whoTitle } from "./who.js";

/** Show a modal <dialog> with a title and body; resolves when it closes. */
export function modal(title, body, { actions = [], wide = false } = {}) {
  return new Promise((resolve) => {
    const closeBtn = h("button", { type: "button", class: "icon", "aria-label": "Close dialog" }, icon("close"));
    const dialog = h("dialog", { class: ["modal", wide && "wide"], "aria-label": title },
      h("header", { class: "modal-head" }, h("h2", { text: title }), closeBtn),
      h("div", { class: "modal-body" }, body),
      actions.length ? h("footer", { class: "modal-actions" }, actions) : null);
    closeBtn.addEventListener("click", () => dialog.close(""));
    for (const btn of actions) {
      if (btn.dataset.result !== undefined) btn.addEventListener("click", () => dialog.close(btn.dataset.result));
    }
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    const bodyEl = dialog.querySelector(".modal-body");
    if (bodyEl.scrollHeight > bodyEl.clientHeight + 1 || bodyEl.scrollWidth > bodyEl.clientWidth + 1) {
      bodyEl.tabIndex = 0; // a scrolling body must be reachable by keyboard to scroll it
      bodyEl.setAttribute("aria-label", title);
    }
    const first = actions.find((b) => b.dataset.autofocus !== undefined);
    if (first) first.focus();
  });
}

/** Ask yes/no in a dialog; resolves true on confirm. */
export async function confirmDialog(title, message, confirmLabel = "Confirm", danger = true) {
  const yes = h("button", { type: "button", class: danger ? "danger" : "primary", dataset: { result: "yes" } }, confirmLabel);
  const no = h("button", { type: "button", dataset: { result: "no", autofocus: "" } }, "Cancel");
  const result = await modal(title, h("p", { text: message }), { actions: [no, yes] });
  return result === "yes";
}

// --- pins --------------------------------------------------------------------

let pins = new Set();

/** Reload the set of pinned fields (GET /api/pins); quietly empty when unavailable. */
export async function loadPins() {
  try {
    const list = await get("/api/pins");
    pins = new Set((list || []).map((p) => `${p.target_type}\u0000${p.target_id}\u0000${p.field}`));
  } catch {
    pins = new Set();
  }
}

export function isPinned(type, id, field) {
  return pins.has(`${type}\u0000${id}\u0000${field}`);
}

/** A pin badge when the field is pinned by a manual edit, else null; activating it unpins. */
export function pinBadge(type, id, field) {
  if (!isPinned(type, id, field)) return null;
  if (store.archivedWorld) { // read-only: it says the field is pinned, and unpins nothing
    return h("span", { class: ["pin", "pin-read-only"], title: "Pinned: you set this, so extraction leaves it alone." },
      icon("pin"), h("span", { class: "pin-word", text: "pinned" }));
  }
  return h("button", {
    type: "button", class: ["icon", "pin"], title: "Pinned: you set this, so extraction leaves it alone. Click to unpin.",
    "aria-label": `${field} is pinned; unpin it`,
    onclick: async () => {
      const ok = await confirmDialog("Unpin", `Unpin ${field}? Extraction may change it again after later turns.`, "Unpin", false);
      if (!ok) return;
      try {
        await post("/api/edits", { target_type: type, target_id: id, field, action: "unpin" });
        await loadPins();
        notify(`${field} unpinned.`);
        emit("state-changed");
      } catch (exc) {
        notify(`Cannot unpin: ${exc.message}`, "error");
      }
    },
  }, icon("pin"), h("span", { class: "pin-word", text: "pinned" }));
}

// --- history -----------------------------------------------------------------

/** Show who changed an item, when, and from what to what. */
export async function showHistory(type, id, title) {
  let rows;
  try {
    rows = await get(`/api/items/${seg(type)}/${seg(id)}/history`);
  } catch (exc) {
    notify(`Cannot load history: ${exc.message}`, "error");
    return;
  }
  const table = h("table", { class: "history" },
    h("thead", null, h("tr", null, h("th", { text: "When" }), h("th", { text: "Who" }),
      h("th", { text: "Field" }), h("th", { text: "From" }), h("th", { text: "To" }))),
    h("tbody", null, (rows || []).map((r) => {
      const who = whoChanged(r.actor, r.source);
      return h("tr", { class: `actor-${who}` },
      h("td", { text: when(r.created_at) }),
      h("td", null, h("span", { class: ["who", `who-${who}`], text: who, title: whoTitle(who) })),
      h("td", { text: r.field }),
      h("td", { class: "old", text: show(r.old) }),
      h("td", { class: "new", text: show(r.new) }));
    })));
  const body = rows && rows.length ? table : h("p", { class: "muted", text: "No changes recorded yet." });
  await modal(`History: ${title}`, body, { wide: true });
}

export function historyButton(type, id, title) {
  return h("button", {
    type: "button", class: "icon", title: "History", "aria-label": `History of ${title}`,
    onclick: () => showHistory(type, id, title),
  }, icon("history"));
}

// --- inline editing ----------------------------------------------------------

/**
 * One editable field: shows the value as a button; activating it opens an
 * input. Enter saves (Shift+Enter is a newline in multi-line fields), Esc
 * cancels, leaving the field saves. `onSave(value)` returns a Promise.
 */
let errorCount = 0;

export function editable({ label, value, type = "text", options = [], onSave, format = show, min, max, step }) {
  const wrap = h("span", { class: ["editable", `editable-${type}`] });
  const render = (current) => {
    const shown = format(current);
    const seen = shown === "" ? h("span", { class: "muted", text: "(empty)" }) : shown;
    if (store.archivedWorld) { // an archived world's values are read, not edited (§3.5)
      return mount(wrap, h("span", { class: "editable-value read-only", title: `${label} (read-only: the world is archived)` }, seen));
    }
    const btn = h("button", {
      type: "button", class: "editable-value", "aria-label": `Edit ${label}: ${shown === "" ? "(empty)" : shown}`,
      dataset: { focusKey: `edit ${label}` }, title: `Edit ${label}`, onclick: () => open(current),
    }, seen);
    mount(wrap, btn);
    return btn;
  };
  const open = (current) => {
    let input;
    if (type === "textarea") {
      // tall enough for the text (a long memory opened in three lines, scrolled)
      const text = String(current ?? "");
      const rows = Math.min(10, Math.max(3, Math.ceil(text.length / 45) + text.split("\n").length - 1));
      input = h("textarea", { rows, "aria-label": label, value: text });
    } else if (type === "select") {
      input = h("select", { "aria-label": label },
        options.map((o) => h("option", { value: o, selected: o === current }, o)));
    } else {
      input = h("input", { type, "aria-label": label, value: current ?? "", min, max, step });
    }
    let done = false;
    /** Say what is wrong beside the field, in its words (a toast far off named the API's key). */
    const refuse = (text) => {
      wrap.querySelector(".field-error")?.remove();
      const id = `edit-error-${++errorCount}`;
      wrap.append(h("span", { class: "error hint field-error", role: "alert", id, text: text.charAt(0).toUpperCase() + text.slice(1) }));
      input.disabled = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", id);
      done = false;
      input.focus();
    };
    const finish = async (save) => {
      if (done) return;
      done = true;
      let next = type === "number" ? Number(input.value) : input.value;
      if (!save || next === current || (type === "number" && input.value === "")) {
        render(current).focus();
        return;
      }
      const outside = type === "number" && min !== undefined && max !== undefined &&
        (!(next >= min && next <= max) || (step === 1 && !Number.isInteger(next)));
      if (outside) {
        const name = String(label).replace(/\s*\([^)]*\)$/, "");
        refuse(`${name.charAt(0).toUpperCase()}${name.slice(1)} is ${step === 1 ? "a whole number" : "a number"} from ${min} to ${max}.`);
        return;
      }
      input.disabled = true;
      try {
        const saved = await onSave(next);
        next = saved === undefined ? next : saved;
        render(next).focus();
        emit("state-changed");
      } catch (exc) {
        refuse(inFieldWords(label, exc.message));
      }
    };
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        finish(false);
      } else if (ev.key === "Enter" && !(type === "textarea" && ev.shiftKey)) {
        ev.preventDefault();
        finish(true);
      }
    });
    input.addEventListener("blur", () => finish(true));
    // In a text box Enter would be a new line anywhere else: say how this one saves.
    const hint = type === "textarea"
      ? h("span", { class: "muted hint edit-keys", id: `edit-keys-${++errorCount}`, text: "Enter saves · Shift+Enter: new line · Esc cancels" })
      : null;
    if (hint) input.setAttribute("aria-describedby", hint.id);
    mount(wrap, input, hint);
    input.focus();
    if (input.select && type !== "select") input.select();
  };
  render(value);
  return wrap;
}
