// Fund page: the NAV history of a hashrate fund from POST /api/v1/fund/report, with the
// secondary price and the hashprice index. Uses dashboard.js's helpers.
"use strict";

(() => {
  const pct = (x, digits) => `${x >= 0 ? "+" : ""}${fmt(x * 100, digits)}%`;

  function draw(report) {
    const days = report.days;
    const x = days.map((d) => d.day);
    const priced = days.filter((d) => d.price_sats_per_share !== null);
    Plotly.react("chart-fund", [
      { x, y: days.map((d) => (d.shares ? Number(d.nav_sats_per_share) : null)), type: "scatter", mode: "lines+markers",
        name: "NAV (sats a share)", line: { color: "#f7931a" }, hovertemplate: "%{x|%d %b %Y}: NAV %{y:,.4f} sats<extra></extra>" },
      { x: priced.map((d) => d.day), y: priced.map((d) => Number(d.price_sats_per_share)), type: "scatter", mode: "markers",
        name: "secondary price (illustrative)", marker: { color: "#4cc2ff", size: 8 },
        hovertemplate: "%{x|%d %b %Y}: %{y:,.2f} sats<extra></extra>" },
      { x, y: days.map((d) => Number(d.index_btc_per_ph_day)), type: "scatter", mode: "lines", yaxis: "y2",
        name: "hashprice index (BTC/PH/day)", line: { color: "#8b98a5", dash: "dot" },
        hovertemplate: "%{x|%d %b %Y}: %{y:.8f} BTC/PH/day<extra></extra>" },
    ], layout({
      margin: { r: 110 },
      xaxis: { type: "date", title: { text: "day (UTC)" }, tickformat: "%d %b\n%Y" },
      yaxis: { title: { text: "sats a share" }, tickformat: ",.0f" },
      yaxis2: { title: { text: "BTC/PH/day" }, overlaying: "y", side: "right", showgrid: false, tickformat: ".6f" },
    }), CONFIG);
    markDrawn("chart-fund");
  }

  function show(report) {
    const days = report.days;
    const last = days[days.length - 1];
    document.getElementById("kpi-nav").textContent = last ? fmt(Number(last.nav_sats_per_share), 4) : "—";
    document.getElementById("kpi-nav-day").textContent = last ? `${report.fund}, ${last.day}` : "no day struck yet";
    document.getElementById("kpi-shares").textContent = last ? fmt(last.shares, 0) : "—";
    document.getElementById("kpi-holdings").textContent = last
      ? `${fmt(last.token_units, 0)} tokens + ${fmt(last.btc_sats, 0)} sats` : "";
    const priced = days.filter((d) => d.premium !== null);
    const p = priced[priced.length - 1];
    document.getElementById("kpi-premium").textContent = p ? pct(Number(p.premium), 2) : "—";
    document.getElementById("kpi-premium-day").textContent = p ? `on ${p.day}` : "no secondary price";
    const te = report.tracking_error;
    document.getElementById("kpi-te").textContent = te ? `${fmt(te.annualised * 100, 2)}%` : "—";
    document.getElementById("kpi-te-window").textContent = te
      ? `${te.returns} daily returns, ${te.first_day} to ${te.last_day}` : "needs 2 daily returns with shares";
    draw(report);
    document.querySelector("#table-fund tbody").innerHTML = days.map((d) => `<tr><td>${d.day}</td>
      <td>${fmt(d.shares, 0)}</td><td>${fmt(d.token_units, 0)}</td><td>${fmt(d.mark.mark_sats_per_token, 0)}</td>
      <td>${fmt(d.btc_sats, 0)}</td><td>${fmt(d.fee_sats, 0)}</td><td>${fmt(d.distribution_sats, 0)}</td>
      <td>${fmt(Number(d.nav_sats_per_share), 4)}</td><td>${d.premium === null ? "—" : pct(Number(d.premium), 2)}</td></tr>`).join("");
  }

  async function report() {
    let spec;
    try { spec = JSON.parse(document.getElementById("fund-spec").value); } catch (error) {
      throw new Error(`the fund spec is not JSON: ${error.message}`);
    }
    const prices = document.getElementById("fund-prices").value.trim();
    show(await getJSON("/api/v1/fund/report", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ spec, prices_csv: prices ? `${prices}\n` : null }) }));
  }

  async function fundPage() {
    if (!apiKey()) throw new Error("enter an API key (top right) to see a fund");
    const example = await getJSON("/api/v1/fund/example");
    document.getElementById("fund-spec").value = JSON.stringify(example.spec, null, 2);
    document.getElementById("fund-prices").value = example.prices_csv.trim();
    document.getElementById("fund-draw").addEventListener("click", () => report().catch(showError));
    await report();
  }

  document.addEventListener("DOMContentLoaded", () => { fundPage().catch(showError); });
})();
