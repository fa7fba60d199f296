// The "Relationships" tab: the graph, the selected relationship's fields with
// inline edits and pins, and its affinity over time (§5.2, §6.1).

import { get, patch, seg } from "./api.js";
import { h, mount, notify } from "./dom.js";
import { addRelationForm } from "./addforms.js";
import { affinityChart } from "./chart.js";
import { affinityLegend, relationshipGraph } from "./graph.js";
import { loadEntities, nameOf, store } from "./store.js";
import { editable, historyButton, pinBadge } from "./widgets.js";

let selected = null; // {src, dst}

function edgeId(edge) {
  return `${edge.src}/${edge.dst}`;
}

async function saveEdge(edge, field, value) {
  const updated = await patch(`/api/edges/${seg(edge.src)}/${seg(edge.dst)}`, { [field]: value });
  notify(`Saved ${field} of ${nameOf(edge.src)} → ${nameOf(edge.dst)}.`);
  return updated && updated[field] !== undefined ? updated[field] : value;
}

function edgeFields(edge) {
  const field = (name, type, opts = {}) => h("div", { class: "field-row" },
    h("span", { class: "field-name", text: name }),
    editable({
      label: `${name} of ${nameOf(edge.src)} → ${nameOf(edge.dst)}`, value: edge[name], type, ...opts,
      onSave: async (v) => {
        return saveEdge(edge, name, v);
      },
    }),
    pinBadge("edge", edgeId(edge), name));
  return h("div", { class: "edge-detail" },
    h("div", { class: "item-head" },
      h("h3", { text: `${nameOf(edge.src)} → ${nameOf(edge.dst)}` }),
      historyButton("edge", edgeId(edge), `${nameOf(edge.src)} → ${nameOf(edge.dst)}`)),
    field("label", "text"),
    field("affinity", "number", { min: -100, max: 100, step: 1 }),
    field("trust", "number", { min: -100, max: 100, step: 1 }),
    field("notes", "textarea"));
}

async function chartFor(edge) {
  try {
    const history = await get(`/api/edges/${seg(edge.src)}/${seg(edge.dst)}/history`);
    return affinityChart(history, `${nameOf(edge.src)} → ${nameOf(edge.dst)}`);
  } catch (exc) {
    return h("p", { class: "muted", text: `No history: ${exc.message}` });
  }
}

/** Render the tab into `panel`. */
export async function renderRelations(panel) {
  let edges;
  try {
    [edges] = await Promise.all([get("/api/edges"), loadEntities()]);
  } catch (exc) {
    mount(panel, h("p", { class: "error", text: `Cannot load relationships: ${exc.message}` }));
    return;
  }
  edges = (edges || []).map((e) => ({ ...e, src_name: nameOf(e.src), dst_name: nameOf(e.dst) }));
  const current = selected && edges.find((e) => e.src === selected.src && e.dst === selected.dst);
  const refresh = () => renderRelations(panel);
  const graph = relationshipGraph(store.entities, edges, {
    selected: current,
    onSelect: (edge) => {
      selected = { src: edge.src, dst: edge.dst };
      renderRelations(panel).then(() => {
        panel.querySelector(`.edge[data-src="${CSS.escape(edge.src)}"][data-dst="${CSS.escape(edge.dst)}"]`)?.focus();
      });
    },
  });
  const list = h("ul", { class: "edge-list", "aria-label": "Relationships" }, edges.map((e) => h("li", null,
    h("button", {
      type: "button", class: ["link", current === e && "active"], "aria-pressed": String(current === e),
      onclick: () => {
        selected = { src: e.src, dst: e.dst };
        refresh();
      },
    }, `${e.src_name} → ${e.dst_name}: ${e.label} (${e.affinity})`))));
  const detail = current
    ? [edgeFields(current), h("h4", { text: "Affinity over time" }), await chartFor(current)]
    : [h("p", { class: "muted", text: "Select an arrow (click, or Tab to it and press Enter) to see and edit the relationship and its affinity over time." })];
  mount(panel,
    h("div", { class: "graph-wrap" }, graph, affinityLegend()),
    h("div", { class: "edge-area" }, detail),
    addRelationForm(store.entities, edges),
    h("details", { class: "edge-list-box" }, h("summary", { text: `All relationships (${edges.length})` }), list));
}
