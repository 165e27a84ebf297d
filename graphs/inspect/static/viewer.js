// The viewer: every text from the store is inserted with textContent, never as HTML.
// Graph element ids are generated ("n0", "n1", ... for nodes, "e0", ... for edges) and never
// taken from entity names, so an entity named "e0" cannot collide with an edge's id;
// the name travels in the element's data.
"use strict";
const $ = (id) => document.getElementById(id);
let cy = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function api(path, params) {
  const url = path + "?" + new URLSearchParams(params || {}).toString();
  $("status").textContent = "loading…";
  const response = await fetch(url);
  const body = await response.json();
  $("status").textContent = response.ok ? "" : body.error;
  if (!response.ok) throw new Error(body.error);
  return body;
}

function table(headers, rows) {
  const t = el("table");
  const head = el("tr");
  headers.forEach((h) => head.appendChild(el("th", h)));
  t.appendChild(head);
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((cell) => tr.appendChild(cell instanceof Node ? wrap(cell) : el("td", cell)));
    t.appendChild(tr);
  });
  return t;
}
function wrap(node) { const td = el("td"); td.appendChild(node); return td; }
function link(text, action) { const a = el("span", text, "clickable"); a.addEventListener("click", action); return a; }

// Elements for Cytoscape: ids are positions, names are data.
function graphElements(data) {
  const ids = new Map();
  const elements = [];
  data.nodes.forEach((n, i) => {
    ids.set(n.name, "n" + i);
    elements.push({ data: { id: "n" + i, name: n.name, label: n.name, degree: n.degree } });
  });
  data.edges.forEach((e, i) => {
    if (!ids.has(e.source) || !ids.has(e.target)) return;
    elements.push({ data: { id: "e" + i, source: ids.get(e.source), target: ids.get(e.target),
      label: e.label, kind: e.kind } });
  });
  return { elements, ids };
}

function drawGraph(data, lit) {
  const { elements, ids } = graphElements(data);
  if (cy) cy.destroy();
  cy = cytoscape({
    container: $("graph"), elements,
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 10, "background-color": "#60a5fa",
        width: "mapData(degree, 1, 50, 12, 40)", height: "mapData(degree, 1, 50, 12, 40)" } },
      { selector: "node.center", style: { "background-color": "#f59e0b" } },
      { selector: "node.lit", style: { "background-color": "#ef4444" } },
      { selector: "edge", style: { label: "data(label)", "font-size": 8, "curve-style": "bezier",
        "target-arrow-shape": "triangle", width: 1, "line-color": "#9ca3af", "target-arrow-color": "#9ca3af" } },
      { selector: "edge[kind = 'synonym']", style: { "line-style": "dashed", "target-arrow-shape": "none" } },
    ],
    layout: { name: "cose", animate: false, padding: 30, nodeRepulsion: () => 400000, idealEdgeLength: () => 90 },
    minZoom: 0.2, maxZoom: 1.5,
  });
  if (ids.has(data.center)) cy.getElementById(ids.get(data.center)).addClass("center");
  (lit || []).forEach((name) => { if (ids.has(name)) cy.getElementById(ids.get(name)).addClass("lit"); });
  cy.on("tap", "node", (event) => showEntity(event.target.data("name")));
  window.viewerGraph = cy;  // for tests and the console
}

function entityList(title, entities, emptyText) {
  $("left-title").textContent = title;
  const list = $("results");
  list.replaceChildren();
  if (!entities.length) list.appendChild(el("li", emptyText, "muted"));
  entities.forEach((e) => {
    const item = el("li", `${e.name} (${e.degree})`);
    item.dataset.name = e.name;
    item.addEventListener("click", () => showEntity(e.name));
    list.appendChild(item);
  });
}

async function overview() {
  const summary = await api("/api/summary", { top: 15 });
  entityList("Largest hubs", summary.hubs, "the store has no entities yet");
  $("detail-title").textContent = "Overview";
  const detail = $("detail");
  detail.replaceChildren();
  detail.appendChild(el("p", "Click a hub (left) to draw its neighbourhood, search an entity by name, "
    + "or ask a question to see which entities the graph walk lights up and which passages come back.", "hint"));
  detail.appendChild(el("h3", "This store"));
  detail.appendChild(table(["documents", "entities", "facts"], [[summary.documents, summary.entities, summary.facts]]));
  detail.appendChild(table(["edges", "count"], Object.entries(summary.edges)));
  detail.appendChild(el("h3", "Largest hubs"));
  detail.appendChild(table(["entity", "degree"], summary.hubs.map((h) =>
    [link(h.name, () => showEntity(h.name)), h.degree])));
  detail.appendChild(el("h3", "Entity degrees"));
  detail.appendChild(table(["degree", "entities"], Object.entries(summary.degree_distribution)));
  if (summary.hubs.length && !cy) {  // something to look at: the largest hub's neighbourhood
    drawGraph(await api("/api/neighbourhood", { name: summary.hubs[0].name, limit: 40 }));
  }
  if (summary.synonymy_clusters.length) {
    detail.appendChild(el("h3", "Synonymy clusters"));
    detail.appendChild(table(["size", "members"], summary.synonymy_clusters.map((c) =>
      [c.size, c.members.join(", ")])));
  }
}

async function showEntity(name) {
  const [entity, hood] = await Promise.all([api("/api/entity", { name }),
                                            api("/api/neighbourhood", { name, limit: 60 })]);
  drawGraph(hood);
  $("detail-title").textContent = entity.name;
  const detail = $("detail");
  detail.replaceChildren();
  const factRows = (facts) => facts.map((f) => [link(f.subject, () => showEntity(f.subject)), f.relation,
    link(f.object, () => showEntity(f.object)),
    (f.valid_from || f.valid_to) ? `${f.valid_from || "…"} to ${f.valid_to || "…"}` : "",
    f.sources.join(", ")]);
  detail.appendChild(el("h3", "Facts"));
  detail.appendChild(table(["subject", "relation", "object", "valid", "sources"],
                           factRows(entity.facts_out.concat(entity.facts_in))));
  detail.appendChild(el("h3", "Mentioned in"));
  detail.appendChild(table(["passage", "title"], entity.mentions.map((m) =>
    [link(m.doc_id, () => showPassage(m.doc_id)), m.title])));
  detail.appendChild(el("h3", "Synonyms"));
  detail.appendChild(table(["entity", "cosine"], entity.synonyms.map((s) =>
    [link(s.name, () => showEntity(s.name)), s.score])));
}

async function showPassage(id) {
  const passage = await api("/api/passage", { id });
  $("detail-title").textContent = passage.title || passage.doc_id;
  const detail = $("detail");
  detail.replaceChildren(el("p", passage.doc_id, "muted"), el("div", passage.text, "passage"));
  detail.appendChild(el("h3", "Facts it supports"));
  detail.appendChild(table(["subject", "relation", "object"], passage.facts.map((f) =>
    [link(f.subject, () => showEntity(f.subject)), f.relation, link(f.object, () => showEntity(f.object))])));
}

async function search(text) {
  const found = await api("/api/search", { q: text });
  entityList("Entities", found, "no entity matches");
  if (found.length) showEntity(found[0].name);
}

async function query(text, asOf) {
  const params = { q: text, k: 5 };
  if (asOf) params.as_of = asOf;
  const result = await api("/api/query", params);
  const lit = result.ppr_mass.slice(0, 15).map((m) => m.name);
  if (lit.length) {
    const hood = await api("/api/neighbourhood", { name: lit[0], limit: 40 });
    drawGraph(hood, lit);
  }
  $("detail-title").textContent = "Query: " + result.query;
  const detail = $("detail");
  detail.replaceChildren();
  detail.appendChild(el("h3", "Passages"));
  detail.appendChild(table(["#", "passage", "how it was reached"], result.hits.map((h) =>
    [h.rank, link(h.title || h.doc_id, () => showPassage(h.doc_id)),
     (h.explanation.paths && h.explanation.paths.length) ? h.explanation.paths[0].nodes.join(" → ")
                                                         : h.explanation.summary])));
  detail.appendChild(el("h3", "PPR mass"));
  detail.appendChild(el("p", "The share of the graph walk's time spent on each entity (red in the graph).", "muted"));
  detail.appendChild(table(["entity", "mass"], result.ppr_mass.map((m) =>
    [link(m.name, () => showEntity(m.name)), m.mass.toExponential(2)])));
}

$("search-form").addEventListener("submit", (e) => { e.preventDefault(); search($("search").value).catch(() => {}); });
$("query-form").addEventListener("submit", (e) => { e.preventDefault(); query($("query").value, $("as-of").value).catch(() => {}); });
$("overview-button").addEventListener("click", () => { overview().catch(() => {}); });
overview().catch(() => {});
