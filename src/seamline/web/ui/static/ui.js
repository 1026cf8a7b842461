// Seamline UI: each page fetches its JSON twin(s) under /api/views and draws tables and plotly charts.
// Every string from the data goes through textContent (never innerHTML), so records cannot inject markup.
"use strict";

const FILTERS = ["range", "from", "to", "bucket", "environment", "release", "flag", "segment", "browser", "region"];
const here = new URLSearchParams(location.search);
const main = document.getElementById("main");
const page = main.dataset.page;
const params = JSON.parse(main.dataset.params || "{}");
const COLORS = ["#2f6fdf", "#e0662b", "#2b9e5f", "#b8398f", "#7b5cd6", "#c9a227", "#18a0b0", "#8a8a8a"];
const SEGMENT_COLORS = {client: "#7b5cd6", network: "#18a0b0", server: "#2f6fdf", dependency: "#e0662b", unattributed: "#b0b0b0"};
const LANE_COLORS = {client: "#7b5cd6", gateway: "#18a0b0", database: "#e0662b"};

// --- small helpers --------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function filterParams(extra) {
  const out = new URLSearchParams();
  for (const key of FILTERS) {
    const value = here.get(key);
    if (value) out.set(key, value);
  }
  for (const [key, value] of Object.entries(extra || {})) {
    if (value === null || value === undefined || value === "") out.delete(key);
    else out.set(key, value);
  }
  return out;
}

function link(path, extra) {
  const query = filterParams(extra).toString();
  return query ? `${path}?${query}` : path;
}

async function api(name, extra) {
  const response = await fetch(`/api/views/${name}?${filterParams(extra)}`);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fmtMs(v) {
  if (v === null || v === undefined) return "–";
  return v >= 10000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}
function fmtPct(v, digits = 1) {
  return v === null || v === undefined ? "–" : `${(v * 100).toFixed(digits)}%`;
}
function fmtInt(v) {
  return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US");
}
function fmtTime(v) {
  return v ? String(v).replace("T", " ").replace(/\.\d+/, "").replace("Z", "").replace("+00:00", "") : "–";
}
function fmtCi(ci, fmt) {
  return ci && ci[0] !== null && ci[1] !== null ? `[${fmt(ci[0])}, ${fmt(ci[1])}]` : "";
}

function table(target, rows, columns, empty = "No data in this window.") {
  const holder = typeof target === "string" ? $(target) : target;
  holder.replaceChildren();
  if (!rows || rows.length === 0) {
    holder.append(el("p", {class: "empty"}, empty));
    return;
  }
  const head = el("tr", {}, columns.map((c) => el("th", {class: c.num ? "num" : null}, c.label || c.key)));
  const body = rows.map((row) =>
    el("tr", {class: columns.rowClass ? columns.rowClass(row) : null},
      columns.map((c) => {
        const raw = c.value ? c.value(row) : row[c.key];
        const text = c.fmt ? c.fmt(raw, row) : raw === null || raw === undefined ? "–" : raw;
        const href = c.href ? c.href(row) : null;
        const content = href ? el("a", {href}, text) : text instanceof Node ? text : String(text);
        return el("td", {class: [c.num ? "num" : "", c.cls ? c.cls(row) : ""].join(" ").trim() || null}, content);
      }))
  );
  holder.append(el("table", {class: "data"}, el("thead", {}, head), el("tbody", {}, body)));
}

function numbers(target, items) {
  $(target).replaceChildren(
    ...items.map(([label, value, cls]) => el("div", {class: `number ${cls || ""}`}, el("span", {class: "value"}, value), el("span", {class: "label"}, label)))
  );
}

const PLOT_CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"]};

function layout(extra) {
  return Object.assign({
    margin: {l: 60, r: 20, t: 10, b: 40},
    legend: {orientation: "h", y: -0.2},
    hovermode: "x unified",
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: {size: 12},
    xaxis: {type: "date"},
  }, extra || {});
}

function plot(id, traces, layoutExtra) {
  const node = $(id);
  if (!traces.length || traces.every((t) => !Array.isArray(t.y) || t.y.every((v) => v === null))) {
    node.replaceChildren(el("p", {class: "empty"}, "No data in this window."));
    node.classList.add("nodata");
    return node;
  }
  Plotly.newPlot(node, traces, layout(layoutExtra), PLOT_CONFIG).then(() => overlayFindings(node));
  return node;
}

// --- findings overlay: annotations (/api/annotations) as lines (moments) or bands (periods) on time charts ---
let findingsRequest = null;

async function overlayFindings(node) {
  try {
    if (!node.layout || !node.layout.xaxis || node.layout.xaxis.type !== "date") return;
    const times = node.data.flatMap((t) => t.x || []).map((x) => new Date(x).getTime()).filter((t) => !isNaN(t));
    if (!times.length) return;
    const lo = Math.min(...times), hi = Math.max(...times);
    findingsRequest = findingsRequest || fetch("/api/annotations").then((r) => (r.ok ? r.json() : {annotations: []}));
    const shown = ((await findingsRequest).annotations || []).filter((a) => {
      const start = new Date(a.start_ts).getTime();
      return start <= hi && (a.end_ts ? new Date(a.end_ts).getTime() : start) >= lo;
    });
    if (!shown.length) return;
    const shapes = [...(node.layout.shapes || [])];
    const labels = [...(node.layout.annotations || [])];
    for (const a of shown) {
      shapes.push(a.end_ts
        ? {type: "rect", xref: "x", yref: "paper", x0: a.start_ts, x1: a.end_ts, y0: 0, y1: 1, fillcolor: "rgba(201,162,39,0.12)", line: {width: 0}, layer: "below"}
        : {type: "line", xref: "x", yref: "paper", x0: a.start_ts, x1: a.start_ts, y0: 0, y1: 1, line: {color: "#c9a227", width: 1.5}});
      // Plotly reads a little markup in labels; titles are people's text, so angle brackets are escaped.
      const text = `${a.kind}: ${a.title}`.slice(0, 60).replace(/</g, "&lt;").replace(/>/g, "&gt;");
      labels.push({x: a.start_ts, xref: "x", yref: "paper", y: 1, yanchor: "bottom", showarrow: false, text, font: {size: 10, color: "#7a5f00"}});
    }
    const top = Math.max((node.layout.margin && node.layout.margin.t) || 0, 22);  // room for the labels
    await Plotly.relayout(node, {shapes, annotations: labels, "margin.t": top});
    node.dataset.findings = String(shown.length);
  } catch (err) {
    // Findings are an overlay: a chart without them is still right.
  }
}

function lineTraces(buckets, series, opts = {}) {
  return Object.entries(series).map(([name, values], i) => ({
    x: buckets, y: values, name, type: "scatter", mode: "lines+markers", marker: {size: 4},
    line: {width: 2, color: (opts.colors && opts.colors[name]) || COLORS[i % COLORS.length]}, connectgaps: false,
  }));
}

function yAxis(kind, title) {
  if (kind === "pct") return {title, tickformat: ".1%", rangemode: "tozero"};
  if (kind === "ms") return {title: title || "ms", rangemode: "tozero"};
  return {title, rangemode: "tozero"};
}

// A click on a time point narrows the page to that bucket and its neighbours.
function zoomTo(x, bucketSeconds, path, extra) {
  const t = new Date(x).getTime();
  const pad = bucketSeconds * 1000;
  const from = new Date(t - pad).toISOString();
  const to = new Date(t + 2 * pad).toISOString();
  location.href = link(path, Object.assign({from, to, range: null}, extra || {}));
}

function sparkline(values, width = 140, height = 32) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "spark");
  const points = values.map((v, i) => [i, v]).filter(([, v]) => v !== null);
  if (points.length < 2) return svg;
  const max = Math.max(...points.map(([, v]) => v)) || 1;
  const step = width / Math.max(1, values.length - 1);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map(([i, v]) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" "));
  svg.append(line);
  return svg;
}

// --- pages ----------------------------------------------------------------------------------
const PAGES = {};

PAGES.overview = async () => {
  const [d, all] = await Promise.all([api("overview"), api("flows")]);
  $("watch-source").textContent = d.watchlist.source === "file" ? `from ${d.watchlist.path}` : "derived from traffic; configure watchlist.yaml to choose";
  $("flow-cards").replaceChildren(...d.flows.map((f) =>
    el("a", {class: `card status-${f.status.replace(" ", "-")}`, href: link(`/flows/${enc(f.flow)}`), "data-flow": f.flow},
      el("span", {class: "card-title"}, f.flow),
      el("span", {class: "badge"}, f.status),
      el("span", {class: "metric"}, "p90 ", el("b", {}, fmtMs(f.p90_ms))),
      el("span", {class: "metric"}, "failed ", el("b", {}, fmtPct(f.failure_rate))),
      el("span", {class: "metric"}, fmtInt(f.users), " users"),
      sparkline(d.failure_rate[f.flow] || []))
  ));
  const bucket = d.window.bucket_seconds;
  const onClick = (node) => node.on && node.on("plotly_click", (ev) => {
    const point = ev.points[0];
    zoomTo(point.x, bucket, `/flows/${enc(point.data.name)}`);
  });
  onClick(plot("chart-p90", lineTraces(d.buckets, d.p90), {yaxis: yAxis("ms")}));
  onClick(plot("chart-failures", lineTraces(d.buckets, d.failure_rate), {yaxis: yAxis("pct")}));
  plot("chart-pages", lineTraces(d.buckets, d.page_series.failure_rate), {yaxis: yAxis("pct", "failed share")});
  table("table-pages", d.pages, [
    {key: "page", label: "page"}, {key: "status"}, {key: "loads", num: true, fmt: fmtInt}, {key: "users", num: true, fmt: fmtInt},
    {key: "lcp_p75_ms", label: "LCP p75", num: true, fmt: fmtMs}, {key: "js_error_rate", label: "JS errors", num: true, fmt: (v) => fmtPct(v, 2)},
    {key: "failure_rate", label: "failed", num: true, fmt: (v) => fmtPct(v, 2)},
  ]);
  table("table-flows", all.flows, [
    {key: "flow", href: (r) => link(`/flows/${enc(r.flow)}`)}, {key: "transactions", num: true, fmt: fmtInt},
    {key: "share", num: true, fmt: fmtPct}, {key: "users", num: true, fmt: fmtInt}, {key: "p50_ms", label: "p50", num: true, fmt: fmtMs},
    {key: "p90_ms", label: "p90", num: true, fmt: fmtMs}, {key: "p99_ms", label: "p99", num: true, fmt: fmtMs},
    {key: "failure_rate", label: "failed", num: true, fmt: (v) => fmtPct(v, 2)},
  ]);
};

const TX_COLUMNS = [
  {key: "start_ts", label: "started", fmt: fmtTime, href: (r) => link(`/transactions/${enc(r.transaction_id)}`)},
  {key: "name", label: "step", href: (r) => link(`/transactions/${enc(r.transaction_id)}`)},
  {key: "e2e_ms", label: "e2e", num: true, fmt: fmtMs}, {key: "client_ms", label: "client", num: true, fmt: fmtMs},
  {key: "network_ms", label: "network", num: true, fmt: fmtMs}, {key: "server_ms", label: "server", num: true, fmt: fmtMs},
  {key: "dependency_ms", label: "dependency", num: true, fmt: fmtMs},
  {key: "errors", value: (r) => [r.js_errors && `${r.js_errors} JS`, r.status_5xx && `${r.status_5xx}×5xx`, r.status_0 && `${r.status_0}×no response`, r.timeouts && `${r.timeouts} timeouts`, r.server_errors && `${r.server_errors} server`].filter(Boolean).join(", ") || ""},
  {key: "region"}, {key: "browser"},
];
TX_COLUMNS.rowClass = (r) => (r.failed ? "failed" : null);

PAGES.flow = async () => {
  const flow = params.flow;
  const kind = here.get("kind") || "action";
  const [lat, steps, slow, failed, fails, impact] = await Promise.all([
    api("flow_latency", {flow, kind}), api("flow_steps", {flow}), api("slow_transactions", {flow, kind, show: "slowest", limit: 20}),
    api("slow_transactions", {flow, show: "failed", limit: 20}), api("failures", {by: "flow", flow}), api("user_impact", {flow}),
  ]);
  const s = lat.summary;
  const row = fails.rows[0] || {};
  numbers("flow-numbers", [
    ["transactions", fmtInt(s.transactions)], ["p50", fmtMs(s.p50_ms)], ["p90", fmtMs(s.p90_ms)], ["p99", fmtMs(s.p99_ms)],
    ["failed", fmtPct(row.failed_rate, 2), row.failed_rate > 0.02 ? "bad" : ""],
    ["users affected", `${fmtInt(impact.affected.users)} (${fmtPct(impact.share.users)})`],
  ]);
  const bucket = lat.window.bucket_seconds;
  const key = Object.keys(lat.p90)[0];
  const latency = plot("chart-latency", key ? [
    ...lineTraces(lat.buckets, {p50: lat.p50[key], p90: lat.p90[key], p99: lat.p99[key]}),
  ] : [], {yaxis: yAxis("ms")});
  if (latency.on) latency.on("plotly_click", (ev) => zoomTo(ev.points[0].x, bucket, location.pathname, {kind}));
  plot("chart-segments", Object.entries(lat.segments).map(([name, values]) => ({
    x: lat.buckets, y: values, name, type: "scatter", mode: "lines", stackgroup: "one", line: {width: 0.5, color: SEGMENT_COLORS[name]},
  })), {yaxis: yAxis("ms", "mean ms")});
  plot("chart-failures", lineTraces(fails.buckets, {failed: fails.failed_rate[flow] || [], "JS errors": fails.js_error_rate[flow] || []}), {yaxis: yAxis("pct")});
  plot("chart-impact", lineTraces(impact.buckets, {"users affected": impact.users_affected}), {yaxis: yAxis("count", "users")});
  table("table-steps", steps.steps, [
    {key: "name", label: "step"}, {key: "kind"},
    {key: "transactions", num: true, fmt: fmtInt}, {key: "users", num: true, fmt: fmtInt},
    {key: "p50_ms", label: "p50", num: true, fmt: fmtMs}, {key: "p90_ms", label: "p90", num: true, fmt: fmtMs},
    {key: "network_ms", label: "network", num: true, fmt: fmtMs}, {key: "server_ms", label: "server", num: true, fmt: fmtMs},
    {key: "dependency_ms", label: "dependency", num: true, fmt: fmtMs}, {key: "failure_rate", label: "failed", num: true, fmt: (v) => fmtPct(v, 2)},
  ]);
  table("table-slow", slow.transactions, TX_COLUMNS);
  table("table-failed", failed.transactions, TX_COLUMNS, "No failed transactions in this window.");
};

PAGES.waterfall = async () => {
  const d = await api("waterfall", {ident: params.ident});
  const tx = d.transaction;
  const failedRow = (r) => r.kind === "client_error" || r.status === 0 || r.status >= 500 || r.status === "error" || (r.kind === "server_log" && /^\[(error|fatal)\]/.test(r.what));
  const failures = d.rows.filter(failedRow).length;
  document.title = `${tx.kind} ${tx.name || ""} · Seamline`;
  main.querySelector("h1").textContent = `${tx.kind === "action" ? "Action" : "Page load"}: ${tx.name || tx.page || tx.transaction_id}`;
  numbers("tx-numbers", [
    ["started", fmtTime(tx.start_ts)], ["took", fmtMs(tx.duration_ms)], ["flow", tx.flow || "–"], ["page", tx.page || "–"],
    ["failed rows", fmtInt(failures), failures ? "bad" : ""],
    ["links", `${tx.links_exact} exact · ${tx.links_scored} scored · ${tx.requests_unlinked} unlinked`],
    ["release", tx.release || "–"], ["browser / region", `${tx.browser || "–"} / ${tx.region || "–"}`],
  ]);
  const session = el("a", {href: link(`/sessions/${enc(tx.session_id || "")}`), id: "session-link"}, "the whole session");
  $("tx-numbers").append(el("div", {class: "number"}, el("span", {class: "value"}, session), el("span", {class: "label"}, "open")));
  const rows = d.rows.filter((r) => !["web_vital", "resource", "visibility"].includes(r.kind));
  const total = Math.max(1, ...rows.map((r) => r.start_ms + (r.duration_ms || 0)));
  const labels = rows.map((r, i) => `${i + 1}. ${r.lane} · ${r.what}`.slice(0, 80));
  const scored = (r) => r.link === "scored" || r.via === "scored";
  Plotly.newPlot($("chart-waterfall"), [{
    type: "bar", orientation: "h", y: labels, base: rows.map((r) => r.start_ms),
    x: rows.map((r) => Math.max(r.duration_ms || 0, total / 400)),
    marker: {
      color: rows.map((r) => (r.kind === "server_log" ? (r.status === "error" || /error|warn/.test(r.what) ? "#d33" : "#999") : LANE_COLORS[r.lane] || (r.lane.startsWith("log:") ? "#999" : "#2f6fdf"))),
      pattern: {shape: rows.map((r) => (scored(r) ? "/" : ""))},
      line: {color: rows.map((r) => (failedRow(r) ? "#d33" : "rgba(0,0,0,0)")), width: 2},
    },
    text: rows.map((r) => (scored(r) ? `scored ${(r.link_confidence ?? r.confidence ?? 0).toFixed(2)}` : "")),
    textposition: "outside",
    customdata: rows.map((r) => r.event_id),
    hovertext: rows.map((r) => `${r.what}<br>+${Math.round(r.start_ms)} ms, ${fmtMs(r.duration_ms)}${r.network_ms != null ? `, network ${fmtMs(r.network_ms)}` : ""}<br>${r.source}`),
    hoverinfo: "text",
  }], {
    margin: {l: 330, r: 60, t: 10, b: 40}, height: Math.max(260, 22 * rows.length + 60), hovermode: "closest",
    xaxis: {title: "ms since the start", rangemode: "tozero"}, yaxis: {autorange: "reversed", automargin: false},
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: {size: 11}, showlegend: false,
  }, PLOT_CONFIG);
  $("chart-waterfall").on("plotly_click", (ev) => showSource(ev.points[0].customdata));
  const columns = [
    {key: "start_ms", label: "+ms", num: true, fmt: (v) => Math.round(v)}, {key: "lane"}, {key: "what"},
    {key: "status"}, {key: "duration_ms", label: "ms", num: true, fmt: (v) => (v == null ? "" : v.toFixed(1))},
    {key: "network_ms", label: "network", num: true, fmt: (v) => (v == null ? "" : Math.round(v))},
    {key: "via", value: (r) => (scored(r) ? `scored ${(r.link_confidence ?? r.confidence ?? 0).toFixed(2)}` : r.link || r.via || ""), cls: (r) => (scored(r) ? "scored" : "")},
    {key: "source", value: (r) => el("button", {class: "link source", type: "button", "data-event": r.event_id, onclick: () => showSource(r.event_id)}, r.source)},
  ];
  columns.rowClass = (r) => (failedRow(r) ? "failed" : r.kind === "server_log" ? "log" : null);
  table("table-rows", d.rows, columns);
};

async function showSource(eventId) {
  const panel = $("source-panel");
  const body = $("source-body");
  panel.hidden = false;
  body.replaceChildren(el("p", {}, "Loading…"));
  const response = await fetch(`/api/events/${enc(eventId)}`);
  const d = await response.json();
  if (!response.ok) {
    body.replaceChildren(el("p", {class: "error"}, d.error));
    return;
  }
  const lin = d.lineage;
  const fields = Object.entries(d.event).filter(([k]) => !["origin", "position", "position_index", "source", "ingest_batch_id"].includes(k));
  body.replaceChildren(
    el("p", {class: "origin"}, el("b", {}, `${lin.origin}${lin.position ? ":" + lin.position : ""}${lin.position_index ? "#" + lin.position_index : ""}`), ` (${lin.source}, ingest ${lin.ingest_batch_id})`),
    d.raw ? el("pre", {class: "raw"}, d.raw) : el("p", {class: "empty"}, "Raw line not readable here (file moved, compressed, or HTTP ingest)."),
    el("table", {class: "data compact"}, el("tbody", {}, fields.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)))))),
    el("a", {href: `/api/events/${enc(eventId)}`}, "JSON"),
  );
}

PAGES.session = async () => {
  const d = await api("session", {session_id: params.session_id});
  const s = d.session;
  numbers("session-numbers", [
    ["started", fmtTime(s.start)], ["ended", fmtTime(s.end)], ["page loads", fmtInt(s.page_loads)], ["transactions", fmtInt(s.transactions)],
    ["failed", fmtInt(s.failed_transactions), s.failed_transactions ? "bad" : ""], ["JS errors", fmtInt(s.js_errors), s.js_errors ? "bad" : ""],
    ["flows", s.flows.join(", ") || "–"], ["browser / region", `${s.browser || "–"} / ${s.region || "–"}`],
  ]);
  const bad = (r) => r.kind === "client_error" || r.status >= 500 || r.status === 0 || r.status === "error" || r.level === "error";
  const rows = d.timeline.filter((r) => r.kind !== "resource");
  plot("chart-session", [
    {name: "client", side: "client"}, {name: "server", side: "server"},
  ].map(({name, side}, i) => {
    const mine = rows.filter((r) => r.side === side);
    return {
      x: mine.map((r) => r.ts), y: mine.map((r) => r.lane), name, type: "scatter", mode: "markers",
      marker: {size: 9, color: mine.map((r) => (bad(r) ? "#d33" : COLORS[i])), symbol: side === "client" ? "circle" : "square"},
      hovertext: mine.map((r) => `${r.kind}: ${r.what}`), hoverinfo: "text+x",
    };
  }), {hovermode: "closest", margin: {l: 120, r: 20, t: 10, b: 40}});
  table("table-transactions", d.transactions, [
    {key: "start_ts", label: "started", fmt: fmtTime, href: (r) => link(`/transactions/${enc(r.transaction_id)}`)},
    {key: "kind"}, {key: "flow"}, {key: "name", label: "step"}, {key: "e2e_ms", label: "e2e", num: true, fmt: fmtMs},
    {key: "failed", fmt: (v) => (v ? "failed" : "")},
  ]);
  const columns = [
    {key: "ts", label: "time", fmt: fmtTime}, {key: "side"}, {key: "lane"}, {key: "what"}, {key: "status"},
    {key: "duration_ms", label: "ms", num: true, fmt: (v) => (v == null ? "" : v.toFixed(1))},
    {key: "transaction_id", label: "transaction", fmt: (v) => (v ? "open" : ""), href: (r) => (r.transaction_id ? link(`/transactions/${enc(r.transaction_id)}`) : null)},
    {key: "source"},
  ];
  columns.rowClass = (r) => (bad(r) ? "failed" : r.side === "server" ? "server" : null);
  table("table-timeline", d.timeline, columns);
};

PAGES.failures = async () => {
  const by = here.get("by") || "flow";
  const condition = here.get("condition") || "failed";
  const [f, impact] = await Promise.all([api("failures", {by, top: 6}), api("user_impact", {condition, threshold_ms: here.get("threshold_ms")})]);
  plot("chart-failures", lineTraces(f.buckets, f.failed_rate), {yaxis: yAxis("pct")});
  plot("chart-impact", lineTraces(impact.buckets, {"users affected": impact.users_affected, sessions: impact.sessions_affected}), {yaxis: yAxis("count")});
  numbers("impact-numbers", [
    ["users affected", fmtInt(impact.affected.users)], ["share of users", fmtPct(impact.share.users), impact.share.users > 0.05 ? "bad" : ""],
    ["sessions affected", fmtInt(impact.affected.sessions)], ["share of sessions", fmtPct(impact.share.sessions)],
    ["transactions", `${fmtInt(impact.affected.transactions)} (${fmtPct(impact.share.transactions, 2)})`],
    ["first / last", `${fmtTime(impact.first_seen)} – ${fmtTime(impact.last_seen)}`],
  ]);
  const rate = (v) => fmtPct(v, 2);
  const columns = f.unit === "transaction"
    ? [
      {key: by, href: by === "flow" ? (r) => link(`/flows/${enc(r.flow)}`) : null}, {key: "transactions", num: true, fmt: fmtInt},
      {key: "users", num: true, fmt: fmtInt}, {key: "failed_rate", label: "failed", num: true, fmt: rate},
      {key: "js_error_rate", label: "JS errors", num: true, fmt: rate}, {key: "no_response_rate", label: "no response", num: true, fmt: rate},
      {key: "http_4xx_rate", label: "4xx", num: true, fmt: rate}, {key: "http_5xx_rate", label: "5xx", num: true, fmt: rate},
      {key: "server_error_rate", label: "server errors", num: true, fmt: rate}, {key: "timeout_rate", label: "timeouts", num: true, fmt: rate},
    ]
    : [
      {key: "layer"}, {key: by}, {key: "requests", num: true, fmt: fmtInt}, {key: "users", num: true, fmt: fmtInt},
      {key: "p90_ms", label: "p90", num: true, fmt: fmtMs}, {key: "failed_rate", label: "failed", num: true, fmt: rate},
      {key: "no_response_rate", label: "no response", num: true, fmt: rate}, {key: "http_4xx_rate", label: "4xx", num: true, fmt: rate},
      {key: "http_5xx_rate", label: "5xx", num: true, fmt: rate}, {key: "timeout_rate", label: "timeouts", num: true, fmt: rate},
    ];
  table("table-failures", f.rows, columns);
  $("impact-breakdown").replaceChildren(...Object.entries(impact.by).map(([dim, rows]) => {
    const box = el("div", {}, el("h3", {}, `Affected users by ${dim}`), el("div", {}));
    table(box.lastChild, rows, [{key: dim}, {key: "users", num: true, fmt: fmtInt}, {key: "share_of_users", label: "of its users", num: true, fmt: fmtPct}], "Nobody affected.");
    return box;
  }));
};

PAGES.heatmap = async () => {
  const d = await api("heatmap", {backend: here.get("backend"), frontend: here.get("frontend"), threshold_ms: here.get("threshold_ms")});
  const node = $("chart-heatmap");
  if (!d.pages.length || !d.backends.length) {
    node.replaceChildren(el("p", {class: "empty"}, "No data in this window."));
    return;
  }
  Plotly.newPlot(node, [{
    type: "heatmap", z: d.correlation, x: d.backends, y: d.pages, zmin: -1, zmax: 1, colorscale: "RdBu",
    hoverongaps: false, colorbar: {title: "r"}, texttemplate: "%{z:.2f}",
  }], {margin: {l: 130, r: 20, t: 10, b: 90}, height: 120 + 34 * d.pages.length, paper_bgcolor: "rgba(0,0,0,0)"}, PLOT_CONFIG);
  const backendLabel = d.backend_metric === "latency" ? "p90 ms" : "failed share";
  const showPair = (pageName, backend) => {
    plot("chart-pair", [
      {x: d.buckets, y: d.frontend[pageName], name: `${pageName} (${d.frontend_metric})`, type: "scatter", mode: "lines", line: {color: COLORS[0]}},
      {x: d.buckets, y: d.backend[backend], name: `${backend} (${d.backend_metric})`, type: "scatter", mode: "lines", yaxis: "y2", line: {color: COLORS[1]}},
    ], {yaxis: yAxis("pct", d.frontend_metric), yaxis2: {title: backendLabel, overlaying: "y", side: "right", rangemode: "tozero"}});
  };
  node.on("plotly_click", (ev) => showPair(ev.points[0].y, ev.points[0].x));
  showPair(d.pages[0], d.backends[0]);
  const heat = (id, series, title) => {
    const names = Object.keys(series);
    plot(id, [{type: "heatmap", x: d.buckets, y: names, z: names.map((n) => series[n]), colorscale: "YlOrRd", reversescale: true, hoverongaps: false, colorbar: {title}}],
      {margin: {l: 130, r: 20, t: 10, b: 40}, height: 100 + 26 * names.length, hovermode: "closest"});
  };
  heat("chart-frontend", d.frontend, d.frontend_metric);
  heat("chart-backend", d.backend, backendLabel);
};

PAGES.impact = async () => {
  const mode = here.get("mode") || "release";
  const d = mode === "flag" ? await api("flag_impact") : await api("release_impact", {baseline: here.get("baseline")});
  const treatName = mode === "flag" ? `${d.flag}=${d.variant}` : d.release;
  const baseName = mode === "flag" ? "others" : d.baseline;
  $("impact-lead").textContent = mode === "flag"
    ? (d.flag ? `Transactions with ${treatName} against the others. Pick a flag in the Flag filter (name:variant).` : d.message)
    : (d.release ? `${d.release} (${d.app}, first seen ${fmtTime(d.released_at)}) against ${d.baseline || "nothing before it"}. Pick another in the Release filter.` : d.message);
  const comparison = d.comparison || [];
  const bars = (metric, ciKey, fmtAxis) => [["treatment", treatName, COLORS[0]], ["baseline", baseName, COLORS[1]]].map(([group, name, color]) => ({
    type: "bar", name, x: comparison.map((c) => c.flow), y: comparison.map((c) => c[group][metric] ?? null), marker: {color},
    error_y: {type: "data", symmetric: false,
      array: comparison.map((c) => (c[group][ciKey] ? c[group][ciKey][1] - c[group][metric] : 0)),
      arrayminus: comparison.map((c) => (c[group][ciKey] ? c[group][metric] - c[group][ciKey][0] : 0))},
  }));
  plot("chart-p90", bars("p90_ms", "p90_ci"), {xaxis: {type: "category"}, yaxis: yAxis("ms"), barmode: "group", hovermode: "closest"});
  plot("chart-failure", bars("failure_rate", "failure_rate_ci"), {xaxis: {type: "category"}, yaxis: yAxis("pct"), barmode: "group", hovermode: "closest"});
  if (d.timeline) {
    const shapes = d.released_at ? [{type: "line", x0: d.released_at, x1: d.released_at, yref: "paper", y0: 0, y1: 1, line: {dash: "dot", color: "#444"}}] : [];
    const colors = {[treatName]: COLORS[0], [baseName]: COLORS[1]};
    plot("chart-timeline", lineTraces(d.timeline.buckets, d.timeline.p90, {colors}), {yaxis: yAxis("ms", "p90 ms"), shapes});
  }
  const diffCell = (v, ci, sig, fmt) => (v == null ? "–" : `${v > 0 ? "+" : ""}${fmt(v)} ${fmtCi(ci, fmt)}${sig ? " ✱" : ""}`);
  table("table-comparison", comparison, [
    {key: "flow"},
    {key: "t_p90", label: `p90 ${treatName}`, value: (c) => `${fmtMs(c.treatment.p90_ms)} ${fmtCi(c.treatment.p90_ci, fmtMs)}`},
    {key: "b_p90", label: `p90 ${baseName}`, value: (c) => `${fmtMs(c.baseline.p90_ms)} ${fmtCi(c.baseline.p90_ci, fmtMs)}`},
    {key: "d_p90", label: "p90 difference", value: (c) => diffCell(c.difference.p90_ms, c.difference.p90_ci, c.difference.p90_significant, fmtMs), cls: (c) => (c.difference.p90_significant ? (c.difference.p90_ms > 0 ? "worse" : "better") : "")},
    {key: "t_fail", label: `failed ${treatName}`, value: (c) => `${fmtPct(c.treatment.failure_rate, 2)} (${fmtInt(c.treatment.transactions)})`},
    {key: "b_fail", label: `failed ${baseName}`, value: (c) => `${fmtPct(c.baseline.failure_rate, 2)} (${fmtInt(c.baseline.transactions)})`},
    {key: "d_fail", label: "failure difference", value: (c) => diffCell(c.difference.failure_rate, c.difference.failure_rate_ci, c.difference.failure_rate_significant, (v) => fmtPct(v, 2)), cls: (c) => (c.difference.failure_rate_significant ? (c.difference.failure_rate > 0 ? "worse" : "better") : "")},
  ], "Nothing to compare in this window.");
  if (mode === "flag") {
    $("choices-title").textContent = "Flags seen";
    table("table-choices", d.flags, [{key: "flag"}, {key: "variant", href: (r) => link("/impact", {mode: "flag", flag: `${r.flag}:${r.variant}`})}, {key: "transactions", num: true, fmt: fmtInt}]);
  } else {
    table("table-choices", (d.releases || []).slice().reverse(), [{key: "app"}, {key: "release", href: (r) => link("/impact", {mode: "release", release: r.release, from: null, to: null})}, {key: "first_seen", fmt: fmtTime}, {key: "last_seen", fmt: fmtTime}, {key: "transactions", num: true, fmt: fmtInt}]);
  }
};

PAGES.vitals = async () => {
  const d = await api("web_vitals", {by: here.get("by")});
  plot("chart-vitals", Object.entries(d.p75).map(([name, values], i) => ({
    x: d.buckets, y: values, name: `${name} p75`, type: "scatter", mode: "lines", yaxis: name === "CLS" ? "y2" : "y", line: {color: COLORS[i % COLORS.length]},
  })), {yaxis: yAxis("ms", "ms"), yaxis2: {title: "CLS", overlaying: "y", side: "right", rangemode: "tozero"}});
  const keys = d.by === "page_browser" ? ["page", "browser"] : [d.by];
  table("table-vitals", d.rows, [
    ...keys.map((k) => ({key: k})), {key: "samples", num: true, fmt: fmtInt},
    ...d.vitals.map((v) => ({key: v, label: `${v} p75 (poor)`, num: true,
      value: (r) => (r[v] ? `${v === "CLS" ? r[v].p75 : fmtMs(r[v].p75)} (${fmtPct(r[v].poor_share)})` : "–"),
      cls: (r) => (r[v] && r[v].poor_share > 0.25 ? "worse" : "")})),
  ]);
};

PAGES.quality = async () => {
  const d = await api("data_quality");
  const o = d.coverage.overall;
  numbers("coverage-numbers", [
    ["client requests", fmtInt(o.requests)], ["linked exactly", fmtPct(o.exact_share)], ["linked by score", fmtPct(o.scored_share)],
    ["unlinked", fmtPct(o.unlinked_share), o.unlinked_share > 0.2 ? "bad" : ""], ["quarantined", fmtInt(d.quarantine.reduce((a, r) => a + r.records, 0))],
    ["facts", d.facts_stale ? "refreshing" : "up to date", d.facts_stale ? "bad" : ""],
  ]);
  const b = d.coverage.breakdown;
  plot("chart-coverage", [["exact", "#2b9e5f"], ["scored", "#c9a227"], ["unlinked", "#d33"]].map(([k, color]) => ({
    type: "bar", orientation: "h", name: k, y: b.map((r) => r.route), x: b.map((r) => r[k]), marker: {color},
  })), {barmode: "stack", xaxis: {title: "requests"}, yaxis: {automargin: true, autorange: "reversed"}, margin: {l: 180, r: 20, t: 10, b: 40}, hovermode: "closest", height: 120 + 22 * b.length});
  table("table-reasons", d.coverage.unlinked_reasons, [{key: "reason"}, {key: "requests", num: true, fmt: fmtInt}], "Every request was linked.");
  table("table-rows", d.rows_in_window, [{key: "kind"}, {key: "source"}, {key: "rows", num: true, fmt: fmtInt}]);
  table("table-range", Object.entries(d.out_of_range).map(([column, values]) => ({column, values})), [{key: "column"}, {key: "values", num: true, fmt: fmtInt}], "Every value is within its expected range.");
  table("table-ingest", d.ingest, [
    {key: "source"}, {key: "runs", num: true, fmt: fmtInt}, {key: "records_read", label: "read", num: true, fmt: fmtInt},
    {key: "rows_stored", label: "stored", num: true, fmt: fmtInt}, {key: "rows_quarantined", label: "quarantined", num: true, fmt: fmtInt},
    {key: "quarantined_share", label: "share", num: true, fmt: (v) => fmtPct(v, 2)}, {key: "failed_runs", num: true}, {key: "last_finished", fmt: fmtTime},
  ]);
  table("table-quarantine", d.quarantine, [{key: "source"}, {key: "reason"}, {key: "records", num: true, fmt: fmtInt}, {key: "last_seen", fmt: fmtTime}], "Nothing quarantined.");
  table("table-clocks", d.clock_offsets, [
    {key: "method"}, {key: "sessions", num: true, fmt: fmtInt}, {key: "median_abs_offset_ms", label: "median |offset|", num: true, fmt: fmtMs},
    {key: "p95_abs_offset_ms", label: "p95 |offset|", num: true, fmt: fmtMs}, {key: "median_spread_ms", label: "median spread", num: true, fmt: fmtMs},
  ], "No clock offsets estimated yet.");
  table("table-runs", d.correlation_runs, [
    {key: "started_at", fmt: fmtTime}, {key: "status"}, {key: "seconds", num: true, fmt: (v) => (v == null ? "–" : v.toFixed(1))},
    {key: "links_exact", label: "exact", num: true, fmt: fmtInt}, {key: "links_scored", label: "scored", num: true, fmt: fmtInt},
    {key: "transactions", num: true, fmt: fmtInt},
  ], "Correlation has not run yet: `seamline correlate`.");
  // The per-field report scans every column of the window: it loads after the rest of the page.
  const w = new URLSearchParams({since: d.window.start, until: d.window.end});
  const g = await fetch(`/api/quality?${w}`).then((r) => (r.ok ? r.json() : null));
  if (g && g.fields) qualityGovernance(g);
};

// Per-field quality against the baseline period, clock-skew and join-coverage trends, schema drift.
function qualityGovernance(g) {
  table("table-fields", g.fields, [
    {key: "source"}, {key: "field"}, {key: "null_rate", label: "nulls", num: true, fmt: (v) => fmtPct(v)},
    {key: "baseline_null_rate", label: "baseline nulls", num: true, fmt: (v) => fmtPct(v)},
    {key: "cardinality", label: "distinct", num: true, fmt: fmtInt},
    {key: "out_of_range_rate", label: "out of range", num: true, fmt: (v) => fmtPct(v, 2)},
    {key: "drift", fmt: (v) => v || "", cls: (r) => (r.drift ? "worse" : "")},
  ], "No rows in this window.");
  const skew = g.clock_skew_trend;
  plot("chart-skew", [
    {x: skew.map((r) => r.bucket), y: skew.map((r) => r.median_abs_offset_ms), name: "median |offset|", type: "scatter", mode: "lines+markers", line: {color: COLORS[0]}},
    {x: skew.map((r) => r.bucket), y: skew.map((r) => r.p95_abs_offset_ms), name: "p95 |offset|", type: "scatter", mode: "lines+markers", line: {color: COLORS[1]}},
  ], {yaxis: {title: "ms", type: "log"}});
  const cov = g.join_coverage_trend;
  plot("chart-coverage-trend", [["exact_share", "exact", "#2b9e5f"], ["scored_share", "scored", "#c9a227"], ["unlinked_share", "unlinked", "#d33"]].map(([k, name, color]) => ({
    x: cov.map((r) => r.bucket), y: cov.map((r) => r[k]), name, type: "bar", marker: {color},
  })), {barmode: "stack", yaxis: {title: "share of client requests", tickformat: ".0%", range: [0, 1]}});
  table("table-drift", g.schema_drift.changes, [
    {key: "source"}, {key: "field"}, {key: "change"}, {key: "value_type", label: "type"},
    {key: "previous_types", label: "was", fmt: (v) => (v || []).join(", ")}, {key: "first_seen", fmt: fmtTime}, {key: "rows", num: true, fmt: fmtInt},
  ], "No new fields or type changes since the baseline.");
}

PAGES.saved = async () => {
  const response = await fetch("/api/saved-views");
  const views = await response.json();
  table("table-shared", views.filter((v) => v.shared), [
    {key: "name", href: (v) => v.url}, {key: "page"}, {key: "description"},
    {key: "copy", label: "", value: (v) => el("button", {type: "button", class: "secondary", onclick: () => openSave({page: v.page, query: v.query, based_on: v.name, name: `${v.name} (copy)`})}, "Save a copy")},
  ]);
  const editable = (v, key, size) => el("input", {value: v[key] || "", size, "data-key": key, "data-view": v.view_id});
  table("table-teams", views.filter((v) => !v.shared), [
    {key: "open", label: "", value: (v) => el("a", {href: v.url}, "open")},
    {key: "name", value: (v) => editable(v, "name", 24)}, {key: "team", value: (v) => editable(v, "team", 10)},
    {key: "page"}, {key: "query", value: (v) => editable(v, "query", 36)}, {key: "description", value: (v) => editable(v, "description", 30)},
    {key: "based_on", label: "based on"}, {key: "updated_at", label: "edited", fmt: fmtTime},
    {key: "actions", label: "", value: (v) => el("span", {},
      el("button", {type: "button", class: "save-edit", onclick: () => editView(v.view_id)}, "Save"),
      el("button", {type: "button", class: "secondary delete", onclick: () => deleteView(v.view_id)}, "Delete"))},
  ], "No team has saved a view yet: use “Save view…” on any page.");
};

async function editView(viewId) {
  const body = {};
  for (const input of document.querySelectorAll(`input[data-view="${CSS.escape(viewId)}"]`)) body[input.dataset.key] = input.value;
  const response = await fetch(`/api/saved-views/${enc(viewId)}`, {method: "PUT", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const d = await response.json();
  if (response.ok) await PAGES.saved();  // redraw first: the status says the table is current
  setStatus(response.ok ? `Saved “${d.name}”.` : d.error, !response.ok);
}

async function deleteView(viewId) {
  const response = await fetch(`/api/saved-views/${enc(viewId)}`, {method: "DELETE"});
  const d = await response.json();
  if (response.ok) await PAGES.saved();
  setStatus(response.ok ? "Deleted." : d.error, !response.ok);
}

// --- saving the current view ------------------------------------------------------------------
const SAVEABLE = {overview: "overview", flow: "flow", failures: "failures", heatmap: "heatmap", impact: "impact", vitals: "vitals", quality: "quality", session: "session"};
let pendingSave = null;

function currentView() {
  const query = new URLSearchParams(location.search);
  if (page === "flow") query.set("flow", params.flow);
  if (page === "session") query.set("session", params.session_id);
  return {page: SAVEABLE[page], query: query.toString()};
}

function openSave(preset) {
  pendingSave = preset || currentView();
  const form = $("save-view-form");
  form.elements.name.value = (preset && preset.name) || "";
  $("save-view-message").textContent = "";
  $("save-view").showModal();
}

async function submitSave(event) {
  event.preventDefault();
  const form = $("save-view-form");
  const body = Object.assign({}, pendingSave, {name: form.elements.name.value, team: form.elements.team.value, description: form.elements.description.value});
  const response = await fetch("/api/saved-views", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const d = await response.json();
  if (!response.ok) {
    $("save-view-message").textContent = d.error;
    return;
  }
  $("save-view").close();
  if (page === "saved") await PAGES.saved();
  setStatus(`Saved “${d.name}” for ${d.team}.`);
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text || "";
  status.className = isError ? "status error" : "status";
}

// --- start ------------------------------------------------------------------------------------
async function fillFilterChoices() {
  try {
    const d = await api("filter_options");
    for (const key of ["environment", "release", "flag", "segment", "browser", "region"]) {
      const list = document.getElementById(`options-${key}`);
      if (list) list.replaceChildren(...(d[key] || []).map((v) => el("option", {value: v})));
    }
  } catch (err) {
    // Choices are a convenience; typing a value still works.
  }
}

async function start() {
  // Empty filters stay out of the URL, so shared links say only what was chosen.
  $("filters").addEventListener("submit", (event) => {
    for (const field of event.target.elements) {
      if (field.name && !field.value) field.disabled = true;
    }
  });
  window.addEventListener("pageshow", () => {
    for (const field of $("filters").elements) field.disabled = false;
  });
  const saveButton = $("save-view-open");
  if (SAVEABLE[page]) saveButton.addEventListener("click", () => openSave());
  else saveButton.hidden = true;
  $("save-view-submit").addEventListener("click", submitSave);
  fillFilterChoices();
  const render = PAGES[page];
  try {
    if (render) await render();
    setStatus("");
    document.body.dataset.ready = "ok";
  } catch (err) {
    setStatus(`Could not load this page: ${err.message}`, true);
    document.body.dataset.ready = "error";
  }
}

start();
