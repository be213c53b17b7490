"use strict";
// The Market page: one WebSocket to /api/v1/market/ws, one channel (market) at a time.
// A snapshot sets the book, the recent trades and the sequence number; every later message
// must carry the next number, or the page asks for a new snapshot and ignores what arrives
// until it comes. Drawing is batched to the next animation frame.

(function () {
  if (document.body.dataset.page !== "market") return;
  const LADDER_LEVELS = 12;
  const TAPE_ROWS = 30;
  const state = { market: "HASHPOWER", seq: 0, bids: new Map(), asks: new Map(), trades: [], live: false, resyncing: false };
  let socket = null;
  let drawQueued = false;

  const status = document.getElementById("feed-status");
  function setStatus(text) {
    status.textContent = text;
    status.dataset.seq = String(state.seq);
  }

  function number(value) { return Number(value).toLocaleString("en-US"); }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function applyLevels(side, changes) {
    for (const [price, size] of changes) {
      if (size) side.set(price, size); else side.delete(price);
    }
  }

  function handle(message) {
    if (message.type === "error") { setStatus(`feed error: ${message.detail}`); return; }
    if (message.market !== state.market) return;
    if (message.type === "snapshot") {
      state.bids = new Map(message.bids);
      state.asks = new Map(message.asks);
      state.trades = message.trades.slice(0, TAPE_ROWS);
      state.seq = message.seq;
      state.live = true;
      state.resyncing = false;
      return;
    }
    if (!state.live || message.seq <= state.seq) return;
    if (message.seq !== state.seq + 1) {  // a gap: the book may be wrong until a new snapshot
      if (!state.resyncing) send({ op: "snapshot", market: state.market });
      state.resyncing = true;
      return;
    }
    if (state.resyncing) return;
    state.seq = message.seq;
    if (message.type === "book") {
      applyLevels(state.bids, message.bids);
      applyLevels(state.asks, message.asks);
    } else if (message.type === "trade") {
      state.trades.unshift(message);
      state.trades.length = Math.min(state.trades.length, TAPE_ROWS);
    }
  }

  function sorted(side, descending) {
    return [...side.entries()].sort((a, b) => (descending ? b[0] - a[0] : a[0] - b[0]));
  }

  function row(cells, className, price) {
    const tr = document.createElement("tr");
    if (className) tr.className = className;
    if (price !== undefined) tr.dataset.price = String(price);
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }

  function drawLadder(bids, asks) {
    const rows = [];
    let total = 0;
    const shownAsks = asks.slice(0, LADDER_LEVELS).map(([p, s]) => [p, s, (total += s)]);
    for (const [p, s, t] of shownAsks.reverse()) rows.push(row(["ask", number(p), number(s), number(t)], "ask", p));
    const spread = bids.length && asks.length ? `spread ${number(asks[0][0] - bids[0][0])}` : "no spread";
    rows.push(row(["", spread, "", ""], "spread"));
    total = 0;
    for (const [p, s] of bids.slice(0, LADDER_LEVELS)) rows.push(row(["bid", number(p), number(s), number((total += s))], "bid", p));
    document.querySelector("#ladder tbody").replaceChildren(...rows);
  }

  function drawTape() {
    const rows = state.trades.map((t) => {
      const time = new Date(Math.floor(t.ts_ns / 1e6)).toISOString().slice(11, 23);
      return row([time, number(t.price), number(t.size), t.taker_side], `trade ${t.taker_side === "buy" ? "up" : "down"}`, t.price);
    });
    document.querySelector("#tape tbody").replaceChildren(...rows);
  }

  function cumulative(levels) {
    let total = 0;
    return { x: levels.map(([p]) => p), y: levels.map(([, s]) => (total += s)) };
  }

  function drawDepth(bids, asks) {
    const b = cumulative(bids);
    const a = cumulative(asks);
    Plotly.react("chart-depth", [
      { x: b.x, y: b.y, name: "Bids", type: "scatter", mode: "lines", line: { shape: "hv", color: "#3fb950" }, fill: "tozeroy" },
      { x: a.x, y: a.y, name: "Asks", type: "scatter", mode: "lines", line: { shape: "hv", color: "#f85149" }, fill: "tozeroy" },
    ], layout({ xaxis: { title: { text: "Price" } }, yaxis: { title: { text: "Cumulative size" }, rangemode: "tozero" } }), CONFIG);
    document.getElementById("chart-depth").dataset.drawn = "true";
  }

  function draw() {
    drawQueued = false;
    const bids = sorted(state.bids, true);
    const asks = sorted(state.asks, false);
    drawLadder(bids, asks);
    drawTape();
    drawDepth(bids, asks);
    setStatus(state.resyncing ? `resyncing ${state.market}…` : `${state.market} live · seq ${number(state.seq)}`);
  }

  function queueDraw() {
    if (!drawQueued) {
      drawQueued = true;
      requestAnimationFrame(draw);
    }
  }

  function connect() {
    const key = sessionStorage.getItem("hashmarket-api-key") || "";
    if (!key) { setStatus("enter an API key (top right) to follow the market"); return; }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/market/ws?key=${encodeURIComponent(key)}`);
    socket.onopen = () => send({ op: "subscribe", market: state.market });
    socket.onmessage = (event) => {
      for (const message of JSON.parse(event.data)) handle(message);
      queueDraw();
    };
    socket.onclose = (event) => {
      state.live = false;
      setStatus(event.code === 4401 ? "the API key was refused" : "disconnected: reconnecting…");
      if (event.code !== 4401) setTimeout(connect, 2000);
    };
  }

  function choose(market) {
    send({ op: "unsubscribe", market: state.market });
    Object.assign(state, { market, seq: 0, bids: new Map(), asks: new Map(), trades: [], live: false, resyncing: false });
    send({ op: "subscribe", market });
    queueDraw();
  }

  async function listMarkets(select) {
    const markets = await getJSON("/api/v1/market/markets");
    for (const name of markets.filter((m) => m !== "HASHPOWER")) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      select.append(option);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const select = document.getElementById("market-select");
    if (sessionStorage.getItem("hashmarket-api-key")) listMarkets(select).catch(showError);
    select.addEventListener("change", () => choose(select.value));
    connect();
    queueDraw();
  });
})();
