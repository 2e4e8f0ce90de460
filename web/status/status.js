// Ternserve's status page: fetches /status.json every second and draws it (uPlot, when the build
// embedded it) or shows it as text (always). It sends nothing but GETs of this server's own
// paths. window.ternserveStatus is what a test (tests/browser/) reads back: how many updates
// succeeded, the last document, whether charts are drawn.
"use strict";

const PERIOD_MS = 1000;
const CHART_HEIGHT = 220;
const state = { updates: 0, errors: 0, lastError: null, charts: "loading", doc: null };
window.ternserveStatus = state;

const charts = {};  // figure id -> { plot, key }

const $ = (id) => document.getElementById(id);
const last = (values) => (values && values.length ? values[values.length - 1] : null);
const fmt = (value, digits) => (value === null || value === undefined ? "–" : value.toFixed(digits));
const sum = (values) => values.reduce((a, b) => a + (b || 0), 0);

function formatMacs(macs) {
  return macs >= 1e6 ? (macs / 1e6).toPrecision(3) + " M" : (macs / 1e3).toPrecision(3) + " k";
}

// Sub-nets from the most accurate (drawn at the bottom of the mix, blue) to the fastest (on top,
// orange): the order in which the scheduler trades accuracy for speed under load.
function subnetColors(subnets) {
  const colors = {};
  subnets.forEach((subnet, i) => {
    const t = subnets.length > 1 ? i / (subnets.length - 1) : 0;
    colors[subnet.id] = `hsl(${Math.round(215 - 190 * t)}, 70%, ${Math.round(45 + 10 * t)}%)`;
  });
  return colors;
}

function bySpeed(doc) {
  return [...doc.model.subnets].sort((a, b) => b.macs - a.macs);  // most MACs first
}

const CODE_COLORS = {
  OK: "#2e8b57", DEADLINE_EXCEEDED: "#d9534f", RESOURCE_EXHAUSTED: "#f0ad4e",
  UNAVAILABLE: "#8e44ad", INVALID_ARGUMENT: "#7f8c8d", UNAUTHENTICATED: "#34495e",
  CANCELLED: "#95a5a6",
};

// The series of every chart as uPlot data: [x, y1, y2, ...] with labels and colors. `key`
// changes when the set of series does, so the chart is made anew.
function chartSpecs(doc) {
  const s = doc.series;
  const x = s.time_unix_ms.map((ms) => ms / 1000);
  const specs = {};
  const codes = Object.keys(s.requests_per_s);
  specs["chart-rate"] = {
    data: [x, ...codes.map((c) => s.requests_per_s[c])],
    series: codes.map((c) => ({ label: c, stroke: CODE_COLORS[c] || "#555", width: 2 })),
  };
  // The mix as a 100% stacked area: each sub-net's share of the requests run in that second,
  // drawn as cumulative sums from the top down so each band shows one sub-net.
  const subnets = bySpeed(doc).filter((subnet) => s.subnet_requests_per_s[subnet.id] !== undefined);
  const colors = subnetColors(subnets);
  const totals = x.map((_, i) => sum(subnets.map((sn) => s.subnet_requests_per_s[sn.id][i])));
  const shares = subnets.map((sn) =>
    s.subnet_requests_per_s[sn.id].map((v, i) => (totals[i] > 0 ? (100 * v) / totals[i] : null)));
  const cumulative = shares.map((_, k) =>
    x.map((_, i) => (totals[i] > 0 ? sum(shares.slice(0, k + 1).map((sh) => sh[i])) : null)));
  const order = subnets.map((_, k) => k).reverse();
  specs["chart-mix"] = {
    data: [x, ...order.map((k) => cumulative[k])],
    series: order.map((k) => ({
      label: `${subnets[k].id} ${subnets[k].name}`,
      stroke: colors[subnets[k].id], fill: colors[subnets[k].id], width: 1,
      value: (u, v, si, i) => (i === null || i === undefined ? "–" : fmt(shares[k][i], 1) + "%"),
    })),
    range: [0, 100],
  };
  specs["chart-latency"] = {
    data: [x, s.p50_ms, s.p99_ms],
    series: [{ label: "p50", stroke: "#1f77b4", width: 2 }, { label: "p99", stroke: "#d62728", width: 2 }],
  };
  specs["chart-slo"] = {
    data: [x, s.slo_attainment.map((v) => (v === null ? null : 100 * v))],
    series: [{ label: "attainment %", stroke: "#2e8b57", width: 2 }],
    range: [0, 100],
  };
  specs["chart-queue"] = {
    data: [x, s.queue_depth],
    series: [{ label: "queue depth", stroke: "#8e44ad", width: 2 }],
  };
  specs["chart-batch"] = {
    data: [x, s.mean_batch_size],
    series: [{ label: "mean batch", stroke: "#ff7f0e", width: 2 }],
  };
  specs["chart-accuracy"] = {
    data: [x, s.mean_served_accuracy.map((v) => (v === null ? null : 100 * v))],
    series: [{ label: "accuracy %", stroke: "#17becf", width: 2 }],
    // The sub-nets differ by a few points: a scale from 0 would flatten the line.
    range: (u, min, max) => [Math.floor(min - 0.5), Math.ceil(max + 0.5)],
  };
  for (const spec of Object.values(specs)) spec.key = spec.series.map((se) => se.label).join("|");
  return specs;
}

function drawCharts(doc) {
  const specs = chartSpecs(doc);
  for (const [id, spec] of Object.entries(specs)) {
    const figure = $(id);
    const width = Math.max(300, figure.clientWidth - 10);
    const existing = charts[id];
    if (existing && existing.key === spec.key) {
      if (existing.plot.width !== width) existing.plot.setSize({ width, height: CHART_HEIGHT });
      existing.plot.setData(spec.data);
      continue;
    }
    if (existing) existing.plot.destroy();
    const options = {
      width, height: CHART_HEIGHT,
      series: [{}, ...spec.series],
      scales: {
        x: { time: true },
        y: { range: spec.range || ((u, min, max) => [0, Math.max(max, 1e-9) * 1.1]) },
      },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    charts[id] = { key: spec.key, plot: new uPlot(options, spec.data, figure) };
  }
}

function renderNow(doc) {
  const s = doc.series;
  const rates = Object.entries(s.requests_per_s).map(([code, v]) => [code, last(v)]);
  const subnets = bySpeed(doc);
  const mix = subnets
    .map((sn) => [sn.id, last(s.subnet_requests_per_s[sn.id] || [])])
    .filter(([, v]) => v > 0)
    .map(([id, v]) => `${id}: ${fmt(v, 0)}`)
    .join(", ");
  const items = [
    ...rates.map(([code, v]) => [`requests/s ${code}`, fmt(v, 1)]),
    ["SLO attainment", last(s.slo_attainment) === null ? "–" : fmt(100 * last(s.slo_attainment), 2) + "%"],
    ["p50 latency", fmt(last(s.p50_ms), 2) + " ms"],
    ["p99 latency", fmt(last(s.p99_ms), 2) + " ms"],
    ["queue depth", fmt(last(s.queue_depth), 0)],
    ["mean batch size", fmt(last(s.mean_batch_size), 2)],
    ["mean served accuracy", last(s.mean_served_accuracy) === null ? "–" : fmt(100 * last(s.mean_served_accuracy), 2) + "%"],
    ["sub-net mix (req/s)", mix || "–"],
  ];
  const list = $("now-list");
  list.replaceChildren(...items.map(([name, value]) => {
    const row = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = value;
    row.append(dt, dd);
    return row;
  }));
}

function renderSubnets(doc) {
  const s = doc.series;
  const subnets = bySpeed(doc);
  const colors = subnetColors(subnets);
  const recent = (values) => sum((values || []).slice(-10));
  const total = sum(subnets.map((sn) => recent(s.subnet_requests_per_s[sn.id])));
  const totals = (doc.totals && doc.totals.subnet_requests) || {};
  const rows = [...subnets].sort((a, b) => a.id - b.id).map((sn) => {
    const row = document.createElement("tr");
    const share = total > 0 ? fmt((100 * recent(s.subnet_requests_per_s[sn.id])) / total, 1) + "%" : "–";
    for (const text of [sn.id, sn.name, formatMacs(sn.macs), fmt(100 * sn.test_accuracy, 2) + "%",
                        totals[sn.id] === undefined ? 0 : totals[sn.id], share]) {
      const cell = document.createElement("td");
      cell.textContent = String(text);
      row.append(cell);
    }
    row.cells[0].className = "swatch";
    row.cells[0].style.borderLeftColor = colors[sn.id];
    return row;
  });
  document.querySelector("#subnets tbody").replaceChildren(...rows);
}

function render(doc) {
  const server = doc.server;
  const model = doc.model;
  $("model-name").textContent = `— ${model.name}`;
  $("server-line").textContent =
    `policy ${model.policy} · model generation ${model.generation} · ${model.subnets.length} sub-nets · ` +
    `engine ${server.engine}${server.isa !== "none" ? " (" + server.isa + ")" : ""} · ` +
    `${server.workers} workers · max batch ${server.max_batch} · default SLO ${server.default_slo_ms} ms · ` +
    `version ${server.version}`;
  const updated = doc.totals ? new Date(doc.totals.time_unix_ms).toLocaleTimeString() : "–";
  $("update-line").textContent = `sampled ${updated}; ${doc.series.time_unix_ms.length} s of history`;
  renderNow(doc);
  renderSubnets(doc);
  if (state.charts === "uplot") drawCharts(doc);
}

async function update() {
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`GET /status.json: HTTP ${response.status}`);
    const doc = await response.json();
    state.doc = doc;
    render(doc);
    state.updates += 1;
    $("fetch-error").hidden = true;
  } catch (error) {
    state.errors += 1;
    state.lastError = String(error);
    $("fetch-error").textContent = `Cannot update: ${error} (is the server still running?)`;
    $("fetch-error").hidden = false;
  } finally {
    setTimeout(update, PERIOD_MS);
  }
}

function start() {
  state.charts = typeof uPlot === "function" ? "uplot" : "missing";
  document.body.dataset.charts = state.charts;
  if (state.charts === "missing") {
    $("charts-missing").hidden = false;
    $("charts").hidden = true;
  }
  update();
}

start();
