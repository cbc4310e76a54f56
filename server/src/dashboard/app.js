// FLASH dashboard: plain JavaScript over the /v1 API. Every value from the API reaches the page
// through textContent or attributes set one by one, never as markup; plots are the server's SVG,
// parsed as XML and imported as nodes.
"use strict";

const TOKEN_KEY = "flash-token";
const view = document.getElementById("view");

// ---- DOM helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmt(v, digits = 4) {
  if (v === undefined || v === null) return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    if (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(2);
    return Number(v.toPrecision(digits)).toString();
  }
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

const pct = (share) => (share === null || share === undefined ? "–" : (share * 100).toFixed(1) + "%");

function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h3", {}, title) : null, ...children);
}

function figures(pairs) {
  return h("dl", { class: "figures" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// A table from column definitions {label, value(row), num, sort}; click a header to sort.
function table(columns, rows, opts = {}) {
  const tbody = h("tbody");
  let sortCol = null;
  let asc = true;
  const heads = columns.map((c, i) =>
    h("th", {
      class: c.sort === false ? "" : "sortable",
      onclick: () => {
        if (c.sort === false) return;
        asc = sortCol === i ? !asc : true;
        sortCol = i;
        heads.forEach((th, j) => th.classList.remove("sorted-asc", "sorted-desc"));
        heads[i].classList.add(asc ? "sorted-asc" : "sorted-desc");
        fill();
      },
    }, c.label)
  );
  function fill() {
    let data = rows.slice();
    if (sortCol !== null) {
      const key = columns[sortCol].key || columns[sortCol].value;
      data.sort((a, b) => {
        const x = key(a), y = key(b);
        const r = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return asc ? r : -r;
      });
    }
    tbody.replaceChildren(...data.map((row) => {
      const tr = h("tr", {
        class: opts.onselect ? "selectable" + (opts.selected && opts.selected(row) ? " selected" : "") : "",
        onclick: opts.onselect ? () => opts.onselect(row) : null,
      }, columns.map((c) => {
        const v = c.value(row);
        return h("td", { class: c.num ? "num" : c.class || "" }, v instanceof Node ? v : fmt(v));
      }));
      return tr;
    }));
    if (!data.length) tbody.append(h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, opts.empty || "nothing yet")));
  }
  fill();
  return h("table", { class: opts.class || "" }, h("thead", {}, h("tr", {}, heads)), tbody);
}

// ---- API -----------------------------------------------------------------------------------

class Problem extends Error {
  constructor(p) {
    super(p.title || "request failed");
    this.problem = p;
  }
}

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

async function request(method, path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Problem({ title: "The server cannot be reached", detail: String(e) });
  }
  if (!resp.ok) {
    let p = { title: resp.statusText || "request failed", status: resp.status };
    const type = resp.headers.get("content-type") || "";
    if (type.includes("json")) {
      try { p = await resp.json(); } catch (_) { /* keep the status line */ }
    }
    if (resp.status === 401 && !p.detail) p.detail = "Paste a token above.";
    throw new Problem(p);
  }
  return resp;
}

const api = async (path) => (await request("GET", path)).json();
const post = async (path, body) => (await request("POST", path, body)).json();

// A spec's cells in one line, whatever the family: width/depth, then the family's fields
// (DenseNet: skip budget tc; ResNet: block and multiplier; MobileNet: expansion and kernel).
function cellsText(cells) {
  const one = (c) => {
    const parts = [`w${c.width}`, `d${c.depth}`];
    if (c.tc !== undefined) parts.push(`tc${c.tc}`);
    if (c.block !== undefined) parts.push(c.block, `x${c.multiplier}`);
    if (c.expansion !== undefined) parts.push(`e${c.expansion}`, `k${c.kernel}`);
    return parts.join(" ");
  };
  return cells.map(one).join(" | ");
}

// Fetches a plot and appends it as SVG nodes (parsed as XML, so text stays text).
async function plot(container, path) {
  const box = h("div", { class: "plot", "data-src": path }, h("span", { class: "muted" }, "loading plot…"));
  container.append(box);
  try {
    const text = await (await request("GET", path)).text();
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    if (root.localName !== "svg" || doc.getElementsByTagName("parsererror").length) {
      throw new Problem({ title: "The plot could not be read", detail: path });
    }
    box.replaceChildren(document.importNode(root, true));
  } catch (e) {
    box.replaceChildren(problemBox(e));
  }
}

function problemBox(e) {
  const p = e instanceof Problem ? e.problem : { title: "Error", detail: String(e) };
  return h("div", { class: "problem", role: "alert" },
    h("h3", {}, p.title || "Error", p.status ? ` (${p.status})` : ""),
    p.detail ? h("p", {}, p.detail) : null,
    Array.isArray(p.errors) && p.errors.length
      ? h("ul", {}, p.errors.map((f) => h("li", {}, h("code", {}, f.field), ": ", f.message)))
      : null);
}

// ---- routing ---------------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, query] = hash.split("?");
  return { page: page || "fleet", params: new URLSearchParams(query || "") };
}

function go(page, params) {
  const q = new URLSearchParams(params || {}).toString();
  location.hash = "#/" + page + (q ? "?" + q : "");
}

const pages = {};
let generation = 0;

async function render() {
  const { page, params } = route();
  const gen = ++generation;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  view.dataset.state = "loading";
  view.dataset.page = page;
  view.replaceChildren(h("p", { class: "muted" }, "loading…"));
  const content = h("div");
  try {
    await (pages[page] || pages.fleet)(content, params);
    if (gen !== generation) return;
    view.replaceChildren(content);
    view.dataset.state = "ready";
  } catch (e) {
    if (gen !== generation) return;
    view.replaceChildren(content, problemBox(e));
    view.dataset.state = "error";
  }
}

// ---- pages -----------------------------------------------------------------------------------

pages.fleet = async (el) => {
  const [devices, running, queued] = await Promise.all([
    api("/v1/devices?limit=1000"),
    api("/v1/jobs?state=running&limit=1000"),
    api("/v1/jobs?state=queued&limit=1000"),
  ]);
  const depth = devices.items.reduce((n, d) => n + d.queued_jobs, 0);
  const online = devices.items.filter((d) => d.online).length;
  el.append(h("h2", {}, "Fleet"),
    card(null,
      h("span", { class: "stat" }, h("b", { id: "queue-depth" }, fmt(depth)), "jobs queued"),
      h("span", { class: "stat" }, h("b", {}, fmt(running.items.length)), "running"),
      h("span", { class: "stat" }, h("b", {}, `${online} / ${devices.items.length}`), "devices online")),
    card("Devices", table([
      { label: "Device", value: (d) => d.name },
      { label: "Profile", value: (d) => d.profile },
      { label: "Online", value: (d) => h("span", { class: d.online ? "ok" : "muted" }, d.online ? "online" : "offline"), key: (d) => (d.online ? 1 : 0) },
      { label: "Current job", value: (d) => d.current_job || "–", class: "mono" },
      { label: "Queued", value: (d) => d.queued_jobs, num: true },
      { label: "Last heartbeat", value: (d) => d.last_heartbeat_at || "never" },
    ], devices.items, { class: "devices", empty: "no devices registered" })),
    card("Running and queued jobs", table([
      { label: "Job", value: (j) => j.id, class: "mono" },
      { label: "State", value: (j) => j.state },
      { label: "Device", value: (j) => j.device },
      { label: "Architecture", value: (j) => j.architecture_id, class: "mono" },
      { label: "Attempt", value: (j) => `${j.attempt} / ${j.max_attempts}` },
      { label: "Created", value: (j) => j.created_at },
    ], running.items.concat(queued.items), { class: "jobs", empty: "no jobs waiting" }),
    queued.next_cursor ? h("p", { class: "muted" }, "more than 1000 queued; showing the first 1000") : null));
  // Each agent device's speed over time (its reference network in every paired measurement).
  const speed = card("Device speed", h("p", { class: "muted" },
    "The reference network's median latency in each paired measurement: a rise is a slow-down or throttling, dated."));
  el.append(speed);
  const plots = h("div", { class: "plots" });
  speed.append(plots);
  await Promise.all(devices.items.map((d) => plot(plots, "/v1/devices/" + encodeURIComponent(d.name) + "/speed.svg")));
};

pages.architectures = async (el, params) => {
  const filters = ["space", "in_space", "nn_degree_min", "nn_degree_max", "params_max", "limit"];
  const q = new URLSearchParams();
  for (const f of filters) if (params.get(f)) q.set(f, params.get(f));
  if (!q.get("limit")) q.set("limit", "50");
  if (params.get("cursor")) q.set("cursor", params.get("cursor"));
  const spaces = await api("/v1/spaces");
  const page = await api("/v1/architectures?" + q);
  const input = (name, label, attrs) => h("label", {}, label, h("input", { name, value: params.get(name) || "", ...attrs }));
  const form = h("form", {
    class: "filters",
    onsubmit: (ev) => {
      ev.preventDefault();
      const next = {};
      for (const [k, v] of new FormData(form)) if (v !== "") next[k] = v;
      go("architectures", next);
    },
  },
  h("label", {}, "Space", h("select", { name: "space" }, h("option", { value: "" }, "any"),
    (spaces.items || spaces).map((s) => h("option", { value: s.name, selected: params.get("space") === s.name }, s.name)))),
  h("label", {}, "In space", h("select", { name: "in_space" },
    [["", "any"], ["true", "yes"], ["false", "no"]].map(([v, l]) => h("option", { value: v, selected: params.get("in_space") === v && v !== "" }, l)))),
  input("nn_degree_min", "NN-Degree ≥", { type: "number", step: "any" }),
  input("nn_degree_max", "NN-Degree ≤", { type: "number", step: "any" }),
  input("params_max", "Params ≤", { type: "number", step: "1" }),
  input("limit", "Per page", { type: "number", min: 1, max: 1000, value: q.get("limit") }),
  h("button", { type: "submit" }, "Filter"));
  const pageParams = Object.fromEntries(q);
  delete pageParams.cursor;
  el.append(h("h2", {}, "Architectures"), card(null, form,
    table([
      { label: "Id", value: (a) => a.id, class: "mono" },
      { label: "Space", value: (a) => a.space || "–" },
      { label: "In space", value: (a) => a.in_space },
      { label: "Params", value: (a) => a.metrics.params, num: true },
      { label: "MACs", value: (a) => a.metrics.macs, num: true },
      { label: "NN-Degree", value: (a) => a.metrics.nn_degree, num: true },
      { label: "Depth", value: (a) => a.metrics.depth, num: true },
      { label: "Cells", value: (a) => (a.spec ? cellsText(a.spec.cells) : "–"), sort: false },
      { label: "Created", value: (a) => a.created_at },
    ], page.items, { class: "architectures", empty: "no architectures match" }),
    h("div", { class: "pager" },
      params.get("cursor") ? h("button", { type: "button", onclick: () => go("architectures", pageParams) }, "First page") : null,
      page.next_cursor ? h("button", { type: "button", id: "next-page", onclick: () => go("architectures", { ...pageParams, cursor: page.next_cursor }) }, "Next page") : null,
      h("span", { class: "muted" }, `${page.items.length} shown`))));
};

pages.measurements = async (el, params) => {
  const q = new URLSearchParams({ limit: "100" });
  if (params.get("device")) q.set("device", params.get("device"));
  if (params.get("cursor")) q.set("cursor", params.get("cursor"));
  const page = await api("/v1/measurements?" + q);
  const base = params.get("device") ? { device: params.get("device") } : {};
  el.append(h("h2", {}, "Measurements"), card(null,
    table([
      { label: "Device", value: (m) => m.device },
      { label: "Architecture", value: (m) => m.architecture_id, class: "mono" },
      { label: "Normalized (ms)", value: (m) => m.normalized_latency_ms, num: true },
      { label: "Ratio to reference", value: (m) => (m.result.ratio ? `${fmt(m.result.ratio.p50)} [${fmt(m.result.ratio.ci_low)}, ${fmt(m.result.ratio.ci_high)}]` : "unpaired"), sort: false },
      { label: "Raw p50 (ms)", value: (m) => m.result.latency.p50_ms, num: true },
      { label: "Raw p90 (ms)", value: (m) => m.result.latency.p90_ms, num: true },
      { label: "p50 95% CI (ms)", value: (m) => `${fmt(m.result.latency.p50_ci_low_ms)} – ${fmt(m.result.latency.p50_ci_high_ms)}`, sort: false },
      { label: "Runs", value: (m) => m.result.latency.n, num: true },
      { label: "Energy (mJ)", value: (m) => (m.result.energy ? m.result.energy.mj_per_inference : null), num: true },
      { label: "Energy method", value: (m) => (m.result.energy ? m.result.energy.method : "–") },
      { label: "Source", value: (m) => m.source },
      { label: "Job", value: (m) => m.job_id || "upload", class: "mono" },
      { label: "Created", value: (m) => m.created_at },
    ], page.items, { class: "measurements", empty: "no measurements yet" }),
    h("div", { class: "pager" },
      page.next_cursor ? h("button", { type: "button", onclick: () => go("measurements", { ...base, cursor: page.next_cursor }) }, "Next page") : null)));
};

pages.models = async (el, params) => {
  const [hw, acc] = await Promise.all([api("/v1/hardware-models?limit=200"), api("/v1/accuracy-models?limit=200")]);
  const hwId = params.get("hw") || (hw.items[0] && hw.items[0].id);
  const accId = params.get("acc") || (acc.items[0] && acc.items[0].id);
  const select = (key) => (row) => go("models", { hw: hwId || "", acc: accId || "", [key]: row.id });
  el.append(h("h2", {}, "Model fits"));
  const hwCard = card("Hardware models", table([
    { label: "Id", value: (m) => m.id, class: "mono" },
    { label: "Device", value: (m) => m.device },
    { label: "Metric", value: (m) => m.metric },
    { label: "Version", value: (m) => m.version, num: true },
    { label: "n", value: (m) => m.fit.n, num: true },
    { label: "LOO MAPE", value: (m) => m.fit.loo.mape.toFixed(2) + "%", key: (m) => m.fit.loo.mape, num: true },
    { label: "±10%", value: (m) => pct(m.fit.loo.within_10), key: (m) => m.fit.loo.within_10, num: true },
    { label: "Created", value: (m) => m.created_at },
  ], hw.items, { class: "hardware-models", onselect: select("hw"), selected: (m) => m.id === hwId, empty: "no hardware models fitted yet" }));
  el.append(hwCard);
  const chosen = hw.items.find((m) => m.id === hwId) || (hwId ? await api("/v1/hardware-models/" + encodeURIComponent(hwId)) : null);
  if (chosen) {
    const f = chosen.fit;
    const plots = h("div", { class: "plots" });
    const detail = card(`Hardware model ${chosen.device} · ${chosen.metric} · v${chosen.version}`, plots,
      h("div", { class: "plots" },
        h("div", {}, h("h3", {}, "Leave-one-out figures"), figures([
          ["Feature set", f.feature_set],
          ["Samples", fmt(f.n)],
          ["MAPE", f.loo.mape.toFixed(2) + "%"],
          ["Within ±10%", pct(f.loo.within_10)],
          ["Within ±5%", pct(f.loo.within_5)],
          ["Spearman ρ", fmt(f.loo.spearman, 3)],
          ["Kendall τ", fmt(f.loo.kendall, 3)],
          ["In-sample MAPE", f.in_sample.mape.toFixed(2) + "%"],
          ["Values", chosen.value_source],
          ["Chosen because", f.reason],
        ])),
        h("div", {}, h("h3", {}, "Coefficients"), table([
          { label: "Feature", value: (c) => c[0] },
          { label: "Coefficient", value: (c) => c[1], num: true },
        ], f.model.features.map((name, i) => [name, f.model.coefficients[i]]), { class: "coefficients" }))),
      h("h3", {}, "Candidates and the MACs-only baseline"),
      table([
        { label: "Feature set", value: (c) => c.name },
        { label: "MAPE", value: (c) => c.loo.mape.toFixed(2) + "%", key: (c) => c.loo.mape, num: true },
        { label: "±10%", value: (c) => pct(c.loo.within_10), num: true },
        { label: "±5%", value: (c) => pct(c.loo.within_5), num: true },
        { label: "Spearman", value: (c) => c.loo.spearman, num: true },
        { label: "Kendall", value: (c) => c.loo.kendall, num: true },
      ], f.candidates.map((c) => ({ name: c.feature_set, loo: c.loo }))
        .concat([{ name: "MACs-only baseline", loo: f.baseline_macs }]), { class: "candidates" }));
    el.append(detail);
    const base = "/v1/hardware-models/" + encodeURIComponent(chosen.id);
    await Promise.all([plot(plots, base + "/plot.svg"), plot(plots, base + "/residuals.svg")]);
  }
  el.append(card("Accuracy models", table([
    { label: "Id", value: (m) => m.id, class: "mono" },
    { label: "Data set", value: (m) => m.dataset },
    { label: "Space", value: (m) => m.space || "any" },
    { label: "Version", value: (m) => m.version, num: true },
    { label: "n", value: (m) => m.fit.n, num: true },
    { label: "Form", value: (m) => formula(m.fit) },
    { label: "LOO RMSE", value: (m) => m.fit.errors.loo_rmse, num: true },
    { label: "Created", value: (m) => m.created_at },
  ], acc.items, { class: "accuracy-models", onselect: select("acc"), selected: (m) => m.id === accId, empty: "no accuracy models fitted yet" })));
  const chosenAcc = acc.items.find((m) => m.id === accId) || (accId ? await api("/v1/accuracy-models/" + encodeURIComponent(accId)) : null);
  if (chosenAcc) {
    const f = chosenAcc.fit;
    const plots = h("div", { class: "plots" });
    el.append(card(`Accuracy model ${chosenAcc.dataset} · v${chosenAcc.version}`, plots,
      figures([
        ["Form", formula(f)],
        ["Coefficients", f.model.coefficients.map((c) => fmt(c)).join(", ")],
        ["Samples", fmt(f.n)],
        ["LOO RMSE", fmt(f.errors.loo_rmse)],
        ["LOO R²", fmt(f.errors.loo_r2, 3)],
        ["In-sample R²", fmt(f.errors.r2, 3)],
        ["Spearman ρ", fmt(f.errors.spearman, 3)],
        ["Kendall τ", fmt(f.errors.kendall, 3)],
        ["Chosen because", f.reason],
      ]),
      h("h3", {}, "Candidates and the params-only baseline"),
      table([
        { label: "Formula", value: (c) => c.formula },
        { label: "LOO RMSE", value: (c) => c.errors.loo_rmse, num: true },
        { label: "LOO R²", value: (c) => c.errors.loo_r2, num: true },
        { label: "Spearman", value: (c) => c.errors.spearman, num: true },
      ], f.candidates.concat([{ ...f.baseline_params, formula: f.baseline_params.formula + " (params-only baseline)" }]), { class: "candidates" })));
    await plot(plots, "/v1/accuracy-models/" + encodeURIComponent(chosenAcc.id) + "/plot.svg");
  }
};

function formula(fit) {
  const c = fit.candidates.find((x) => JSON.stringify(x.form) === JSON.stringify(fit.model.form));
  return c ? c.formula : JSON.stringify(fit.model.form);
}

function costOf(scored, device, metric) {
  const c = scored && scored.costs.find((x) => x.device === device && x.metric === metric);
  return c ? c.value : null;
}

pages.searches = async (el, params) => {
  const list = await api("/v1/searches?limit=100");
  const id = params.get("id") || (list.items[0] && list.items[0].id);
  el.append(h("h2", {}, "Searches"), card(null, table([
    { label: "Id", value: (s) => s.id, class: "mono" },
    { label: "Data set", value: (s) => s.request.dataset },
    { label: "Devices", value: (s) => s.request.devices.map((d) => d.device).join(", ") },
    { label: "Objective", value: (s) => s.request.objective.kind },
    { label: "Winner accuracy", value: (s) => (s.result.best ? s.result.best.accuracy.value : null), num: true },
    { label: "Verified", value: (s) => s.verification.length, num: true },
    { label: "Created", value: (s) => s.created_at },
  ], list.items, { class: "searches", onselect: (s) => go("searches", { id: s.id }), selected: (s) => s.id === id, empty: "no searches yet" })));
  if (!id) return;
  const s = list.items.find((x) => x.id === id) || (await api("/v1/searches/" + encodeURIComponent(id)));
  await showSearch(el, s);
};

async function showSearch(el, s) {
  const best = s.result.best;
  const plots = h("div", { class: "plots" });
  const limits = s.request.devices.map((d) =>
    `${d.device}: ` + [["latency ≤", d.max_latency_ms, "ms"], ["energy ≤", d.max_energy_mj, "mJ"], ["area ≤", d.max_area_mm2, "mm²"]]
      .filter((x) => x[1] !== null && x[1] !== undefined).map((x) => `${x[0]} ${fmt(x[1])} ${x[2]}`).join(", ") || `${d.device}: no limits`);
  const verifyButton = h("button", {
    type: "button",
    id: "verify",
    onclick: async () => {
      try {
        await post("/v1/searches/" + encodeURIComponent(s.id) + "/verify", { top_k: 1 });
        render();
      } catch (e) {
        verifyButton.after(problemBox(e));
      }
    },
  }, "Re-measure the winner");
  const refineButton = h("button", {
    type: "button",
    id: "refine",
    onclick: async () => {
      try {
        await post("/v1/searches/" + encodeURIComponent(s.id) + "/verify", { top_k: 1, refine: true });
        render();
      } catch (e) {
        refineButton.after(problemBox(e));
      }
    },
  }, "Re-measure and refine until the budget holds");
  el.append(card(`Search ${s.id}`,
    figures([
      ["Data set / space", `${s.request.dataset} / ${s.request.space}`],
      ["Objective", JSON.stringify(s.request.objective)],
      ["Limits", limits.join("; ")],
      ["Configurations", fmt(s.result.configurations)],
      ["Exact", s.result.exact ? "yes (optimal under the models)" : `no (accuracy gap ≤ ${fmt(s.result.accuracy_gap_bound)})`],
      ...(s.result.confidence ? [["Confidence", `${fmt(s.result.confidence)}: each limit holds for the cost's upper prediction bound` +
        (s.result.accuracy_given_up === null || s.result.accuracy_given_up === undefined ? "" : `; predicted accuracy given up for the margin ${fmt(s.result.accuracy_given_up)}`)]] : []),
      ["Search time", fmt(s.result.elapsed_ms) + " ms"],
    ]),
    plots,
    best ? h("div", { class: "winner" }, h("h3", {}, "Winner"), figures([
      ["Architecture", best.id],
      ["Cells", cellsText(best.spec.cells)],
      ["Predicted accuracy", `${fmt(best.accuracy.value)} (95%: ${fmt(best.accuracy.lower)} – ${fmt(best.accuracy.upper)})`],
      ["NN-Degree", fmt(best.nn_degree)],
      ["Params", fmt(best.params)],
      ["MACs", fmt(best.macs)],
      ...best.costs.map((c) => [`Predicted ${c.metric} on ${c.device}`, fmt(c.value)]),
    ]), s.result.budget_checks && s.result.budget_checks.length ? table([
      { label: "Device", value: (c) => c.device },
      { label: "Cost", value: (c) => c.metric },
      { label: "Predicted", value: (c) => c.predicted, num: true },
      { label: "Upper bound", value: (c) => c.bound, num: true },
      { label: "Limit", value: (c) => c.limit, num: true },
      { label: "Margin", value: (c) => c.margin_factor, num: true },
    ], s.result.budget_checks, { class: "budget-checks" }) : null) : h("div", { class: "problem" }, h("h3", {}, "No architecture meets the limits"),
      s.result.closest_miss ? h("p", {}, `Closest miss ${s.result.closest_miss.architecture.id}: ` +
        s.result.closest_miss.violations.map((v) => `${v.what} ${fmt(v.value)} (limit ${fmt(v.limit)})`).join(", ")) : null),
    h("h3", {}, "Verification: predicted against measured"),
    table([
      { label: "Rank", value: (v) => v.rank, num: true },
      { label: "Architecture", value: (v) => v.architecture_id, class: "mono" },
      { label: "Device", value: (v) => v.device },
      { label: "Job", value: (v) => v.job_state },
      { label: "Predicted latency (ms)", value: (v) => v.predicted_latency_ms, num: true },
      { label: "Measured (ms, normalized)", value: (v) => v.measured_latency_ms, num: true },
      { label: "Raw p50 (ms)", value: (v) => v.measured_p50_ms, num: true },
      { label: "Raw p90 (ms)", value: (v) => v.measured_p90_ms, num: true },
      { label: "Error", value: (v) => (v.measured_latency_ms && v.predicted_latency_ms ? ((v.predicted_latency_ms / v.measured_latency_ms - 1) * 100).toFixed(1) + "%" : "–"), sort: false },
      { label: "Limit (ms)", value: (v) => v.max_latency_ms, num: true },
      { label: "Meets limit", value: (v) => v.meets_latency_limit === null || v.meets_latency_limit === undefined
        ? h("span", { class: "muted" }, v.measured_latency_ms ? "no limit" : "not measured yet")
        : h("span", { class: v.meets_latency_limit ? "ok" : "bad" }, v.meets_latency_limit ? "meets" : "misses"), sort: false },
      { label: "Predicted energy (mJ)", value: (v) => v.predicted_energy_mj, num: true },
      { label: "Measured energy (mJ)", value: (v) => v.measured_energy_mj, num: true },
      { label: "Energy method", value: (v) => v.energy_method || "–" },
    ], s.verification, { class: "verification", empty: "not verified yet" }),
    s.refinement ? h("h3", {}, `Closed loop: ${s.refinement.state} (at most ${s.refinement.max_rounds} rounds)`) : null,
    s.refinement ? table([
      { label: "Round", value: (r) => r.round, num: true },
      { label: "Device", value: (r) => r.check ? r.check.device : "–" },
      { label: "Cost", value: (r) => r.check ? (r.check.metric === "energy" ? "energy (mJ)" : "latency (ms)") : "–" },
      { label: "Model", value: (r) => (r.check && (r.fits.devices.find((d) => d.device === r.check.device) || {})[r.check.metric + "_model"]) || "–", class: "mono" },
      { label: "Winner", value: (r) => r.winner || "–", class: "mono" },
      { label: "Budget", value: (r) => r.check && r.check.budget, num: true },
      { label: "Limit searched", value: (r) => r.check && r.check.limit, num: true },
      { label: "Predicted", value: (r) => r.check && r.check.predicted, num: true },
      { label: "Bound", value: (r) => r.check && r.check.bound, num: true },
      { label: "Measured", value: (r) => r.check && r.check.measured, num: true },
      { label: "Outcome", value: (r) => r.outcome
        ? h("span", { class: r.outcome === "met" ? "ok" : "bad" }, r.outcome)
        : h("span", { class: "muted" }, "measuring"), sort: false },
    ], s.refinement.rounds.flatMap((r) => (r.checks.length ? r.checks : [null]).map((check) => ({ ...r, check }))),
    { class: "rounds", empty: "no round yet" }) : null,
    best ? verifyButton : null,
    best && !s.refinement ? refineButton : null));
  await plot(plots, "/v1/searches/" + encodeURIComponent(s.id) + "/pareto.svg");
}

pages["new-search"] = async (el) => {
  const [devices, spaces, accModels] = await Promise.all([
    api("/v1/devices?limit=1000"), api("/v1/spaces"), api("/v1/accuracy-models?limit=200"),
  ]);
  const datasets = [...new Set(accModels.items.map((m) => m.dataset))];
  const deviceRows = h("div");
  const deviceOptions = () => devices.items.map((d) => h("option", { value: d.name }, d.name));
  const addDevice = () => deviceRows.append(h("fieldset", { class: "device" },
    h("label", {}, "Device", h("select", { name: "device" }, deviceOptions())),
    h("label", {}, "Max latency (ms)", h("input", { name: "max_latency_ms", type: "number", step: "any", min: 0 })),
    h("label", {}, "Max energy (mJ)", h("input", { name: "max_energy_mj", type: "number", step: "any", min: 0 })),
    h("label", {}, "Max area (mm²)", h("input", { name: "max_area_mm2", type: "number", step: "any", min: 0 }))));
  addDevice();
  const objective = h("select", { name: "objective" },
    h("option", { value: "max_accuracy" }, "maximise predicted accuracy"),
    h("option", { value: "min_cost" }, "minimise latency of the first device at an accuracy floor"));
  const result = h("div", { id: "search-result" });
  const num = (v) => (v === "" || v === null ? undefined : Number(v));
  const form = h("form", {
    class: "search",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const body = {
        dataset: fd.get("dataset"),
        space: fd.get("space"),
        devices: [...deviceRows.querySelectorAll("fieldset.device")].map((fs) => {
          const d = { device: fs.querySelector("[name=device]").value };
          for (const k of ["max_latency_ms", "max_energy_mj", "max_area_mm2"]) {
            const v = num(fs.querySelector(`[name=${k}]`).value);
            if (v !== undefined) d[k] = v;
          }
          return d;
        }),
      };
      const maxParams = num(fd.get("max_params"));
      if (maxParams !== undefined) body.max_params = maxParams;
      body.objective = fd.get("objective") === "min_cost"
        ? { kind: "min_cost", device: body.devices[0] && body.devices[0].device, metric: "latency", min_accuracy: num(fd.get("min_accuracy")) }
        : { kind: "max_accuracy" };
      result.replaceChildren(h("p", { class: "muted" }, "searching…"));
      form.dataset.state = "searching";
      try {
        const s = await post("/v1/searches", body);
        result.replaceChildren();
        await showSearch(result, s);
        form.dataset.state = "done";
      } catch (e) {
        result.replaceChildren(problemBox(e));
        form.dataset.state = "error";
      }
    },
  },
  h("fieldset", {},
    h("label", {}, "Data set", h("input", { name: "dataset", list: "datasets", required: true, value: datasets[0] || "" })),
    h("datalist", { id: "datasets" }, datasets.map((d) => h("option", { value: d }))),
    h("label", {}, "Space", h("select", { name: "space" }, (spaces.items || spaces).map((s) => h("option", { value: s.name }, s.name)))),
    h("label", {}, "Max params", h("input", { name: "max_params", type: "number", step: "1", min: 1 })),
    h("label", {}, "Objective", objective),
    h("label", {}, "Accuracy floor (min cost)", h("input", { name: "min_accuracy", type: "number", step: "any", value: "0.9" }))),
  deviceRows,
  h("button", { type: "button", onclick: addDevice }, "Add a device"), " ",
  h("button", { type: "submit", id: "run-search" }, "Search"));
  el.append(h("h2", {}, "New search"), card(null, form), result);
};

// ---- start -----------------------------------------------------------------------------------

function showTokenState() {
  document.getElementById("token-state").textContent = token() ? "token set" : "no token";
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  const value = input.value.trim();
  if (value) localStorage.setItem(TOKEN_KEY, value);
  input.value = "";
  showTokenState();
  render();
});
document.getElementById("forget").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  showTokenState();
  render();
});
window.addEventListener("hashchange", render);
showTokenState();
render();
