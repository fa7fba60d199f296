// The relationship graph as a picture (§11.1): entities are nodes, edges are
// arrows coloured by affinity from red (−100) through grey (0) to green (+100).
// Each arrow shows its label on hover or keyboard focus and can be selected.

import { s } from "./dom.js";

const W = 420;
const H = 300;
const R = 17;

/** Colour for an affinity in −100…100: red → grey → green. Any non-zero affinity is at
 * least half-way to its colour, so ±10 reads as clearly red or green, not grey. */
export function affinityColour(affinity) {
  const a = Math.max(-100, Math.min(100, Math.round(Number(affinity) || 0))) / 100;
  const grey = [140, 140, 140];
  const end = a < 0 ? [210, 40, 40] : [30, 160, 70];
  const t = a === 0 ? 0 : 0.5 + 0.5 * Math.abs(a);
  const mix = grey.map((g, i) => Math.round(g + (end[i] - g) * t));
  return `rgb(${mix[0]}, ${mix[1]}, ${mix[2]})`;
}

/** Nodes on an ellipse, "you" at the bottom and the others evenly around from there. */
function layout(nodes) {
  const pos = new Map();
  const ordered = [...nodes.filter((n) => n.id === "you"), ...nodes.filter((n) => n.id !== "you")];
  if (ordered.length === 1) {
    pos.set(ordered[0].id, { x: W / 2, y: H / 2 });
    return pos;
  }
  const rx = W / 2 - 60;
  const ry = H / 2 - 42;
  ordered.forEach((n, i) => {
    const angle = Math.PI / 2 + (2 * Math.PI * i) / ordered.length;
    pos.set(n.id, { x: W / 2 + rx * Math.cos(angle), y: H / 2 - 6 + ry * Math.sin(angle) });
  });
  return pos;
}

function initials(name) {
  // Letters and digits only, so "Juniper <b>Bold</b>" reads "JB", not "J<".
  const words = String(name || "?").trim().split(/\s+/)
    .map((word) => word.replace(/[^\p{L}\p{N}]/gu, "")).filter(Boolean);
  if (!words.length) return "?";
  return (words.length > 1 ? words[0][0] + words[1][0] : words[0].slice(0, 2)).toUpperCase();
}

const NAME_LABEL_CHARS = 16;

/** A node's caption: short enough to stay inside the picture (the full name is in its title). */
function shortName(name) {
  const text = String(name || "");
  return text.length > NAME_LABEL_CHARS ? `${text.slice(0, NAME_LABEL_CHARS - 1)}…` : text;
}

const LABEL_CHARS = 26;
const LABEL_H = 15;
const CHAR_W = 6.6; // 11px bold, when no canvas can measure text

let measurer = null;

/** The width of `text` in 11px type (bold for labels), measured on a canvas in the page's
 * font, so a label's box always holds its text. */
function textWidth(text, bold = true) {
  if (measurer === null) {
    measurer = document.createElement("canvas").getContext("2d") || false;
  }
  if (!measurer) return text.length * CHAR_W;
  const family = getComputedStyle(document.body).fontFamily || "sans-serif";
  measurer.font = `${bold ? "600 " : ""}11px ${family}`;
  return measurer.measureText(text).width;
}

function labelText(edge) {
  const name = String(edge.label || "");
  const short = name.length > LABEL_CHARS ? `${name.slice(0, LABEL_CHARS - 1)}…` : name;
  return `${short} (${edge.affinity > 0 ? "+" : ""}${edge.affinity})`;
}

/** The boxes a label must keep off: each node's circle and its name below it. */
function nodeBoxes(nodes, pos) {
  return nodes.flatMap((node) => {
    const p = pos.get(node.id);
    const nameW = textWidth(shortName(node.name), false) + 6;
    return [
      { x: p.x - R - 2, y: p.y - R - 2, w: 2 * R + 4, h: 2 * R + 4 },
      { x: p.x - nameW / 2, y: p.y + R + 2, w: nameW, h: 14 },
    ];
  });
}

/** Spots tried along an edge, best first: (position along it, side and distance). */
const CANDIDATES = [0, 1, 2].flatMap((far) => [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]
  .flatMap((t) => [[t, 1 + far * 1.1], [t, -1 - far * 1.1]]));

function overlap(a, b) {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Where an edge's label goes: beside its line, at the first spot along it (middle
 * first) that covers no node, no node name and no other label, always wholly inside
 * the picture; if every spot covers something, the one that covers least.
 */
function placeLabel(text, line, obstacles, placed) {
  const w = textWidth(text) + 10;
  const h = LABEL_H;
  let best = null;
  for (const [t, side] of CANDIDATES) {
    {
      const px = line.x1 + (line.x2 - line.x1) * t + line.nx * side * (h / 2 + 3);
      const py = line.y1 + (line.y2 - line.y1) * t + line.ny * side * (h / 2 + 3);
      const box = {
        x: Math.max(2, Math.min(W - 2 - w, px - w / 2)),
        y: Math.max(2, Math.min(H - 2 - h, py - h / 2)),
        w, h,
      };
      const cost = [...obstacles, ...placed].reduce((sum, o) => sum + overlap(box, o), 0);
      if (!best || cost < best.cost) best = { ...box, cost };
      if (cost === 0) return best;
    }
  }
  return best;
}

/**
 * Draw the graph. `entities` and `edges` come from the API; `onSelect(edge)`
 * is called when an arrow is clicked or activated with Enter/Space.
 */
export function relationshipGraph(entities, edges, { selected = null, onSelect = () => {} } = {}) {
  const used = new Set(edges.flatMap((e) => [e.src, e.dst]));
  const nodes = entities.filter((e) => used.has(e.id) || e.kind === "bot" || e.kind === "you");
  for (const id of used) {
    if (!nodes.some((n) => n.id === id)) nodes.push({ id, name: id, kind: "other" });
  }
  const pos = layout(nodes);
  const obstacles = nodeBoxes(nodes, pos);
  const placed = [];
  const pairs = new Set(edges.map((e) => `${e.src}\u0000${e.dst}`));
  const svg = s("svg", {
    class: "graph", viewBox: `0 0 ${W} ${H}`, role: "group",
    "aria-label": `Relationship graph: ${nodes.length} entities, ${edges.length} relationships`,
  });
  const edgeLayer = s("g", { class: "edges" });
  const nodeLayer = s("g", { class: "nodes" });
  const labelLayer = s("g", { class: "edge-labels" });
  svg.append(edgeLayer, nodeLayer, labelLayer);

  for (const edge of edges) {
    const a = pos.get(edge.src);
    const b = pos.get(edge.dst);
    if (!a || !b || edge.src === edge.dst) continue;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const ux = dx / len;
    const uy = dy / len;
    const off = pairs.has(`${edge.dst}\u0000${edge.src}`) ? 5 : 0; // two directions side by side
    const ox = -uy * off;
    const oy = ux * off;
    const x1 = a.x + ux * R + ox;
    const y1 = a.y + uy * R + oy;
    const x2 = b.x - ux * (R + 2) + ox;
    const y2 = b.y - uy * (R + 2) + oy;
    const colour = affinityColour(edge.affinity);
    const head = [
      [x2, y2],
      [x2 - ux * 9 - uy * 4.5, y2 - uy * 9 + ux * 4.5],
      [x2 - ux * 9 + uy * 4.5, y2 - uy * 9 - ux * 4.5],
    ].map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ");
    const description = `${edge.src_name || edge.src} → ${edge.dst_name || edge.dst}: ${edge.label}, affinity ${edge.affinity}, trust ${edge.trust}`;
    const isSelected = selected && selected.src === edge.src && selected.dst === edge.dst;
    const text = labelText(edge);
    const box = placeLabel(text, { x1, y1, x2, y2, nx: -uy, ny: ux }, obstacles, placed);
    placed.push(box);
    const label = s("g", { class: ["edge-label", isSelected && "shown"], "aria-hidden": "true" },
      s("rect", { class: "edge-label-bg", x: box.x.toFixed(1), y: box.y.toFixed(1), width: box.w.toFixed(1), height: box.h, rx: 4 }),
      s("text", { x: (box.x + box.w / 2).toFixed(1), y: (box.y + box.h - 4).toFixed(1), "text-anchor": "middle" }, text));
    const g = s("g", {
      class: ["edge", isSelected && "selected"], tabindex: "0", role: "button", "aria-label": description,
      "aria-pressed": isSelected ? "true" : "false", dataset: { src: edge.src, dst: edge.dst },
    },
    s("title", null, description),
    s("line", { class: "edge-hit", x1, y1, x2, y2 }),
    s("line", { class: "edge-line", x1, y1, x2, y2, stroke: colour }),
    s("polygon", { class: "edge-head", points: head, fill: colour }));
    const show = (on) => label.classList.toggle("hover", on);
    g.addEventListener("mouseenter", () => show(true));
    g.addEventListener("mouseleave", () => show(false));
    g.addEventListener("focus", () => {
      show(true);
      label.classList.add("focus"); // the label's outline is the focus ring: no box around the arrow
    });
    g.addEventListener("blur", () => {
      show(false);
      label.classList.remove("focus");
    });
    g.addEventListener("click", () => onSelect(edge));
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        onSelect(edge);
      }
    });
    edgeLayer.append(g);
    labelLayer.append(label);
  }

  for (const node of nodes) {
    const p = pos.get(node.id);
    const label = `${node.name} (${node.kind}, ${node.id})`;
    nodeLayer.append(s("g", {
      class: ["node", `kind-${node.kind}`], tabindex: "0", role: "img", "aria-label": label,
      dataset: { id: node.id }, transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`,
    },
    s("title", null, label),
    s("circle", { r: R }),
    s("text", { class: "node-initials", "text-anchor": "middle", dy: "0.35em" }, initials(node.name)),
    s("text", { class: "node-name", "text-anchor": "middle", y: R + 13 }, shortName(node.name))));
  }
  if (!nodes.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "muted-svg" }, "No relationships yet"));
  }
  return svg;
}

/** A small legend for the affinity colours. */
export function affinityLegend() {
  const stops = [-100, -50, 0, 50, 100];
  return s("svg", { class: "legend", viewBox: "0 0 220 26", role: "img", "aria-label": "Affinity colours: red is −100, grey is 0, green is +100" },
    stops.map((v, i) => s("rect", { x: 10 + i * 40, y: 2, width: 40, height: 8, fill: affinityColour(v) })),
    s("text", { x: 10, y: 23 }, "−100"),
    s("text", { x: 110, y: 23, "text-anchor": "middle" }, "0"),
    s("text", { x: 210, y: 23, "text-anchor": "end" }, "+100"));
}
