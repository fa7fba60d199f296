// One event of the log in a person's words (§11.1 "the event log readable by a
// person"): names instead of ids and one line of what happened; the JSON stays on demand.
// A world is named by its name wherever it comes up, its id in the name's tooltip.

import { chatById } from "./chatlist.js";
import { h } from "./dom.js";
import { nameOf } from "./store.js";
import { worldById } from "./worlds.js";

const clip = (text, n = 100) => {
  const t = String(text ?? "").replace(/\s+/g, " ").trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};
const signed = (n) => (n > 0 ? `+${n}` : String(n));
const quote = (text) => `“${clip(text)}”`;

/** The chat's title for an id (the id itself when the chat list does not know it). */
export function chatName(chatId) {
  if (!chatId) return "";
  const chat = chatById(chatId);
  return chat ? chat.title : chatId;
}

/** A world as the line shows it: its name (the id when the page does not know it), with
 * the id in the tooltip. The log once said "world created: Saltmere" and then "world
 * saltmere archived", so the same world read as two. */
function world(id, text = null) {
  const known = worldById(id);
  return h("span", { class: "world-ref", title: `world id: ${id}`, text: text ?? (known ? known.name : id) });
}

function change(p) {
  const parts = [];
  if (p.label) parts.push(p.label);
  if (p.affinity_delta) parts.push(`affinity ${signed(p.affinity_delta)}`);
  if (p.trust_delta) parts.push(`trust ${signed(p.trust_delta)}`);
  return parts.join(", ") || "noted";
}

/** A person's edit: set, freed (unpinned), or removed (a world fact, a memory: the value is null then). */
function editWords(p) {
  const target = p.target_type === "edge" ? String(p.target_id).split("/").map(nameOf).join(" → ") : nameOf(p.target_id);
  if (p.action === "delete") {
    const was = p.previous == null ? "" : ` (was ${quote(typeof p.previous === "string" ? p.previous : JSON.stringify(p.previous))})`;
    return p.target_type === "world" ? `you removed world fact ${target}${was}` : `you deleted ${p.target_type} ${target}`;
  }
  if (p.action === "unpin") return `you set ${p.field} of ${p.target_type} ${target} free (unpinned)`;
  return `you set ${p.field} of ${p.target_type} ${target} to ${quote(typeof p.value === "string" ? p.value : JSON.stringify(p.value))}`;
}

const TURN_WORDS = { turn_queued: "queued", turn_started: "started", turn_completed: "finished" };

/** One line for an event: text, or text and world names (`world`) to append as children. */
export function describe(event) {
  const p = event.payload || {};
  switch (event.kind) {
    case "message_posted": return `${nameOf(p.author)}: ${quote(p.text)}${p.alt_group ? " (another alternative)" : ""}`;
    case "message_edited": return event.actor === "system" // openings.py: the persona was named
      ? `a greeting written again with your name: ${quote(p.text)}` : `message edited to ${quote(p.text)}`;
    case "message_deleted": return "a message was deleted";
    case "alternative_chosen": return p.message_id === p.alt_group
      ? (event.actor === "system" ? "the first greeting is shown; the others are its alternatives" : "the first alternative of a reply now stands")
      : "another alternative of a reply now stands";
    case "memory_added": return `${nameOf(p.owner)} remembers ${quote(p.text)} (importance ${p.importance})`;
    case "edge_changed": return `${nameOf(p.src)} → ${nameOf(p.dst)}: ${change(p)}`;
    case "entity_added": return `new ${p.kind || "entity"}: ${p.name}`;
    case "entity_updated": return `${nameOf(p.id)} changed`;
    case "world_fact_set": return `world: ${p.key} = ${quote(p.value)}`;
    case "world_fact_deleted": return `world: ${p.key} removed`;
    case "scene_changed": return [p.location && `scene: ${p.location}`,
      Array.isArray(p.present) && `present: ${p.present.map(nameOf).join(", ")}`].filter(Boolean).join(" · ") || "scene changed";
    case "manual_edit": return editWords(p);
    case "bot_authored": return `bot created: ${p.name}`;
    case "bot_revised": return `bot ${nameOf(p.id)} revised`;
    case "bot_retired": return `bot ${nameOf(p.id)} retired`;
    case "chat_created": return `chat “${p.title}” with ${(p.bot_ids || []).map(nameOf).join(", ")}`;
    case "turn_failed": return `turn failed: ${clip(p.reason)}`;
    case "turns_reverted": return `rewind: ${(p.turn_ids || []).length} turn(s) undone`;
    case "prompt_recorded": return `prompt for ${nameOf(p.bot_id)} kept (${p.token_count ?? "?"} tokens)`;
    case "proposal_dropped": return `a proposed change was dropped: ${clip(p.reason || "")}`;
    case "reflection_recorded": return `${nameOf(p.bot_id)} reflected`;
    case "memory_superseded": return "an older memory is superseded by a newer one";
    case "proposal_queued": return `proposed, waiting for review: ${quote(p.summary || (p.kind || "").replace(/_/g, " "))}`;
    case "proposal_reviewed": return `you ${p.decision === "accepted" ? "accepted" : "rejected"} a proposed change`;
    case "lore_set": return `lore${p.bot_id ? ` of ${nameOf(p.bot_id)}` : " of the world"}: ${(p.entries || []).length} entr${(p.entries || []).length === 1 ? "y" : "ies"}`;
    case "world_created": return ["world created: ", world(p.id, p.name)];
    case "world_renamed": return ["world renamed ", world(p.id, quote(p.name))];
    case "world_scenario_set": return ["scenario of world ", world(p.id), " set"];
    case "world_archived": return ["world ", world(p.id), " archived"];
    case "world_restored": return ["world ", world(p.id), " restored"];
    case "world_joined": return [`${nameOf(p.bot_id)} joined world `, world(p.world_id)];
    case "persona_set": return [`you are ${quote(p.name)}`, ...(p.world_id ? [" in world ", world(p.world_id)] : [" (every world)"])];
    case "persona_cleared": return ["your persona in world ", world(p.world_id), " cleared"];
    case "chapter_written": return `chapter of ${p.message_count} messages for ${(p.owners || []).map(nameOf).join(", ")}: ${quote(p.text)}`;
    default:
      if (TURN_WORDS[event.kind]) return `turn ${TURN_WORDS[event.kind]}${p.kind && p.kind !== "message" ? ` (${p.kind})` : ""}`;
      return clip(JSON.stringify(p));
  }
}

/** Who did it, in words. */
export function actorWord(actor, payload = null) {
  if (actor === "system" && payload && payload.source === "sentiment") return "tone"; // as the relationship history says
  return { user: "you", model: "the model", system: "Kith" }[actor] || actor || "";
}
