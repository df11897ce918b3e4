// metrics dashboard: live samples and verdicts over the WebSocket, drawn with
// Chart.js. Everything that comes from data is inserted with textContent, never as
// HTML. No request leaves the host that serves this page.
"use strict";

(function () {
  const KEEP_MS = 16 * 60 * 1000; // longest range (15 min) plus a margin
  const FEED_MAX = 50;
  const SEVERITIES = ["medium", "high", "critical"];
  // How each alert state reads beside its incident.
  const ALERT_WORDS = {
    pending: "alert pending",
    firing: "alert firing",
    resolved: "alert resolved",
    cancelled: "not alerted: ended within the pending time",
  };
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  const SEV_COLOUR = {
    normal: colour("--sev-normal"),
    medium: colour("--sev-medium"),
    high: colour("--sev-high"),
    critical: colour("--sev-critical"),
  };
  const LINE_A = colour("--accent");
  const LINE_B = "#e69f00";
  const GRID = colour("--line");
  const TEXT = colour("--muted");

  const $ = (id) => document.getElementById(id);
  const state = {
    config: null,
    status: null,
    samples: [], // {t, m, v}
    feed: [], // incident messages (latest state of each), newest first
    alerts: new Map(), // incident id -> the latest alert message naming it
    counts: { samples: 0, medium: 0, high: 0, critical: 0 },
    rangeMs: 5 * 60 * 1000,
    uptimeBase: 0,
    uptimeAt: performance.now(),
    connected: false,
    highlight: null, // start of the clicked incident (ms)
    highlightEnd: null, // its last row (ms)
    pendingProcesses: null, // of an anomaly whose incident has not opened yet
    dirty: true,
  };
  window.metricsDashboard = state;

  // ---- formatting ----
  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    const d = digits !== undefined ? digits : a >= 100 ? 0 : a >= 10 ? 1 : 2;
    return v.toFixed(d);
  }
  function clock(ms) {
    const d = new Date(ms);
    return d.toISOString().slice(11, 19);
  }
  function stamp(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z";
  }
  function duration(s) {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${r}s` : `${r}s`;
  }
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- charts ----
  // Shades the clicked incident's rows and draws a line at its start.
  const highlightPlugin = {
    id: "highlight",
    afterDatasetsDraw(chart) {
      if (state.highlight === null) return;
      const area = chart.chartArea;
      const x = chart.scales.x.getPixelForValue(state.highlight);
      const end = chart.scales.x.getPixelForValue(state.highlightEnd ?? state.highlight);
      const ctx = chart.ctx;
      const left = Math.max(x, area.left), right = Math.min(end, area.right);
      if (right > left) {
        ctx.save();
        ctx.globalAlpha = 0.15;
        ctx.fillStyle = colour("--accent");
        ctx.fillRect(left, area.top, right - left, area.bottom - area.top);
        ctx.restore();
      }
      if (x < area.left || x > area.right) return;
      ctx.save();
      ctx.strokeStyle = colour("--accent");
      ctx.lineWidth = 2;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, chart.chartArea.top);
      ctx.lineTo(x, chart.chartArea.bottom);
      ctx.stroke();
      ctx.restore();
    },
  };

  function lineSet(label, colourValue) {
    return {
      label, data: [], borderColor: colourValue, backgroundColor: colourValue,
      borderWidth: 1.5, pointRadius: 0, parsing: false, spanGaps: false, normalized: true,
    };
  }
  function markerSet() {
    return {
      label: "anomalies", type: "scatter", data: [], parsing: false, pointRadius: 4,
      pointHoverRadius: 6, pointBackgroundColor: [], pointBorderColor: [], showLine: false,
    };
  }
  function makeChart(id, sets, yOptions) {
    if (!window.Chart) return null;
    return new window.Chart($(id), {
      type: "line",
      data: { datasets: sets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: "nearest", intersect: false, axis: "x" },
        scales: {
          x: {
            type: "linear",
            ticks: { color: TEXT, maxTicksLimit: 6, callback: (v) => clock(v) },
            grid: { color: GRID },
          },
          y: Object.assign({ ticks: { color: TEXT }, grid: { color: GRID } }, yOptions || {}),
        },
        plugins: {
          legend: { labels: { color: TEXT, boxWidth: 12, filter: (i) => i.text !== "anomalies" && i.text !== "threshold" } },
          decimation: { enabled: true, algorithm: "min-max" },
          tooltip: { callbacks: { title: (items) => items.length ? stamp(items[0].parsed.x) : "" } },
        },
      },
      plugins: [highlightPlugin],
    });
  }

  const charts = {
    usage: makeChart("chart-usage", [lineSet("CPU %", LINE_A), lineSet("memory %", LINE_B), markerSet()], { min: 0, max: 100 }),
    disk: makeChart("chart-disk", [lineSet("read", LINE_A), lineSet("write", LINE_B), markerSet()], { beginAtZero: true }),
    network: makeChart("chart-network", [lineSet("sent", LINE_A), lineSet("received", LINE_B), markerSet()], { beginAtZero: true }),
    score: makeChart("chart-score", [lineSet("score", LINE_A), Object.assign(lineSet("threshold", SEV_COLOUR.high), { borderDash: [6, 4], borderWidth: 1 }), markerSet()], { min: 0, max: 1 }),
  };
  const SERIES = {
    usage: ["cpu_percent", "memory_percent"],
    disk: ["disk_read_mb", "disk_write_mb"],
    network: ["network_sent_mb", "network_recv_mb"],
  };
  state.pointCount = () => Object.values(charts).reduce((n, c) => n + (c ? c.data.datasets[0].data.length : 0), 0);
  // Where each chart's first line is broken (a restart, a machine asleep).
  state.lineBreaks = () => Object.values(charts).reduce((n, c) => n + (c ? c.data.datasets[0].data.filter((p) => p.y === null).length : 0), 0);

  // The points with a break (a null) wherever samples stop for longer than three
  // intervals: no line is drawn across a restart or a night asleep, as if the
  // metrics had moved straight from one side to the other.
  function withGaps(points) {
    const gapMs = 3000 * ((state.config && state.config.interval_s) || 1);
    const out = [];
    for (const p of points) {
      const prev = out[out.length - 1];
      if (prev && p.x - prev.x > gapMs) out.push({ x: prev.x + 1, y: null });
      out.push(p);
    }
    return out;
  }

  function redraw() {
    state.dirty = false;
    const last = state.samples.length ? state.samples[state.samples.length - 1].t : Date.now();
    const min = last - state.rangeMs;
    const visible = state.samples.filter((s) => s.t >= min);
    for (const [name, chart] of Object.entries(charts)) {
      if (!chart) continue;
      const sets = chart.data.datasets;
      const markers = sets[2];
      markers.data = [];
      markers.pointBackgroundColor = [];
      markers.pointBorderColor = [];
      if (name === "score") {
        sets[0].data = withGaps(visible.filter((s) => s.v).map((s) => ({ x: s.t, y: s.v.score })));
        sets[1].data = [{ x: min, y: 0.5 }, { x: last, y: 0.5 }];
      } else {
        SERIES[name].forEach((metric, i) => {
          sets[i].data = withGaps(visible.map((s) => ({ x: s.t, y: s.m[metric] === null || s.m[metric] === undefined ? null : s.m[metric] })));
        });
      }
      for (const s of visible) {
        if (!s.v || !s.v.is_anomaly) continue;
        let y;
        if (name === "score") y = s.v.score;
        else {
          const metric = SERIES[name].includes(s.v.top_metric) ? s.v.top_metric : SERIES[name][0];
          y = s.m[metric];
        }
        if (y === null || y === undefined) continue;
        markers.data.push({ x: s.t, y });
        markers.pointBackgroundColor.push(SEV_COLOUR[s.v.severity]);
        markers.pointBorderColor.push(SEV_COLOUR[s.v.severity]);
      }
      chart.options.scales.x.min = min;
      chart.options.scales.x.max = last;
      chart.update("none");
    }
  }
  function scheduleRedraw() {
    if (state.dirty) return;
    state.dirty = true;
    requestAnimationFrame(redraw);
  }

  document.querySelectorAll(".range button").forEach((b) => {
    b.addEventListener("click", () => {
      document.querySelectorAll(".range button").forEach((o) => o.classList.toggle("active", o === b));
      state.rangeMs = Number(b.dataset.minutes) * 60 * 1000;
      redraw();
    });
  });

  // ---- header, cards, counters ----
  function setState(kind, text) {
    const s = $("state");
    s.dataset.state = kind;
    s.textContent = text;
  }
  function renderStatus() {
    const st = state.status;
    const cfg = state.config || {};
    const progress = $("baseline-progress");
    const left = $("baseline-left");
    progress.hidden = true;
    left.textContent = "";
    if (!state.connected) return;
    if (!st) {
      setState("connecting", "connected");
      return;
    }
    if (st.state === "collecting") {
      setState("collecting", `collecting baseline ${st.collected}/${st.baseline}`);
      progress.hidden = false;
      progress.max = st.baseline;
      progress.value = st.collected;
      const secs = (st.baseline - st.collected) * (cfg.interval_s || 1);
      left.textContent = `about ${duration(secs)} left`;
    } else if (st.state === "training") {
      setState("training", "training");
    } else if (st.replay_finished) {
      setState("finished", "replay finished");
    } else if (st.young) {
      setState("monitoring", "monitoring (young model: still learning this host)");
    } else {
      setState("monitoring", "monitoring");
    }
    $("trained-at").textContent = st.trained_at ? stamp(st.trained_at) : "–";
    $("next-retrain").textContent =
      st.retrain_in === null || st.retrain_in === undefined
        ? "off"
        : st.replay_finished
          ? "– (replay finished)"
          : `in ${duration(st.retrain_in * (cfg.interval_s || 1))}`;
  }
  function renderCounters() {
    $("count-samples").textContent = String(state.counts.samples);
    for (const s of SEVERITIES) $(`count-${s}`).textContent = String(state.counts[s]);
  }
  function renderCards(sample) {
    document.querySelectorAll(".card").forEach((card) => {
      const metric = card.dataset.metric;
      const v = sample.m[metric];
      card.querySelector(".value").textContent = fmt(v);
      const percent = metric.endsWith("_percent");
      const scale = percent ? 100 : maxOf(metric);
      const width = v === null || v === undefined ? 0 : Math.min(100, (100 * v) / (scale || 1));
      card.querySelector(".bar > div").style.width = `${width}%`;
      const verdict = sample.v;
      const hot = verdict && verdict.is_anomaly && verdict.top_metric === metric;
      card.dataset.severity = hot ? verdict.severity : "normal";
    });
  }
  function maxOf(metric) {
    let m = 0;
    for (const s of state.samples) {
      const v = s.m[metric];
      if (v !== null && v !== undefined && v > m) m = v;
    }
    return m;
  }
  setInterval(() => {
    if (!state.connected) return;
    const up = state.uptimeBase + (performance.now() - state.uptimeAt) / 1000;
    $("uptime").textContent = duration(up);
  }, 1000);

  // ---- incident feed: one entry per incident, updated in place ----
  function feedItem(i) {
    const li = el("li");
    li.id = `incident-${i.id}`;
    li.dataset.id = String(i.id);
    li.dataset.time = String(i.start_ms);
    const head = el("div");
    head.append(el("span", `badge sev-${i.peak_severity}`, i.peak_severity));
    head.append(el("span", "when", stamp(i.start_ms)));
    const span = `${i.rows} sample${i.rows === 1 ? "" : "s"}`;
    head.append(el("span", "muted", i.open ? `${span}, ongoing` : span));
    const alert = state.alerts.get(i.id);
    if (alert) head.append(el("span", `badge alert-${alert.state}`, ALERT_WORDS[alert.state] || alert.state));
    li.append(head);
    const reasons = el("ul", "reasons");
    reasons.append(el("li", "", i.summary));
    li.append(reasons);
    if (i.processes) {
      const names = (list) => list.map((p) => `${p.name} (${fmt(p.cpu_percent, 0)}% CPU, ${fmt(p.memory_mb, 0)} MB)`).join(", ");
      const p = el("p", "processes muted");
      p.textContent = `top CPU: ${names(i.processes.by_cpu)} · top memory: ${names(i.processes.by_memory)}`;
      li.append(p);
    }
    li.addEventListener("click", () => {
      document.querySelectorAll("#feed > li.selected").forEach((o) => o.classList.remove("selected"));
      li.classList.add("selected");
      state.highlight = i.start_ms;
      state.highlightEnd = i.end_ms;
      const last = state.samples.length ? state.samples[state.samples.length - 1].t : i.start_ms;
      if (i.start_ms < last - state.rangeMs) {
        const wanted = Math.ceil((last - i.start_ms) / 60000) + 1;
        const pick = [1, 5, 15].find((m) => m >= wanted) || 15;
        document.querySelector(`.range button[data-minutes="${pick}"]`).click();
      }
      redraw();
    });
    return li;
  }
  // Each incident's alert, as receivers were (or were not) told of it.
  function upsertAlert(a, render) {
    for (const id of a.incidents || []) state.alerts.set(id, a);
    if (render) renderFeed();
  }
  // Puts an incident's latest state in the feed, in place of its earlier one.
  function upsertIncident(i, render) {
    const at = state.feed.findIndex((f) => f.id === i.id);
    if (at >= 0) {
      i.processes = i.processes || state.feed[at].processes;
      state.feed[at] = i;
    } else {
      i.processes = i.processes || state.pendingProcesses;
      state.pendingProcesses = null;
      state.feed.unshift(i);
      // What leaves the feed takes its alert along, so a page left open for
      // weeks keeps only the alerts it can show.
      for (const gone of state.feed.splice(FEED_MAX)) state.alerts.delete(gone.id);
    }
    if (render) renderFeed();
  }
  // The processes of an anomaly's moment go with the incident it belongs to (its
  // first anomaly arrives just before the incident's opening message).
  function attachProcesses(a) {
    if (!a.processes) return;
    const open = state.feed.find((f) => f.open);
    if (open) {
      open.processes = a.processes;
      renderFeed();
    } else {
      state.pendingProcesses = a.processes;
    }
  }
  function renderFeed() {
    const list = $("feed");
    list.replaceChildren(...state.feed.map(feedItem));
    $("feed-empty").hidden = state.feed.length > 0;
  }

  // ---- messages ----
  function addSample(msg) {
    state.samples.push({ t: msg.time, m: msg.metrics, v: msg.verdict, seq: msg.seq });
    const cutoff = msg.time - KEEP_MS;
    let drop = 0;
    while (drop < state.samples.length && state.samples[drop].t < cutoff) drop++;
    if (drop > 0) state.samples.splice(0, drop);
  }
  function onHello(msg) {
    state.config = msg.config;
    state.status = msg.status;
    state.uptimeBase = msg.uptime_s;
    state.uptimeAt = performance.now();
    state.samples = [];
    for (const s of msg.backfill) addSample(s);
    state.feed = [];
    for (const i of msg.incidents || []) upsertIncident(i, false);
    state.alerts = new Map();
    for (const a of msg.alerts || []) upsertAlert(a, false);
    state.counts.samples = msg.counts.samples;
    for (const s of SEVERITIES) state.counts[s] = msg.counts.anomalies[s] || 0;
    $("host").textContent = msg.config.host;
    $("source").textContent = msg.config.source;
    document.title = `metrics · ${msg.config.host}`;
    renderFeed();
    renderCounters();
    renderStatus();
    if (state.samples.length) renderCards(state.samples[state.samples.length - 1]);
    redraw();
  }
  function onMessage(msg) {
    if (msg.v !== 1) return;
    switch (msg.type) {
      case "hello":
        onHello(msg);
        break;
      case "sample":
        addSample(msg);
        state.counts.samples += 1;
        renderCards(state.samples[state.samples.length - 1]);
        renderCounters();
        scheduleRedraw();
        break;
      case "anomaly":
        state.counts[msg.verdict.severity] += 1;
        attachProcesses(msg);
        renderCounters();
        break;
      case "incident":
        upsertIncident(msg, true);
        break;
      case "alert":
        upsertAlert(msg, true);
        break;
      case "status":
        state.status = msg;
        renderStatus();
        break;
    }
  }

  // ---- connection, with capped exponential backoff and jitter ----
  let attempt = 0;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    ws.addEventListener("open", () => {
      attempt = 0;
      state.connected = true;
      setState("connecting", "connected");
    });
    ws.addEventListener("message", (e) => {
      try {
        onMessage(JSON.parse(e.data));
      } catch (err) {
        console.error("bad message", err);
      }
    });
    ws.addEventListener("close", () => {
      state.connected = false;
      const base = Math.min(10000, 500 * 2 ** attempt);
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      attempt += 1;
      setState("disconnected", `disconnected, reconnecting in ${duration(delay / 1000)}`);
      $("baseline-progress").hidden = true;
      $("baseline-left").textContent = "";
      setTimeout(connect, delay);
    });
  }
  connect();

  // ---- upload ----
  let uploadChart = null;
  $("upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = $("upload-file").files[0];
    const error = $("upload-error");
    error.hidden = true;
    if (!file) {
      error.textContent = "Choose a CSV file first.";
      error.hidden = false;
      return;
    }
    $("upload-busy").hidden = false;
    try {
      const response = await fetch(`/api/analyze?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        headers: { "Content-Type": "text/csv" },
        body: file,
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      showUpload(body);
    } catch (err) {
      $("upload-result").hidden = true;
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      $("upload-busy").hidden = true;
    }
  });

  function showUpload(r) {
    const s = r.summary;
    const by = SEVERITIES.map((k) => `${k} ${s.by_severity[k] || 0}`).reverse().join(", ");
    let text = `${s.source}: ${s.rows} rows, ${s.metrics.length} metrics; ${s.anomalies} anomalies (${fmt(100 * s.rate, 2)} %): ${by}.`;
    if (s.quality) text += ` Against labels: precision ${fmt(s.quality.precision, 3)}, recall ${fmt(s.quality.recall, 3)}, F1 ${fmt(s.quality.f1, 3)}.`;
    for (const w of s.warnings || []) text += ` Warning: ${w}.`;
    $("upload-summary").textContent = text;
    const table = $("upload-table");
    const head = el("tr");
    for (const h of ["row", "time", "severity", "score", "reasons", ...r.columns]) head.append(el("th", "", h));
    table.tHead.replaceChildren(head);
    const rows = r.flagged.map((f) => {
      const tr = el("tr");
      tr.append(el("td", "", String(f.row)));
      tr.append(el("td", "", f.time || ""));
      const sev = el("td");
      sev.append(el("span", `badge sev-${f.severity}`, f.severity));
      tr.append(sev);
      tr.append(el("td", "", fmt(f.score, 3)));
      tr.append(el("td", "", f.reasons.join(" | ")));
      for (const cell of r.cells[String(f.row)] || []) tr.append(el("td", "", cell));
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
    $("upload-result").hidden = false;
    if (!window.Chart) return;
    const points = r.scores.map(([row, score]) => ({ x: row, y: score }));
    if (uploadChart) uploadChart.destroy();
    uploadChart = new window.Chart($("upload-chart"), {
      type: "line",
      data: { datasets: [
        Object.assign(lineSet("score", LINE_A), { data: points }),
        Object.assign(lineSet("threshold", SEV_COLOUR.high), { borderDash: [6, 4], borderWidth: 1, data: [{ x: 1, y: 0.5 }, { x: s.rows, y: 0.5 }] }),
      ] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
        scales: { x: { type: "linear", title: { display: true, text: "row", color: TEXT }, ticks: { color: TEXT }, grid: { color: GRID } }, y: { min: 0, max: 1, ticks: { color: TEXT }, grid: { color: GRID } } },
        plugins: { legend: { display: false }, decimation: { enabled: true, algorithm: "min-max" } },
      },
    });
  }
})();
