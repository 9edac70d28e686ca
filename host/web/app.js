// tinyml telemetry page: a board's Nordic UART Service over Web Bluetooth, as a live chart,
// counters, a command box and a CSV export. Plain JS, no build step; the wire format is
// docs/telemetry.md and the parser mirrors host/tinyml_host/monitor/frames.py's FrameDecoder.
"use strict";

// Web Bluetooth takes 128-bit UUIDs as lowercase strings only.
const NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e";
const NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"; // we write commands here
const NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"; // the board notifies frames here
const NAME_PREFIX = "tinyml";     // telemetry.open("tinyml-sine") advertises this name
const NOTIFY_PAYLOAD = 20;        // bytes per write at BLE's default MTU, as the board sends
// written to RX right after enabling notifications, at every connect: the board then knows we
// listen, which NimBLE (ESP32, Pico W's NimBLE builds) does not report (docs/telemetry.md)
const LISTENING_COMMAND = "listening";
const BINARY_MARK = 0xa5;         // first byte of a binary frame, never of a text line
const CHART_POINTS = 600;         // frames shown in the chart; the CSV keeps more
const MAX_ROWS = 200000;          // frames kept for the CSV (~35 min at 100 frames/s)
const SERIES_COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706"];
const APP_COLUMNS = { sine: ["x", "y", "duty"], motion: ["p_moving", "duty"], gesture: ["class", "score"],
                      kws: ["class", "score"] }; // what each app's frames carry
// apps whose frames are (class, score) and that name their classes in a CLASSES line: the page
// shows the latest class by name, large, and the last HISTORY of them. The gesture app sends one
// frame per classification, the kws app one per keyword heard (a detection).
const CLASS_VIEW = {
  gesture: { latest: "gesture", history: "last classifications", waiting: "no classification yet", flash: false },
  kws: { latest: "keyword heard", history: "last detections", waiting: "listening: no keyword heard yet", flash: true },
};
const HISTORY = 8;

// ---- wire format -------------------------------------------------------------------------

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i;

function parseNumber(text) {
  // Python's float(): surrounding blanks allowed, empty is an error, inf and nan spelled out
  const t = text.trim();
  if (!NUMBER_RE.test(t)) return null;
  const lower = t.toLowerCase().replace(/^[+]/, "");
  if (lower === "nan" || lower === "-nan") return NaN;
  if (lower.endsWith("inf") || lower.endsWith("infinity")) return lower.startsWith("-") ? -Infinity : Infinity;
  return Number(t);
}

function parseSeq(text) {
  const t = text.trim();
  return /^[+-]?\d+$/.test(t) ? Number(t) : null;  // Python's int()
}

// Notifications (<= 20 bytes each) back into rows [seq, v1, ...]; counts gaps in seq (lost)
// and lines that do not parse (bad), as tinyml monitor's FrameDecoder does. Text lines may
// span notifications; a binary frame is one whole notification: 0xA5, uint16 seq, uint8 n,
// n float32, little-endian. A binary seq is unwrapped (65535 is followed by 65536, not 0),
// so rows stay in order in the CSV.
const SEQ_WRAP = 0x10000;

// the board's answer to `listening`: "OK listening", or from a board older than the command,
// its parser's refusal, which quotes the line (as frames.py's is_listening_reply)
function isListeningReply(text) {
  return text === "OK listening" || (text.startsWith("ERR ") && text.includes("'listening'"));
}

class FrameDecoder {
  constructor({ onFrame = () => {}, onReply = () => {}, onClasses = () => {} } = {}) {
    this.onFrame = onFrame;
    this.onReply = onReply;
    this.onClasses = onClasses;
    this.decoder = new TextDecoder("utf-8", { fatal: false }); // errors="replace"
    this.classNames = [];  // the gesture app's, from its CLASSES line: what the board runs, kept over Clear
    this.reset();
  }

  reset() {
    this.pending = new Uint8Array(0);
    this.rows = [];        // [seq, v1, v2, ...] as received, for the CSV
    this.replies = [];           // the board's answers to our commands
    this.listeningReplies = [];  // ...to the `listening` sent at each connect, kept apart
    this.frames = 0;
    this.lost = 0;
    this.bad = 0;
    this.lastSeq = null;
    this.lastX = null;     // chart position: seq, kept increasing over board restarts
    this.xOffset = 0;
  }

  // A new connection starts on a frame boundary: what was half received is gone (and shows
  // up as a gap in seq, i.e. lost, once the next frame arrives).
  discardPartial() {
    this.pending = new Uint8Array(0);
  }

  feed(chunk) {
    const bytes = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (bytes.length && bytes[0] === BINARY_MARK) {
      this._binary(bytes);
      return;
    }
    const joined = new Uint8Array(this.pending.length + bytes.length);
    joined.set(this.pending);
    joined.set(bytes, this.pending.length);
    let start = 0;
    for (let i = 0; i < joined.length; i++) {
      if (joined[i] === 0x0a) {
        this._line(this.decoder.decode(joined.subarray(start, i)).trim());
        start = i + 1;
      }
    }
    this.pending = joined.slice(start);
  }

  _line(text) {
    if (!text) return;  // the board starts a line afresh after one it could not finish
    if (text.startsWith("OK ") || text.startsWith("ERR ")) {
      if (isListeningReply(text)) {
        this.listeningReplies.push(text);
        return;
      }
      this.replies.push(text);
      this.onReply(text);
      return;
    }
    if (text.startsWith("CLASSES ")) {  // the gesture app names its classes, by index
      this.classNames = text.split(/\s+/).slice(1);
      this.onClasses(this.classNames);
      return;
    }
    const [seqText, ...valueTexts] = text.split(",");
    const seq = parseSeq(seqText);
    const values = valueTexts.map(parseNumber);
    if (seq === null || values.includes(null)) {
      this.bad++;
      return;
    }
    let gap = 0;
    if (this.lastSeq !== null && seq > this.lastSeq + 1) gap = seq - this.lastSeq - 1;
    this._frame(seq, gap, values);  // a smaller seq: the board restarted, count from there
  }

  _binary(bytes) {
    const n = bytes.length >= 4 ? bytes[3] : 0;
    if (n < 1 || n > 4 || bytes.length !== 4 + 4 * n) {
      this.bad++;
      return;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const wireSeq = view.getUint16(1, true);
    const values = [];
    for (let i = 0; i < n; i++) values.push(view.getFloat32(4 + 4 * i, true));
    let seq = wireSeq;
    let gap = 0;
    if (this.lastSeq !== null) {
      const step = (((wireSeq - this.lastSeq) % SEQ_WRAP) + SEQ_WRAP) % SEQ_WRAP;
      if (step > 0 && step < SEQ_WRAP / 2) {
        gap = step - 1;
        seq = this.lastSeq + step;
      } // else a repeat or a jump back: the board restarted, count from its seq
    }
    this._frame(seq, gap, values);
  }

  _frame(seq, gap, values) {
    this.lost += gap;
    this.frames++;
    this.lastSeq = seq;
    let x = seq + this.xOffset;
    if (this.lastX !== null && x <= this.lastX) {  // the board restarted: continue to the right
      this.xOffset = this.lastX + 1 - seq;
      x = this.lastX + 1;
    }
    this.lastX = x;
    const row = [seq, ...values];
    this.rows.push(row);
    if (this.rows.length > MAX_ROWS + 10000) this.rows.splice(0, this.rows.length - MAX_ROWS);
    this.onFrame(row, this.lastX);
  }
}

// ---- page ----------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
const ui = {
  state: $("state"), connect: $("connect"), disconnect: $("disconnect"), choose: $("choose"), device: $("device"),
  unsupported: $("unsupported"), unsupportedWhy: $("unsupported-why"),
  frames: $("frames"), lost: $("lost"), bad: $("bad"), last: $("last"),
  chart: $("chart"), chartEmpty: $("chart-empty"), reply: $("reply"),
  form: $("command-form"), command: $("command"), send: $("send"), rate: $("rate"), setRate: $("set-rate"),
  exportCsv: $("export"), clear: $("clear"), exportNote: $("export-note"),
  classes: $("classes"), classLatest: $("class-latest"), classLabel: $("class-label"), className: $("class-name"),
  classScore: $("class-score"), historyLabel: $("history-label"), classHistory: $("class-history"),
};

let app = "sine";            // which app's column names to show; follows `app NAME` + OK
let requestedApp = null;
let device = null;
let tx = null;
let rx = null;
let state = "disconnected";
let chart = null;
let chartData = null;        // [x[], series1[], ...] for the last CHART_POINTS frames
let chartBig = null;         // per series: on the right-hand axis for large values
let chartNarrow = false;     // drawn for a phone-width screen
let renderQueued = false;
const recent = [];           // the class apps' last HISTORY frames, newest first: {seq, cls, score, at}
let recentShown = {};        // what the class view last drew: redrawn only when that changes

const parser = new FrameDecoder({ onFrame, onReply: showReply, onClasses: showClasses });

function onFrame(row, x) {
  if (CLASS_VIEW[app] && row.length === 3) {
    recent.unshift({ seq: row[0], cls: row[1], score: row[2], at: new Date() });
    if (recent.length > HISTORY) recent.length = HISTORY;
  }
  addToChart(row, x);
}

// The app a board runs, from the name it advertises (apps.link: "tinyml-" + app), or its first
// 8 bytes, "tinyml-k", when only the advertisement's shortened name reached the browser: one
// letter names one app. null when the name says nothing.
function appFromName(name) {
  if (!name || !name.startsWith(NAME_PREFIX + "-")) return null;
  const rest = name.slice(NAME_PREFIX.length + 1);
  if (APP_COLUMNS[rest]) return rest;
  const candidates = name.length === 8 ? Object.keys(APP_COLUMNS).filter((a) => a.startsWith(rest)) : [];
  return candidates.length === 1 ? candidates[0] : null;
}

function setApp(next) {
  if (next === app) return;
  app = next;
  resetChart();
  recent.length = 0;
  scheduleRender();
}

function columnNames(count) {
  const names = APP_COLUMNS[app];
  if (names && names.length === count) return names;
  return Array.from({ length: count }, (_, i) => `v${i + 1}`);
}

function formatValue(v) {
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

// the gesture app's class by name once the board has sent its CLASSES line
function formatColumn(name, v) {
  const classes = parser.classNames;
  if (name === "class" && Number.isInteger(v) && v >= 0 && v < classes.length) return classes[v];
  return formatValue(v);
}

function showClasses() {
  // the gesture and kws apps send CLASSES; a board whose name did not say which is taken for
  // the gesture app (the page's behaviour before the kws app existed)
  if (!CLASS_VIEW[app]) setApp("gesture");
  scheduleRender();
}

function setState(next, message, isError = false) {
  state = next;
  ui.state.textContent = next;
  ui.state.dataset.state = next;
  ui.connect.hidden = next === "connected";
  ui.connect.disabled = next === "connecting";
  ui.connect.textContent = device && next !== "connecting" ? "Reconnect" : "Connect";
  ui.disconnect.hidden = next !== "connected";
  ui.choose.hidden = !device || next !== "disconnected";
  ui.send.disabled = next !== "connected";
  for (const b of document.querySelectorAll("[data-command], #set-rate")) b.disabled = next !== "connected";
  if (message !== undefined) {
    ui.device.textContent = message;
    ui.device.classList.toggle("error", isError);
  }
}

function showReply(text) {
  ui.reply.textContent = text;
  const error = text.startsWith("ERR");
  ui.reply.classList.toggle("error", error);
  ui.reply.classList.toggle("ok", !error);
  if (!error && text === "OK app" && requestedApp) setApp(requestedApp);
}

function showProblem(text) {  // the page's own, not the board's
  ui.reply.textContent = text;
  ui.reply.classList.remove("ok");
  ui.reply.classList.add("error");
}

// ---- chart ---------------------------------------------------------------------------------

function chartSize() {
  const width = Math.max(200, ui.chart.clientWidth);
  return { width, height: Math.round(Math.max(260, Math.min(400, width * 0.7))) };
}

const isBig = (v) => Math.abs(v) > 100;
const isNarrow = () => ui.chart.clientWidth < 520;
const compact = (v) => (Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(v));

// values of very different size (the sine app's x and y beside a 0..65535 duty) get a second
// axis on the right; which series go there is decided by the values seen so far
function makeChart(big) {
  const names = columnNames(big.length);
  const twoAxes = big.some(Boolean) && !big.every(Boolean);
  const axisStyle = { stroke: "#475569", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#cbd5e1" } };
  const series = [{ label: "seq", value: (u, v) => (v == null ? "–" : String(v)) }];
  const dots = Boolean(CLASS_VIEW[app]);  // class frames are events (a keyword heard): no line between them
  big.forEach((b, i) => series.push({
    label: names[i], stroke: SERIES_COLORS[i % SERIES_COLORS.length], width: 2, scale: twoAxes && b ? "big" : "small",
    points: dots ? { show: true, size: 9, fill: SERIES_COLORS[i % SERIES_COLORS.length] } : { show: false },
    ...(dots ? { paths: () => null } : {}),
    value: (u, v) => (v == null ? "–" : formatColumn(names[i], v)),
  }));
  const axes = [{ ...axisStyle }, { ...axisStyle, scale: "small", size: 44 }];
  chartNarrow = isNarrow();
  if (twoAxes) {
    // on a phone the legend names the series: axis labels would take a third of the width
    if (!chartNarrow) axes[1].label = names.filter((_, i) => !big[i]).join(", ");
    axes.push({ ...axisStyle, scale: "big", side: 1, grid: { show: false }, size: 44,
      values: (u, splits) => splits.map(compact),
      label: chartNarrow ? undefined : names.filter((_, i) => big[i]).join(", ") });
  }
  ui.chart.replaceChildren();
  chart = new uPlot({
    ...chartSize(), series, axes,
    scales: { x: { time: false } },
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  }, chartData, ui.chart);
  chartBig = big;
  ui.chartEmpty.hidden = true;
}

function resetChart() {
  if (chart) chart.destroy();
  chart = null;
  chartData = null;
  chartBig = null;
  ui.chart.replaceChildren();
  ui.chartEmpty.hidden = false;
}

function addToChart(row, x) {
  const values = row.slice(1);
  if (!values.length) return scheduleRender();
  if (!chart || chartData.length !== values.length + 1) {
    resetChart();
    chartData = [[], ...values.map(() => [])];
  }
  chartData[0].push(x);
  values.forEach((v, i) => chartData[i + 1].push(v));
  if (chartData[0].length > CHART_POINTS) for (const column of chartData) column.shift();
  const big = values.map((v, i) => isBig(v) || Boolean(chartBig && chartBig[i]));
  if (!chart || big.some((b, i) => b !== chartBig[i])) {
    if (chart) chart.destroy();
    makeChart(big);
  }
  scheduleRender();
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);  // at most one redraw per screen frame, however fast frames come
}

function render() {
  renderQueued = false;
  ui.frames.textContent = parser.frames;
  ui.lost.textContent = parser.lost;
  ui.bad.textContent = parser.bad;
  const last = parser.rows[parser.rows.length - 1];
  if (last) {
    const names = columnNames(last.length - 1);
    ui.last.textContent = `#${last[0]}  ` + last.slice(1).map((v, i) => `${names[i]} ${formatColumn(names[i], v)}`).join("  ");
  } else {
    ui.last.textContent = "–";
  }
  if (chart) chart.setData(chartData);
  renderClasses();
}

const clock = (d) => d.toTimeString().slice(0, 8);

function renderClasses() {
  const view = CLASS_VIEW[app];
  ui.classes.hidden = !view;
  if (!view) return;
  const latest = recent[0];
  const names = parser.classNames.join(" ");  // a CLASSES line after the frames renames them
  if (latest === recentShown.latest && names === recentShown.names && app === recentShown.app) return;
  const isNew = latest !== recentShown.latest;
  recentShown = { latest, names, app };
  ui.classLabel.textContent = view.latest;
  ui.classLatest.setAttribute("aria-live", view.flash ? "polite" : "off");  // a keyword is news; a gesture every 0.5 s is not
  ui.historyLabel.textContent = view.history;
  ui.className.textContent = latest ? formatColumn("class", latest.cls) : "–";
  ui.classScore.textContent = latest ? `score ${formatValue(latest.score)}` : view.waiting;
  if (isNew && view.flash) {
    ui.classLatest.classList.remove("fresh");
    if (latest) {
      void ui.classLatest.offsetWidth;  // restart the highlight: a keyword was just heard
      ui.classLatest.classList.add("fresh");
    }
  }
  ui.classHistory.replaceChildren(...recent.map((h) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = formatColumn("class", h.cls);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = formatValue(h.score);
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = `#${h.seq} · ${clock(h.at)}`;
    item.append(name, score, when);
    return item;
  }));
}

new ResizeObserver(() => {
  if (!chart) return;
  if (isNarrow() !== chartNarrow) {  // phone turned: axis labels come or go
    chart.destroy();
    makeChart(chartBig);
  } else {
    chart.setSize(chartSize());
  }
}).observe(ui.chart);

// ---- Bluetooth -----------------------------------------------------------------------------

function onNotification(event) {
  parser.feed(event.target.value);  // a DataView over this notification's bytes
  scheduleRender();
}

function onDisconnected() {
  if (tx) tx.removeEventListener("characteristicvaluechanged", onNotification);
  tx = null;
  rx = null;
  parser.discardPartial();
  if (state === "disconnected") return;  // after a failed connect: keep its message
  const name = device && device.name ? device.name : "the board";
  setState("disconnected", `Disconnected from ${name}: press Reconnect (frames sent meanwhile count as lost).`);
}

async function connect() {
  try {
    if (!device) {
      setState("connecting", "Choose the board in the browser's list …");
      // either filter finds a board: NUS in the advertisement, or just the name (a 128-bit
      // UUID and a name do not always both fit in 31 advertising bytes)
      device = await navigator.bluetooth.requestDevice({
        filters: [{ services: [NUS_SERVICE] }, { namePrefix: NAME_PREFIX }],
        optionalServices: [NUS_SERVICE],
      });
      device.addEventListener("gattserverdisconnected", onDisconnected);
      // what the board runs, by its name; after that `app NAME` + OK decides (a board keeps its
      // name when it switches apps, so a reconnect does not look again)
      const named = appFromName(device.name);
      if (named) setApp(named);
    }
    setState("connecting", `Connecting to ${device.name || "the board"} …`);
    const server = await device.gatt.connect();
    const service = await server.getPrimaryService(NUS_SERVICE);
    const txChar = await service.getCharacteristic(NUS_TX);
    rx = await service.getCharacteristic(NUS_RX);
    parser.discardPartial();
    txChar.addEventListener("characteristicvaluechanged", onNotification);
    tx = txChar;
    await txChar.startNotifications();
    setState("connected", `Connected to ${device.name || "a board"}.`);
    try {
      await write(new TextEncoder().encode(LISTENING_COMMAND + "\n"));
    } catch (e) {  // a board that sees the subscription streams without it
      showProblem(`could not send “${LISTENING_COMMAND}”: ${e && e.message ? e.message : e}`);
    }
  } catch (e) {
    if (tx) tx.removeEventListener("characteristicvaluechanged", onNotification);
    tx = null;
    rx = null;
    if (device && device.gatt.connected) device.gatt.disconnect();
    const cancelled = e && e.name === "NotFoundError" && !device;
    setState("disconnected", cancelled ? "No board chosen." : `Could not connect: ${e && e.message ? e.message : e}`,
      !cancelled);
  }
}

function disconnect() {
  if (device && device.gatt.connected) device.gatt.disconnect(); // fires gattserverdisconnected
}

async function write(bytes) {
  // one write per 20 bytes, as small as a board's default MTU takes without long writes
  for (let i = 0; i < bytes.length; i += NOTIFY_PAYLOAD) {
    const part = bytes.slice(i, i + NOTIFY_PAYLOAD);
    if (rx.properties && rx.properties.writeWithoutResponse && rx.writeValueWithoutResponse) {
      await rx.writeValueWithoutResponse(part);
    } else if (rx.writeValueWithResponse) {
      await rx.writeValueWithResponse(part);
    } else {
      await rx.writeValue(part);
    }
  }
}

async function sendCommand(text) {
  const command = text.trim();
  if (!command) return;
  if (!rx || state !== "connected") {
    showProblem("not connected: press Connect first");
    return;
  }
  const match = /^app\s+(\S+)$/.exec(command);
  requestedApp = match ? match[1] : requestedApp;
  ui.reply.textContent = `sent “${command}” …`;
  ui.reply.classList.remove("error", "ok");
  try {
    await write(new TextEncoder().encode(command + "\n"));
  } catch (e) {
    showProblem(`could not send: ${e.message || e}`);
  }
}

// ---- CSV -----------------------------------------------------------------------------------

// as tinyml monitor's CSV: 9 significant digits keep a float32 exact
function csvNumber(v) {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  return String(Number(v.toPrecision(9)));
}

function exportCsv() {
  if (!parser.rows.length) {
    ui.exportNote.textContent = "nothing to export yet";
    return;
  }
  const width = parser.rows.reduce((w, r) => Math.max(w, r.length - 1), 0);
  const lines = [["seq", ...columnNames(width)].join(",")];
  for (const row of parser.rows) lines.push([row[0], ...row.slice(1).map(csvNumber)].join(","));
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `tinyml-telemetry-${stamp}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  ui.exportNote.textContent = `${parser.rows.length} frames exported`;
}

// ---- start ---------------------------------------------------------------------------------

function bluetoothProblem() {
  if (!window.isSecureContext) {
    return `This page was opened from ${location.origin}, which is not a secure context: browsers offer ` +
      "Web Bluetooth only to pages served over https:// or from localhost.";
  }
  if (!navigator.bluetooth) return "This browser has no Web Bluetooth (navigator.bluetooth is missing).";
  return null;
}

ui.connect.addEventListener("click", connect);
ui.disconnect.addEventListener("click", disconnect);
ui.choose.addEventListener("click", () => {
  device.removeEventListener("gattserverdisconnected", onDisconnected);
  device = null;
  connect();  // the browser's chooser again
});
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  sendCommand(ui.command.value);
  ui.command.select();
});
for (const b of document.querySelectorAll("[data-command]")) {
  b.addEventListener("click", () => sendCommand(b.dataset.command));
}
ui.setRate.addEventListener("click", () => sendCommand(`rate ${ui.rate.value}`));
ui.exportCsv.addEventListener("click", exportCsv);
ui.clear.addEventListener("click", () => {
  parser.reset();
  resetChart();
  recent.length = 0;
  ui.exportNote.textContent = "";
  render();
});

const problem = bluetoothProblem();
setState("disconnected");
if (problem) {
  ui.unsupported.hidden = false;
  ui.unsupportedWhy.textContent = problem;
  ui.connect.disabled = true;
  ui.device.hidden = true;
} else if (navigator.bluetooth.getAvailability) {
  navigator.bluetooth.getAvailability().then((available) => {
    if (!available) ui.device.textContent = "No Bluetooth adapter is available (or it is switched off).";
  }, () => {});
}

// for the tests and the console
window.tinymlTelemetry = { FrameDecoder, parser, appFromName, SERIES_COLORS, NUS_SERVICE, NUS_RX, NUS_TX };
