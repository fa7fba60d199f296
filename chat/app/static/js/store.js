// What several views share: the bot and entity lists (for names), the open chat,
// and a tiny publish/subscribe so a change in one view refreshes the others.

import { get, worldId } from "./api.js";

export const store = {
  bots: [],
  entities: [],
  chatId: null,
  chat: null,
  persona: null,
  worldBotIds: null,
  /** The shown world when it is archived (worlds.js keeps it), else null: what is in it is
   * read-only (§3.5), so the state panel shows its values without edit controls. */
  archivedWorld: null,
};

const listeners = new Map();

export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
}

export function emit(topic, detail) {
  for (const fn of listeners.get(topic) || []) {
    try {
      fn(detail);
    } catch (exc) {
      console.warn(`listener of ${topic} failed`, exc);
    }
  }
}

export async function loadBots() {
  store.bots = (await get("/api/bots?include_retired=true")) || [];
  const world = worldId();
  store.worldBotIds = world
    ? ((await get(`/api/bots?include_retired=true&world=${encodeURIComponent(world)}`)) || []).map((b) => b.id)
    : null;
  emit("bots", store.bots);
  return store.bots;
}

export async function loadEntities() {
  store.entities = (await get("/api/entities")) || [];
  return store.entities;
}

/** A bot's name for a list, with its id when another bot has the same name (a card
 * imported twice as a new bot made two "Isolde Varga" that no list told apart). */
export function botLabel(bot) {
  const twins = store.bots.filter((b) => b.name === bot.name).length;
  return twins > 1 ? `${bot.name} (${bot.id})` : bot.name;
}

/** A display name for an entity or bot id ("you" is the persona's name, §3.6). */
export function nameOf(id) {
  if (id === "you") return (store.persona && store.persona.name) || "You";
  const bot = store.bots.find((b) => b.id === id);
  if (bot) return bot.name;
  const entity = store.entities.find((e) => e.id === id);
  return entity ? entity.name : id;
}
