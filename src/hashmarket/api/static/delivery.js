// Delivery page: one hashpower contract's delivered against ordered speed per metering
// interval, from /api/v1/delivery (the key's own contracts). Uses dashboard.js's helpers.
"use strict";

(() => {
  const iso = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");
  const pct = (x) => `${fmt(x * 100, 1)}%`;

  function drawContract(c) {
    const xs = c.intervals.map((i) => iso(i.end_s));
    const delivered = c.intervals.map((i) => i.delivered_hashrate_ths);
    const error = c.intervals.map((i) => i.delivered_hashrate_std_error_ths);
    Plotly.react("chart-delivery", [
      { x: xs, y: delivered.map((d, k) => d + error[k]), type: "scatter", mode: "lines", line: { width: 0 },
        showlegend: false, hoverinfo: "skip" },
      { x: xs, y: delivered.map((d, k) => Math.max(0, d - error[k])), type: "scatter", mode: "lines", line: { width: 0 },
        fill: "tonexty", fillcolor: "rgba(247,147,26,0.2)", name: "± 1 standard error", hoverinfo: "skip" },
      { x: xs, y: delivered, type: "scatter", mode: "lines+markers", name: "delivered", line: { color: "#f7931a" },
        hovertemplate: "%{x}: %{y:,.4g} TH/s delivered<extra></extra>" },
      { x: xs, y: c.intervals.map((i) => i.ordered_hashrate_ths), type: "scatter", mode: "lines", name: "ordered",
        line: { color: "#4cc2ff", dash: "dash", shape: "hv" }, hovertemplate: "%{x}: %{y:,.4g} TH/s ordered<extra></extra>" },
    ], layout({
      xaxis: { type: "date", title: { text: "interval end (UTC)" } },
      yaxis: { title: { text: "TH/s" }, rangemode: "tozero" },
      annotations: c.intervals.length ? [] : [{ text: "No interval metered yet", xref: "paper", yref: "paper",
        x: 0.5, y: 0.5, showarrow: false, font: { size: 14, color: "#8b98a5" } }],
    }), CONFIG);
    markDrawn("chart-delivery");
  }

  function showContract(c) {
    document.getElementById("kpi-ordered").textContent = fmt(Number(fractionValue(c.ordered_hashrate_ths)), 4);
    document.getElementById("kpi-term").textContent = `${c.start.slice(0, 16)} → ${c.end.slice(0, 16)}, ${c.side}`;
    document.getElementById("kpi-delivered").textContent = fmt(c.delivered_hashrate_ths, 4);
    document.getElementById("kpi-error").textContent = `± ${fmt(c.delivered_hashrate_std_error_ths, 4)} over ${c.intervals.length} interval(s)`;
    document.getElementById("kpi-ratio").textContent = pct(c.delivery_ratio);
    const under = c.under_delivered_intervals;
    document.getElementById("kpi-under").textContent = under.length
      ? `under-delivered in ${under.length} interval(s): ${under.join(", ")}` : "no interval under the ordered speed";
    document.getElementById("kpi-paid").textContent = fmt(c.paid_sats, 0);
    document.getElementById("kpi-budget").textContent = `${fmt(c.budget_left_sats, 0)} of ${fmt(c.budget_sats, 0)} sats left`;
    drawContract(c);
    document.querySelector("#table-intervals tbody").innerHTML = c.intervals.map((i) => {
      const short = i.delivered_hashrate_ths < i.ordered_hashrate_ths ? ' class="short"' : "";
      return `<tr data-index="${i.index}"${short}><td>${i.index}</td><td>${iso(i.end_s)}</td><td>${fmt(i.shares_accepted, 0)}</td>` +
        `<td>${fmt(i.delivered_hashrate_ths, 4)}</td><td>${fmt(i.ordered_hashrate_ths, 4)}</td>` +
        `<td>${pct(i.delivery_ratio)}</td><td>${fmt(i.paid_sats, 0)}</td></tr>`;
    }).join("");
  }

  // The ordered speed is an exact fraction ("1/1000000" for 1 MH/s).
  function fractionValue(text) {
    const [n, d] = String(text).split("/");
    return Number(n) / (d ? Number(d) : 1);
  }

  async function deliveryPage() {
    if (!apiKey()) throw new Error("enter an API key (top right) to see your contracts' delivery");
    const contracts = await getJSON("/api/v1/delivery/contracts");
    if (!contracts.length) throw new Error("no hashpower contract of this key's account has a delivery log yet");
    const select = document.getElementById("delivery-contract");
    select.innerHTML = contracts.map((c) => `<option value="${c.contract_id}">${c.contract_id} (${c.side})</option>`).join("");
    const draw = async () => showContract(await getJSON(`/api/v1/delivery/contracts/${encodeURIComponent(select.value)}`));
    select.addEventListener("change", () => draw().catch(showError));
    await draw();
  }

  document.addEventListener("DOMContentLoaded", () => { deliveryPage().catch(showError); });
})();
