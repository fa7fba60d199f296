// Building DOM safely (§12.2): every piece of user or model text becomes a text
// node. There is no innerHTML anywhere in this UI; `h` has no way to set it.

const SVG_NS = "http://www.w3.org/2000/svg";
const FORBIDDEN = new Set(["innerHTML", "outerHTML", "style", "srcdoc"]);

function applyAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (FORBIDDEN.has(key)) throw new Error(`h(): attribute ${key} is not allowed`);
    if (key === "text") {
      el.textContent = String(value);
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled" || key === "hidden") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Create an HTML element; strings among the children become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  appendChildren(el, children);
  return el;
}

/** Create an SVG element (same rules as `h`). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  appendChildren(el, children);
  return el;
}

/** Replace all children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Short local date-time for an ISO UTC string. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** A value shown in history rows and pins: text as is, anything else as JSON. */
export function show(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

let announcer = null;

/** Remove the toasts of a kind ("error"), or all of them: feedback that no longer holds. */
export function clearToasts(kind = null) {
  announcer = announcer || document.getElementById("toast");
  if (!announcer) return;
  for (const item of [...announcer.children]) {
    if (!kind || item.classList.contains(`toast-${kind}`)) item.remove();
  }
}

const MAX_TOASTS = 3;

/** Say something to screen readers and show it in the status toast. A success clears
 * the error toasts before it (they are stale now), an error the successes. */
export function notify(message, kind = "info") {
  announcer = announcer || document.getElementById("toast");
  if (!announcer) return;
  clearToasts(kind === "error" ? "info" : "error");
  // On a narrow screen the bar spans the width: put it on the half away from what the
  // person is using, so it never covers the button they just pressed.
  const active = document.activeElement;
  const rect = active && active !== document.body ? active.getBoundingClientRect() : null;
  announcer.classList.toggle("at-bottom", Boolean(rect && rect.top + rect.height / 2 < window.innerHeight / 2));
  const item = h("div", { class: ["toast", `toast-${kind}`], role: kind === "error" ? "alert" : "status" },
    String(message));
  announcer.appendChild(item);
  while (announcer.children.length > MAX_TOASTS) announcer.firstElementChild.remove();
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 3500);
}

/** Debounce `fn` by `ms`. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
