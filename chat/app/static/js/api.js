// The HTTP API client (§11.2): JSON in and out, the anti-forgery header on every
// request (§12.4), and the access token from sessionStorage when the server asks
// for one (§12.1). Errors arrive as `{error: {code, message, field?}}`.

const TOKEN_KEY = "kith.token";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

let askForToken = null;

// --- the world the UI shows (§3.5) --------------------------------------------------
// Every state read and edit is scoped to one world: `?world=ID` on the state paths,
// `world_id` in the bodies that create chats and manual edits. Kept here, below every
// view, so no view can forget it.

let currentWorld = null;

export function setWorld(id) {
  currentWorld = id || null;
}

export function worldId() {
  return currentWorld;
}

const SCOPED_PATHS = /^\/api\/(entities|edges|memories|world|pins|items|persona)(\/|\?|$)/;

function scopedPath(method, path) {
  if (!currentWorld || /[?&]world=/.test(path)) return path;
  const scoped = SCOPED_PATHS.test(path) && !(path.startsWith("/api/persona") && method !== "GET");
  const chatList = method === "GET" && /^\/api\/chats(\?|$)/.test(path);
  if (!scoped && !chatList) return path;
  return `${path}${path.includes("?") ? "&" : "?"}world=${encodeURIComponent(currentWorld)}`;
}

function scopedBody(method, path, body) {
  if (!currentWorld || method !== "POST" || !body || typeof body !== "object" || "world_id" in body) return body;
  if (path === "/api/chats" || (path === "/api/edits" && body.target_type !== "bot")) {
    return { ...body, world_id: currentWorld };
  }
  return body;
}

/** Register the function that asks the person for a token (returns a Promise<string|null>). */
export function onUnauthorized(fn) {
  askForToken = fn;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const out = { "X-Kith-Request": "1", Accept: "application/json", ...extra };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

/** Settings named the way the web UI names them (the server's messages name the
 * environment variables a terminal user sets). */
const SETTING_WORDS = {
  BASE_URL: "the Base URL in Settings", API_KEY: "the API key in Settings", MODEL: "the Model in Settings",
  BACKEND: "the Backend in Settings", REQUEST_TIMEOUT_S: "request_timeout_s in kith.toml",
  N_CTX: "n_ctx in kith.toml", TOKEN: "the server's access token",
};

/** An error message in the UI's words: no environment variable names, no CLI flags, no
 * API routes or terminal commands (the server's messages name them for API and CLI users:
 * "(DELETE /api/world/weather)", "(Worlds panel, POST /api/worlds/x/restore or `kith
 * worlds restore x`)" read "(Worlds panel)" here). */
export function uiWords(message) {
  return String(message ?? "")
    .replace(/--[a-z][a-z-]*(?: PATH)? \(or KITH_([A-Z_]+)\)/g, (_, name) => SETTING_WORDS[name] || `${name.toLowerCase()} in kith.toml`)
    .replace(/KITH_([A-Z_]+)(?: or --[a-z][a-z-]*)?/g, (_, name) => SETTING_WORDS[name] || `${name.toLowerCase()} in kith.toml`)
    .replace(/ ?\(([^()]*)\)/g, (whole, inner) => {
      const parts = inner.split(/, | or /);
      const kept = parts.filter((part) => !ROUTE.test(part.trim().replace(/^or /, "")));
      if (kept.length === parts.length) return whole;
      return kept.length ? ` (${kept.join(", ")})` : "";
    });
}

/** An API route or a terminal command, as the server's messages quote them. */
const ROUTE = /^(?:(?:GET|POST|PUT|PATCH|DELETE) \/api\/\S*|`kith [^`]*`)$/;

/** An error about one field, in that field's words: "memory.importance: must be 10 or
 * less" (the API names fields by their keys) reads "Importance must be 10 or less". A
 * message that names no field key is left as it is. */
export function inFieldWords(label, message) {
  const text = uiWords(message);
  const match = /^(?:invalid value for )?[a-z_]+(?:\.[a-z_]+)*: (.+)$/s.exec(text);
  if (!match) return text;
  const name = String(label).replace(/\s*\([^)]*\)$/, "");
  const rule = match[1];
  const said = /^(must|is|needs|cannot|has) /.test(rule) ? `${name} ${rule}` : `${name}: ${rule}`;
  return said.charAt(0).toUpperCase() + said.slice(1);
}

let onWriteOk = () => {};

/** Register what happens after any change the server accepted (stale error toasts go). */
export function onWriteSucceeded(fn) {
  onWriteOk = fn;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const err = body && body.error;
  if (err && typeof err === "object") {
    return new ApiError(response.status, err.code || "error", uiWords(err.message || response.statusText), err.field);
  }
  const detail = body && body.detail;
  if (Array.isArray(detail) && detail.length) {
    const first = detail[0];
    const where = (first.loc || []).filter((p) => p !== "body").join(".");
    return new ApiError(response.status, "validation_failed", `${where}: ${first.msg}`, where || null);
  }
  const message = typeof detail === "string" ? detail : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, "error", message, null);
}

/**
 * Call the API. `body` is sent as JSON; `form` (a FormData) as multipart.
 * Returns the parsed JSON, or null for 204. A 401 asks for the token once and retries.
 */
export async function api(method, path, { body, form, retried = false } = {}) {
  body = scopedBody(method, path, body);
  path = scopedPath(method, path);
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (form) init.body = form;
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "network", `cannot reach the Kith server (${exc.message})`, null);
  }
  if (response.status === 401 && !retried && askForToken) {
    const given = await askForToken();
    if (given) return api(method, path, { body, form, retried: true });
  }
  if (!response.ok) throw await errorFrom(response);
  if (method !== "GET") onWriteOk();
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, { body: body === undefined ? {} : body });
export const patch = (path, body) => api("PATCH", path, { body });
export const put = (path, body) => api("PUT", path, { body });
export const del = (path) => api("DELETE", path);

/** Path-segment escaping for ids that come from data. */
export function seg(value) {
  return encodeURIComponent(String(value));
}

/** Query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

/**
 * Show an image the API serves (a bot's generated avatar) in `img`. An <img src> cannot
 * send the Authorization header, so with a token kept in this tab the image is fetched
 * with it and shown from a blob: URL; otherwise (no token, the login cookie, a data:
 * URL) `src` is used as is.
 */
export function showImage(img, src) {
  if (!src) return img;
  if (src.startsWith("data:") || !token()) {
    img.src = src;
    return img;
  }
  fetch(src, { headers: headers({ Accept: "image/*" }) })
    .then((response) => (response.ok ? response.blob() : null))
    .then((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
      img.src = url;
    })
    .catch(() => {});
  return img;
}

/** Download a file from the API (works with a token, unlike a plain link). */
export async function download(path, filename) {
  const response = await fetch(path, { headers: headers({}) });
  if (!response.ok) throw await errorFrom(response);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
