// Hashmarket dashboard: each page fetches JSON from the API and draws Plotly charts.
"use strict";

const THEME = {
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  font: { color: "#e6edf3", family: "system-ui, sans-serif", size: 12 },
  margin: { l: 64, r: 64, t: 24, b: 48 },
  legend: { orientation: "h", y: -0.18, x: 0 },
  xaxis: { gridcolor: "#26313d", zerolinecolor: "#26313d" },
  yaxis: { gridcolor: "#26313d", zerolinecolor: "#26313d" },
};
const CONFIG = { responsive: true, displaylogo: false };

function layout(extra) {
  const merged = JSON.parse(JSON.stringify(THEME));
  for (const [key, value] of Object.entries(extra || {})) {
    merged[key] = typeof value === "object" && !Array.isArray(value) && merged[key]
      ? Object.assign({}, merged[key], value) : value;
  }
  return merged;
}

const KEY_STORE = "hashmarket-api-key";

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

async function getJSON(url, options) {
  const opts = Object.assign({}, options || {});
  if (apiKey()) opts.headers = Object.assign({ Authorization: `Bearer ${apiKey()}` }, opts.headers || {});
  const response = await fetch(url, opts);
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

// A request that may take a while (Monte Carlo, a linear program): a spinner with the elapsed
// time and a Cancel button in `host` while it runs. Cancelling aborts the fetch, which rejects
// with an AbortError (see `cancelled`); the caller then returns the page to ready.
async function longJSON(host, label, url, options) {
  const controller = new AbortController();
  const box = document.createElement("div");
  box.className = "busy";
  box.setAttribute("role", "status");
  box.innerHTML = '<span class="spinner" aria-hidden="true"></span><span class="busy-label"></span>' +
    '<span class="busy-time">0.0 s</span><button type="button" class="cancel">Cancel</button>';
  box.querySelector(".busy-label").textContent = label;
  const elapsed = box.querySelector(".busy-time");
  const started = performance.now();
  const timer = setInterval(() => { elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; }, 100);
  box.querySelector("button").addEventListener("click", () => controller.abort());
  host.replaceChildren(box);
  try {
    return await getJSON(url, Object.assign({}, options || {}, { signal: controller.signal }));
  } finally {
    clearInterval(timer);
    box.remove();
  }
}

function cancelled(error) { return error instanceof DOMException && error.name === "AbortError"; }

function fmt(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function markDrawn(id) { document.getElementById(id).dataset.drawn = "true"; }

// ---------------------------------------------------------------- hashprice page
const DAY_MS = 86400000;

function yearsBefore(isoDate, years) {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d.toISOString().slice(0, 10);
}

// Plotly's date-axis values ("2024-01-31" or "2024-01-31 12:00:00.000", UTC) in milliseconds.
function utcMs(value) {
  const text = String(value);
  return Date.parse(text.length <= 10 ? `${text}T00:00:00Z` : `${text.replace(" ", "T")}Z`);
}

// The log-axis range (log10 units) that fits `values` where `inside` holds, with a margin.
function logRangeOf(values, inside) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (inside[i] && v > 0) { if (v < lo) lo = v; if (v > hi) hi = v; }
  }
  if (!(lo <= hi)) return null;
  const a = Math.log10(lo), b = Math.log10(hi);
  const pad = Math.max(0.04 * (b - a), 0.01);
  return [a - pad, b + pad];
}

// Each y axis rescales to the data in the visible date window (after a range button, a zoom
// or a pan), so a two-year view is not flattened by the 2010 values.
function fitYAxes(gd) {
  const range = gd.layout.xaxis.range;
  if (!range) return;
  const x0 = utcMs(range[0]), x1 = utcMs(range[1]);
  const times = gd._hashpriceTimes;
  const inside = times.map((t) => t >= x0 && t <= x1);
  const update = {};
  for (const axis of ["y", "y2"]) {
    const ranges = gd.data.filter((t) => (t.yaxis || "y") === axis).map((t) => logRangeOf(t.y, inside)).filter(Boolean);
    if (!ranges.length) continue;
    const key = axis === "y" ? "yaxis" : "yaxis2";
    update[`${key}.range`] = [Math.min(...ranges.map((r) => r[0])), Math.max(...ranges.map((r) => r[1]))];
    update[`${key}.autorange`] = false;
  }
  return Plotly.relayout(gd, update);
}

async function hashpricePage() {
  const method = document.getElementById("method");
  const gd = document.getElementById("chart-hashprice");
  const draw = async () => {
    const s = await getJSON(`/api/v1/index/hashprice/series?method=${method.value}`);
    const last = s.dates[s.dates.length - 1];
    // Keep the window a reader chose when the method changes; start on the last two years.
    const range = gd.dataset.drawn === "true" ? gd.layout.xaxis.range.slice() : [yearsBefore(last, 2), last];
    const narrow = gd.clientWidth < 560;
    const shapes = s.halvings.map((h) => ({
      type: "line", xref: "x", yref: "paper", x0: h.date, x1: h.date, y0: 0, y1: 1,
      line: { color: "#f7931a", width: 1, dash: "dot" },
    }));
    // Upright along each line, inside the plot: clear of the range buttons and the axes.
    const notes = s.halvings.map((h) => ({
      x: h.date, y: 1, xref: "x", yref: "paper", text: `halving ${h.height.toLocaleString()}`, textangle: -90,
      showarrow: false, yanchor: "top", xanchor: "left", xshift: 1, font: { size: 10, color: "#f7931a" },
    }));
    const sats = s.hashprice_btc_per_ph_day.map((v) => (v === null ? null : v * 1e8));
    const traces = [
      { x: s.dates, y: s.hashprice_usd_per_ph_day, name: "USD per PH/s per day", type: "scatter", mode: "lines",
        line: { color: "#4cc2ff", width: 1.2 }, hovertemplate: "%{x|%d %b %Y}: $%{y:,.2f}<extra></extra>" },
      { x: s.dates, y: s.hashprice_usd_per_ph_day_30d, name: "USD, 30-day average", type: "scatter", mode: "lines",
        line: { color: "#e6edf3", width: 1.5 }, hovertemplate: "%{x|%d %b %Y}: $%{y:,.2f} (30-day)<extra></extra>" },
      { x: s.dates, y: sats, name: "sats per PH/s per day", type: "scatter", mode: "lines",
        yaxis: "y2", line: { color: "#f7931a", width: 1.2 }, hovertemplate: "%{x|%d %b %Y}: %{y:,.0f} sats<extra></extra>" },
    ];
    // Log axes keep Plotly's own tick choice (1-2-5 or every digit of a decade): round values.
    const yCommon = { type: "log", fixedrange: true, exponentformat: "B", tickfont: { size: 11 } };
    await Plotly.react(gd, traces, layout({
      shapes, annotations: notes, dragmode: "zoom",
      xaxis: { range, type: "date", title: { text: narrow ? "" : "date (UTC)" }, nticks: narrow ? 4 : 10,
        tickformatstops: [
          { dtickrange: [null, 28 * DAY_MS], value: "%d %b\n%Y" },
          { dtickrange: [28 * DAY_MS, 365 * DAY_MS], value: "%b\n%Y" },
          { dtickrange: [365 * DAY_MS, null], value: "%Y" }],
        rangeselector: { buttons: [
          { count: 6, label: "6m", step: "month", stepmode: "backward" },
          { count: 1, label: "1y", step: "year", stepmode: "backward" },
          { count: 2, label: "2y", step: "year", stepmode: "backward" },
          { count: 5, label: "5y", step: "year", stepmode: "backward" },
          { step: "all", label: "all" }], bgcolor: "#171e26", activecolor: "#f7931a", x: 0, y: 1.02, yanchor: "bottom" },
        rangeslider: { visible: false } },
      yaxis: Object.assign({ title: { text: narrow ? "" : "USD per PH/s per day (log)" }, tickprefix: "$" }, yCommon),
      yaxis2: Object.assign({}, yCommon, { title: { text: narrow ? "" : "sats per PH/s per day (log)" }, overlaying: "y",
        side: "right", showgrid: false, tickmode: "auto", tickfont: { size: 11, color: "#f7931a" } }),
      margin: narrow ? { l: 48, r: 44, t: 56, b: 72 } : { l: 72, r: 72, t: 56, b: 80 },
      legend: { orientation: "h", y: -0.14, x: 0 },
      hovermode: "x unified",
    }), CONFIG);
    gd._hashpriceTimes = s.dates.map((d) => Date.parse(`${d}T00:00:00Z`));
    gd._hashpriceSpan = [s.dates[0], last];
    if (!gd._fitsY) {
      gd._fitsY = true;
      gd.on("plotly_relayout", (event) => {
        // "all" and a double-click autorange the dates, which would make room for the halving
        // notes past the last day; the data's own first and last days are the whole history.
        if (event["xaxis.autorange"]) Plotly.relayout(gd, { "xaxis.range": gd._hashpriceSpan.slice() });
        else if (Object.keys(event).some((k) => k.startsWith("xaxis.range"))) fitYAxes(gd);
      });
    }
    await fitYAxes(gd);
    markDrawn("chart-hashprice");
  };
  method.addEventListener("change", draw);

  const latest = await getJSON("/api/v1/index/hashprice?last=30&currency=usd");
  const sats = await getJSON("/api/v1/index/hashprice?last=1&unit=th&currency=sats");
  const last = latest[latest.length - 1];
  document.getElementById("kpi-usd").textContent = fmt(last.hashprice_usd_per_ph_day, 2);
  document.getElementById("kpi-date").textContent = last.date + (last.fees_included ? "" : " · subsidy only");
  document.getElementById("kpi-sats").textContent = fmt(sats[0].hashprice_sats_per_th_day, 1);
  const change = last.hashprice_usd_per_ph_day / latest[0].hashprice_usd_per_ph_day - 1;
  const changeEl = document.getElementById("kpi-change");
  changeEl.textContent = `${change >= 0 ? "+" : ""}${fmt(change * 100, 1)}%`;
  changeEl.className = "value " + (change >= 0 ? "up" : "down");
  document.getElementById("kpi-difficulty").textContent = fmt(last.difficulty / 1e12, 2);
  const body = document.querySelector("#table-latest tbody");
  body.innerHTML = latest.slice().reverse().map((r) => `<tr><td>${r.date}</td>
    <td>${fmt(r.hashprice_usd_per_ph_day, 2)}</td><td>${fmt(r.hashprice_btc_per_ph_day, 8)}</td>
    <td>${fmt(r.hashprice_usd_per_ph_day_7d, 2)}</td><td>${fmt(r.difficulty / 1e12, 2)}</td>
    <td>${r.fees_included ? fmt(r.fees_btc_per_block, 4) : "n/a"}</td><td>${fmt(r.price_usd, 0)}</td></tr>`).join("");
  await draw();
}

// ---------------------------------------------------------------- miner page
async function minerPage() {
  const models = await getJSON("/api/v1/miner/models");
  const select = document.getElementById("machine");
  select.innerHTML = models.map((m) => `<option value="${m.model}">${m.model} — ${fmt(m.hashrate_ths, 0)} TH/s, ${fmt(m.efficiency_j_per_th, 1)} J/TH</option>`).join("");
  select.value = models.some((m) => m.model === "Antminer S21") ? "Antminer S21" : models[0].model;
  const series = await getJSON("/api/v1/index/hashprice/series");
  const start = series.dates.findIndex((d) => d >= "2021-01-01");
  const dates = series.dates.slice(start);
  const usd = series.hashprice_usd_per_ph_day.slice(start);
  const latest = [...usd].reverse().find((v) => v !== null);
  const form = document.getElementById("miner-form");
  const draw = async () => {
    const query = new URLSearchParams(new FormData(form));
    query.set("hashprice_usd_per_ph_day", latest);
    const r = await getJSON(`/api/v1/miner/breakeven?${query}`);
    document.getElementById("kpi-breakeven").textContent = fmt(r.breakeven_hashprice_usd_per_ph_day, 2);
    document.getElementById("kpi-shutdown").textContent = fmt(r.shutdown_hashprice_usd_per_ph_day, 2);
    document.getElementById("kpi-fleet").textContent = `${r.fleet}, ${fmt(r.hashrate_phs, 1)} PH/s`;
    const margin = document.getElementById("kpi-margin");
    margin.textContent = fmt(r.margin_usd_per_day, 0);
    margin.className = "value " + (r.margin_usd_per_day >= 0 ? "up" : "down");
    document.getElementById("kpi-power").textContent = fmt(r.breakeven_power_price_usd_per_kwh, 3);
    const flat = (value) => dates.map(() => value);
    Plotly.react("chart-miner", [
      { x: dates, y: usd, name: "hashprice (USD/PH/s/day)", type: "scatter", mode: "lines", line: { color: "#4cc2ff" } },
      { x: dates, y: flat(r.breakeven_hashprice_usd_per_ph_day), name: "breakeven", type: "scatter", mode: "lines",
        line: { color: "#f85149", dash: "dash" } },
      { x: dates, y: flat(r.shutdown_hashprice_usd_per_ph_day), name: "shutdown", type: "scatter", mode: "lines",
        line: { color: "#f7931a", dash: "dot" } },
    ], layout({ xaxis: { title: { text: "date (UTC)" } }, yaxis: { title: { text: "USD per PH/s per day" }, rangemode: "tozero" } }), CONFIG);
    markDrawn("chart-miner");
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); draw().catch(showError); });
  document.getElementById("hedge-run").addEventListener("click", () => {
    const machine = models.find((m) => m.model === select.value);
    const values = Object.fromEntries(new FormData(form));
    const miner = {
      name: `${values.count} × ${machine.model}`,
      hashrate_phs: machine.hashrate_ths * Number(values.count) / 1000,
      efficiency_j_per_th: machine.efficiency_j_per_th,
      power_usd_per_kwh: Number(values.power_price_usd_per_kwh),
      fixed_costs_usd_per_month: Number(document.getElementById("hedge-fixed").value),
      horizon_months: 12, uptime: Number(values.uptime_fraction), pool_fee: Number(values.pool_fee_fraction),
    };
    const button = document.getElementById("hedge-run");
    const note = document.getElementById("hedge-note");
    button.disabled = true;
    note.className = "note";
    planHedge(miner)
      .catch((error) => {
        note.textContent = cancelled(error) ? "Cancelled; plan again when ready." : error.message;
        if (!cancelled(error)) note.className = "note error";
      })
      .finally(() => { button.disabled = false; });
  });
  await draw();
}

// ---------------------------------------------------------------- dispatch page
async function dispatchPage() {
  const status = document.getElementById("dispatch-status");
  const run = async (site, pricesCsv, label) => {
    status.textContent = "";
    status.className = "note";
    const r = await longJSON(document.getElementById("dispatch-busy"), `Solving ${label}…`, "/api/v1/dispatch", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ site, prices_csv: pricesCsv }),
    });
    status.textContent = `${r.site}: ${r.hours.time_utc.length} hours solved.`;
    document.querySelector("#table-policies tbody").innerHTML = r.policies.map((p) => `<tr><td>${p.policy}</td>
      <td>${fmt(p.margin_usd, 0)}</td><td>${fmt(p.revenue_usd, 0)}</td><td>${fmt(p.mwh, 1)}</td>
      <td>${fmt(p.revenue_usd_per_mwh, 2)}</td><td>${fmt(p.margin_usd_per_mwh, 2)}</td></tr>`).join("");
    const h = r.hours;
    const area = (y, name, color) => ({ x: h.time_utc, y, name, type: "scatter", mode: "lines", stackgroup: "mw",
      line: { width: 0.5, color }, fillcolor: color });
    Plotly.react("chart-dispatch", [
      area(h.mining_mw, "mining (MW)", "rgba(247,147,26,0.8)"),
      area(h.ai_mw, "AI (MW)", "rgba(76,194,255,0.8)"),
      area(h.curtailed_mw, "curtailed (MW)", "rgba(139,152,165,0.35)"),
      { x: h.time_utc, y: h.power_price_usd_per_mwh, name: "power price (USD/MWh)", type: "scatter", mode: "lines",
        yaxis: "y2", line: { color: "#e6edf3", width: 1 } },
    ], layout({ xaxis: { title: { text: "hour (UTC)" } }, yaxis: { title: { text: "MW" } },
      yaxis2: { title: { text: "USD per MWh" }, overlaying: "y", side: "right", showgrid: false } }), CONFIG);
    markDrawn("chart-dispatch");
  };
  const buttons = [document.getElementById("dispatch-run"), document.getElementById("dispatch-example")];
  const attempt = async (inputs) => {
    buttons.forEach((b) => { b.disabled = true; });
    try { await run(...(await inputs())); }
    catch (error) {
      status.textContent = cancelled(error) ? "Cancelled." : error.message;
      status.className = cancelled(error) ? "note" : "note error";
    } finally { buttons.forEach((b) => { b.disabled = false; }); }
  };
  const example = async () => {
    const ex = await getJSON("/api/v1/dispatch/example");
    return [ex.site, ex.prices_csv, "the example"];
  };
  document.getElementById("dispatch-example").addEventListener("click", () => attempt(example));
  document.getElementById("dispatch-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const siteFile = document.getElementById("site-file").files[0];
    const pricesFile = document.getElementById("prices-file").files[0];
    if (!siteFile || !pricesFile) { status.textContent = "Choose a site JSON file and a prices CSV file."; return; }
    await attempt(async () => [JSON.parse(await siteFile.text()), await pricesFile.text(), siteFile.name]);
  });
  await attempt(example);
}

// ---------------------------------------------------------------- curve page
async function curvePage() {
  const form = document.getElementById("curve-form");
  const draw = async () => {
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const c = await longJSON(document.getElementById("curve-busy"), "Simulating the curve…",
        `/api/v1/curve/hashprice?${new URLSearchParams(new FormData(form))}`);
      const unit = c.unit;
      const label = `${c.currency.toUpperCase()} per PH/s per day`;
      const months = c.months.map((m) => m.month);
      const col = (name) => c.months.map((m) => m[`${name}_${unit}`]);
      const band = { type: "scatter", mode: "lines", line: { width: 0 }, hoverinfo: "x+y" };
      Plotly.react("chart-curve", [
        Object.assign({ x: months, y: col("p95"), name: "P95" }, band),
        Object.assign({ x: months, y: col("p5"), name: "P5–P95", fill: "tonexty", fillcolor: "rgba(76,194,255,0.25)" }, band),
        { x: months, y: col("p50"), name: "median", type: "scatter", mode: "lines+markers", line: { color: "#4cc2ff", dash: "dot" } },
        { x: months, y: col("mean"), name: "mean", type: "scatter", mode: "lines+markers", line: { color: "#f7931a", width: 2.5 },
          error_y: { type: "data", array: col("std_error").map((v) => 1.96 * v), visible: true, color: "#f7931a" } },
      ], layout({ xaxis: { title: { text: "delivery month" } }, yaxis: { title: { text: label } } }), CONFIG);
      markDrawn("chart-curve");
      const digits = c.currency === "usd" ? 2 : 8;
      document.getElementById("curve-note").textContent =
        `As of ${c.asof}: spot ${fmt(c[`spot_${unit}`], digits)} ${label}; ${c.n_paths.toLocaleString()} paths, seed ${c.seed}.`;
      document.querySelector("#table-curve tbody").innerHTML = c.months.map((m) => `<tr><td>${m.month}</td>
        <td>${fmt(m[`mean_${unit}`], digits)}</td><td>${fmt(m[`std_error_${unit}`], digits)}</td><td>${fmt(m[`p5_${unit}`], digits)}</td>
        <td>${fmt(m[`p50_${unit}`], digits)}</td><td>${fmt(m[`p95_${unit}`], digits)}</td></tr>`).join("");
    } catch (error) {
      if (!cancelled(error)) throw error;
      document.getElementById("curve-note").textContent = "Cancelled.";
    } finally { button.disabled = false; }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); draw().catch(showError); });
  await draw();
}

// ---------------------------------------------------------------- pricing page
function pricingSpec(values) {
  const common = { side: values.side };
  if (values.kind === "forward") {
    return Object.assign({ type: "hashprice_forward", notional_phs: Number(values.size), fixed_price_per_ph_day: Number(values.strike),
      currency: "usd", start: values.start, end: values.end }, common);
  }
  if (values.kind === "european_btc") {
    return Object.assign({ type: "european_option", underlying: "btc_usd", option_type: values.option_type,
      strike: Number(values.strike), expiry: values.end, quantity: Number(values.size) }, common);
  }
  // An Asian option on the USD hashprice: the quantity is PH/s·days of the averaging window.
  const days = Math.round((Date.parse(values.end) - Date.parse(values.start)) / 86400000) + 1;
  return Object.assign({ type: "asian_option", underlying: "hashprice_usd", option_type: values.option_type,
    strike: Number(values.strike), averaging_start: values.start, averaging_end: values.end,
    quantity: Number(values.size) * days }, common);
}

async function pricingPage() {
  const form = document.getElementById("pricing-form");
  const out = document.getElementById("pricing-result");
  const kind = document.getElementById("pricing-kind");
  kind.addEventListener("change", () => {
    const defaults = { forward: [10, 38], european_btc: [1, 90000], asian_hashprice: [10, 35] }[kind.value];
    form.elements.size.value = defaults[0];
    form.elements.strike.value = defaults[1];
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const spec = pricingSpec(values);
    document.getElementById("pricing-spec").textContent = JSON.stringify(spec, null, 2);
    out.className = "result";
    out.textContent = "";
    document.getElementById("pricing-submit").disabled = true;
    try {
      const r = await longJSON(document.getElementById("pricing-busy"), "Pricing…", "/api/v1/price", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ spec, paths: Number(values.paths), seed: Number(values.seed), engine: values.engine }) });
      const digits = r.currency === "usd" ? 2 : 8;
      const unit = r.currency.toUpperCase();
      const error = r.engine === "mc" ? ` ± ${fmt(r.std_error, digits)} (1 s.e., ${r.n_paths.toLocaleString()} paths, seed ${r.seed})` : " (closed form)";
      out.innerHTML = `<span id="pricing-value">${fmt(r.value, digits)}</span> ${unit}<span class="note">${error} as of ${r.asof}</span>`;
      out.dataset.value = r.value;
      out.dataset.stdError = r.std_error;
    } catch (error) {
      out.className = cancelled(error) ? "result" : "result error";
      out.textContent = cancelled(error) ? "Cancelled." : error.message;
    } finally { document.getElementById("pricing-submit").disabled = false; }
  });
}

// ---------------------------------------------------------------- tokens page
// Stacked daily bars (paid to holders + electricity and service = the day's gross reward) on a
// date axis at least two weeks wide, so the first days of a series read as days, not as slabs.
function drawDistributions(days) {
  const x = days.map((d) => d.day);
  const common = { x, type: "bar", width: 0.7 * DAY_MS };
  const first = days.length ? utcMs(x[0]) : Date.now();
  const last = days.length ? utcMs(x[x.length - 1]) : Date.now();
  const pad = Math.max(DAY_MS, (14 * DAY_MS - (last - first)) / 2);
  const iso = (ms) => new Date(ms).toISOString().slice(0, 10);
  Plotly.react("chart-tokens", [
    Object.assign({ y: days.map((d) => d.pool_sats), name: "paid to holders (sats)", marker: { color: "#f7931a" },
      hovertemplate: "%{x|%d %b %Y}: %{y:,} sats paid<extra></extra>" }, common),
    Object.assign({ y: days.map((d) => Number(d.cost_sats)), name: "electricity + service (sats)", marker: { color: "#8b98a5" },
      hovertemplate: "%{x|%d %b %Y}: %{y:,.0f} sats of costs<extra></extra>" }, common),
  ], layout({
    barmode: "stack", legend: { orientation: "h", y: -0.25, x: 0, traceorder: "normal" },
    xaxis: { type: "date", range: [iso(first - pad), iso(last + pad)], title: { text: "day (UTC)" },
      tickformat: "%d %b\n%Y", nticks: 8 },
    yaxis: { title: { text: "sats per day" }, rangemode: "tozero", tickformat: ",.0f" },
    annotations: days.length ? [] : [{ text: "No distribution paid yet", xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      showarrow: false, font: { size: 14, color: "#8b98a5" } }],
  }), CONFIG);
}

async function tokensPage() {
  if (!apiKey()) throw new Error("enter an API key (top right) to see token series");
  const series = await getJSON("/api/v1/tokens");
  const select = document.getElementById("series");
  if (!series.length) throw new Error("no token series yet (hashmarket tokens issue)");
  select.innerHTML = series.map((s) => `<option value="${s.series}">${s.series}</option>`).join("");
  const draw = async () => {
    const s = series.find((x) => x.series === select.value);
    const [holders, days] = await Promise.all([
      getJSON(`/api/v1/tokens/${s.series}/holders`), getJSON(`/api/v1/tokens/${s.series}/distributions`)]);
    document.getElementById("kpi-supply").textContent = fmt(holders.supply_units, 0);
    document.getElementById("kpi-backing").textContent = `of ${fmt(s.max_supply_units, 0)} backed by ${s.backing_hashrate_ths} TH/s`;
    document.getElementById("kpi-holders").textContent = fmt(holders.holder_count, 0);
    document.getElementById("kpi-paid").textContent = fmt(days.reduce((n, d) => n + d.pool_sats, 0), 0);
    document.getElementById("kpi-days").textContent = `${days.length} day(s) paid`;
    const last = days[days.length - 1];
    document.getElementById("kpi-root").textContent = last ? `${last.reserves_root.slice(0, 12)}…` : "—";
    document.getElementById("kpi-root-day").textContent = last ? `${last.day}, total ${fmt(last.reserves_total, 0)} units` : "no distribution yet";
    drawDistributions(days);
    markDrawn("chart-tokens");
    document.querySelector("#table-holders tbody").innerHTML = holders.holders.map((h) => `<tr><td>${h.token_account_id}</td>
      <td>${h.payout_account_id}</td><td>${fmt(h.balance_units, 0)}</td><td>${fmt(Number(h.share) * 100, 2)}%</td></tr>`).join("");
  };
  select.addEventListener("change", () => draw().catch(showError));
  await draw();
}

// ---------------------------------------------------------------- hedge (miner page)
async function planHedge(miner) {
  const note = document.getElementById("hedge-note");
  const plan = await longJSON(document.getElementById("hedge-busy"), "Simulating the hedge plan…", "/api/v1/hedge", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ miner, paths: 4000, seed: 0, coverage: Number(document.getElementById("hedge-coverage").value) }) });
  const before = plan.unhedged;
  const chosen = plan.recommended || plan.best_effort;
  const after = chosen.after;
  const band = (d, name, rgb) => [
    { x: plan.months, y: d.net_p95_usd, type: "scatter", mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x: plan.months, y: d.net_p5_usd, type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty",
      fillcolor: `rgba(${rgb},0.22)`, name: `${name} P5–P95` },
    { x: plan.months, y: d.net_median_usd, type: "scatter", mode: "lines+markers", line: { color: `rgb(${rgb})` }, name: `${name} median` },
  ];
  Plotly.react("chart-hedge", [...band(before, "unhedged", "139,152,165"), ...band(after, "hedged", "76,194,255"),
    { x: plan.months, y: plan.months.map(() => 0), type: "scatter", mode: "lines", name: "costs covered (net 0)", line: { color: "#f85149", dash: "dash" } },
  ], layout({ xaxis: { title: { text: "month" } }, yaxis: { title: { text: "net cash after costs (USD per month)" } } }), CONFIG);
  markDrawn("chart-hedge");
  note.textContent = `${chosen.description}: P(costs not covered) ${fmt(before.probability_not_covered * 100, 1)}% → ` +
    `${fmt(after.probability_not_covered * 100, 1)}%, expected revenue given up ${fmt(chosen.expected_revenue_given_up_usd, 0)} USD ` +
    `(rule of thumb: hedge ${fmt(plan.rule_of_thumb_ratio * 100, 0)}% of output). Checked on seed ${plan.independent_check.seed}.`;
}

function showError(error) {
  const main = document.querySelector("main");
  const note = document.createElement("p");
  note.className = "error";
  note.textContent = `Could not load this page's data: ${error.message}`;
  main.prepend(note);
}

// Every page names the one as-of date the service answers for, how far each input reaches,
// and, when that day is more than a week old, how to bring the data up to date.
async function asofBanner() {
  const banner = document.getElementById("asof-banner");
  if (!banner) return;
  const a = await getJSON("/api/v1/asof");
  // The same two lines the command line prints (index.asof.AsOf.describe, stale_warning).
  banner.textContent = `Data ${a.summary}`;
  if (a.warning) {
    const warn = document.createElement("strong");
    warn.textContent = ` · ${a.warning}`;
    banner.append(warn);
    banner.classList.add("stale");
  }
}

const PAGES = {
  hashprice: hashpricePage, curve: curvePage, pricing: pricingPage, tokens: tokensPage, miner: minerPage,
  dispatch: dispatchPage,
};

document.addEventListener("DOMContentLoaded", () => {
  const keyInput = document.getElementById("api-key");
  keyInput.value = apiKey();
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, keyInput.value.trim());
    window.location.reload();
  });
  asofBanner().catch(() => {});
  const page = PAGES[document.body.dataset.page];
  if (page) page().catch(showError);
});
