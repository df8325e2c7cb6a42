// The Karma Ledger dashboard: one page, hash routes, every datum read from /v1 (no CDN, no
// build step). The live feed (/v1/live, server-sent events from JetStream) is read with
// fetch so that it can carry the bearer token; each view says what it does with new events.

const view = document.getElementById("view");
const liveState = document.getElementById("live-state");
const livePosition = document.getElementById("live-position");
const TOKEN_KEY = "karma-ledger-token";

// -- the API -----------------------------------------------------------------------------

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// -- small DOM helpers -------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function table(columns, rows, rowAttributes = () => ({})) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([label, , numeric]) =>
      h("th", { class: numeric ? "num" : null }, label)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttributes(row), columns.map(([, cell, numeric]) =>
      h("td", { class: numeric ? "num" : null }, cell(row)))))));
}

const number = (value, digits = 3) => (value === null || value === undefined ? "–"
  : Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 }));
const time = (value) => (value ? new Date(value).toISOString().replace("T", " ").slice(0, 19) : "–");
const link = (href, text) => h("a", { href }, text);
const agentLink = (id) => link(`#/agents/${encodeURIComponent(id)}`, id);
const eventLink = (id) => link(`#/events/${encodeURIComponent(id)}`, id);
const pill = (text, kind = "") => h("span", { class: `pill ${kind}` }, text);

function show(...children) {
  view.replaceChildren(...children);
}

function failure(error) {
  const hint = error.status === 401
    ? " Enter a token (karma tokens create) above: this server needs one to read."
    : "";
  return h("p", { class: "error", role: "alert" }, `${error.message}.${hint}`);
}

// -- line charts (SVG) -------------------------------------------------------------------

const PALETTE = ["#2f5bd3", "#1a7f4b", "#b35c00", "#b42318", "#6b3fa0", "#0f7c8c", "#8a6d00"];

function lineChart(series, { width = 560, height = 200, yLabel = "", markers = [] } = {}) {
  // series: [{name, points: [[x, y], ...]}]; markers: [{x, label, kind}]
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", "100%");  // as wide as its card; the viewBox keeps the shape
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${yLabel} chart`);
  if (!all.length) return h("p", { class: "muted" }, "nothing to chart yet");
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => pad.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const svgEl = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  svgEl("line", { class: "axis", x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom });
  svgEl("line", { class: "axis", x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom });
  svgEl("text", { x: 2, y: pad.top + 8 }, number(y1, 2));
  svgEl("text", { x: 2, y: height - pad.bottom }, number(y0, 2));
  svgEl("text", { x: pad.left, y: height - 6 }, number(x0, 0));
  svgEl("text", { x: width - pad.right - 30, y: height - 6 }, number(x1, 0));
  for (const marker of markers) {
    svgEl("line", { x1: sx(marker.x), x2: sx(marker.x), y1: pad.top, y2: height - pad.bottom,
      stroke: marker.kind === "bad" ? "#b42318" : "#1a7f4b", "stroke-dasharray": "3 3" });
  }
  series.forEach((s, index) => {
    const points = s.points.filter(([, y]) => Number.isFinite(y));
    const color = s.color || PALETTE[index % PALETTE.length];
    svgEl("polyline", { fill: "none", stroke: color, "stroke-width": 1.6,
      points: points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ") });
    for (const [x, y, kind] of points) {
      if (kind || points.length === 1) svgEl("circle", { cx: sx(x), cy: sy(y), r: 3, fill: kind || color });
    }
  });
  const legend = h("div", { class: "legend" }, series.map((s, index) =>
    h("span", {}, h("i", { style: `background:${s.color || PALETTE[index % PALETTE.length]}` }), s.name)));
  return h("div", {}, svg, legend);
}

// -- the live feed -----------------------------------------------------------------------

const listeners = new Set();
let lastPosition = null;
let feed = null;

function onLedger(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function connectLive() {
  if (feed) feed.abort();
  const controller = new AbortController();
  feed = controller;
  liveState.dataset.state = "connecting";
  liveState.textContent = "live: connecting";
  try {
    const response = await fetch(`/v1/live${query({ after: lastPosition })}`,
      { headers: headers(), signal: controller.signal });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    liveState.dataset.state = "live";
    liveState.textContent = "live";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((line) => line.startsWith("data: "))
          .map((line) => line.slice(6)).join("\n");
        if (!data) continue;
        const event = JSON.parse(data);
        lastPosition = event.position;
        livePosition.textContent = `ledger position ${event.position}`;
        for (const listener of listeners) listener(event);
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    liveState.dataset.state = "down";
    liveState.textContent = `live: ${error.message}`;
  }
  if (!controller.signal.aborted) setTimeout(connectLive, 3000);
}

function debounce(action, wait = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => action(...args), wait);
  };
}

// -- views -------------------------------------------------------------------------------

async function leaderboardView(params) {
  const tag = params.get("tag") || "";
  const tags = await api("/v1/tags");
  const picker = h("select", { id: "tag", "aria-label": "scope tag",
    onchange: (e) => { location.hash = `#/leaderboard${query({ tag: e.target.value })}`; } },
  h("option", { value: "" }, "global"),
  tags.map(({ tag: t }) => h("option", { value: t, selected: t === tag }, `#${t}`)));
  const body = h("div", {});
  const known = new Map();
  async function render(minPosition) {
    const [standings, ratings] = await Promise.all([
      api(`/v1/karma/leaderboard${query({ tag, limit: 100, min_position: minPosition })}`),
      api(`/v1/ratings${query({ tag })}`)]);
    const rating = new Map(ratings.map((r) => [r.agent_id, r]));
    const columns = [["#", (r) => r.rank, true], ["agent", (r) => agentLink(r.agent_id)],
      ["karma", (r) => number(r.balance), true]];
    if (!tag) columns.push(["escrow", (r) => number(r.escrow), true]);
    columns.push([tag ? `rating in #${tag} (± deviation)` : "global rating (± deviation)", (r) => {
      const found = rating.get(r.agent_id);
      return found ? `${number(found.rating, 0)} ± ${number(found.deviation, 0)}` : "–";
    }, true]);
    if (!tag) columns.push(["entries", (r) => r.entries, true]);
    body.replaceChildren(table(columns, standings, (r) => {
      const changed = known.has(r.agent_id) && known.get(r.agent_id) !== String(r.balance);
      return { class: changed ? "flash" : null, dataset: { agent: r.agent_id, balance: String(r.balance) } };
    }));
    for (const r of standings) known.set(r.agent_id, String(r.balance));
  }
  await render();
  const refresh = debounce((event) => render(event.position).catch((e) => body.replaceChildren(failure(e))));
  const stop = onLedger((event) => { if (event.type.startsWith("karma.karma.")) refresh(event); });
  show(h("h1", {}, "Leaderboard"),
    h("div", { class: "row" }, h("label", {}, "Scope ", picker),
      h("span", { class: "muted" }, "updates as karma events arrive on the live feed")),
    body);
  return stop;
}

const ENTRIES_PER_PAGE = 50;

async function agentView(agentId, params) {
  const before = params.get("before") || "";
  const [balance, scopes, why] = await Promise.all([
    api(`/v1/karma/${encodeURIComponent(agentId)}`),
    api(`/v1/karma/${encodeURIComponent(agentId)}/scopes`),
    api(`/v1/karma/${encodeURIComponent(agentId)}/why${query({ newest: ENTRIES_PER_PAGE, before })}`)]);
  const entries = why.entries.slice().reverse();
  const older = why.complete || !why.entries.length ? null
    : link(`#/agents/${encodeURIComponent(agentId)}${query({ before: why.entries[0].position })}`,
      `older entries (before position ${why.entries[0].position}) →`);
  show(h("h1", {}, `Agent ${agentId}`),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "Balance"),
        table([["", (r) => r[0]], ["", (r) => number(r[1]), true]],
          [["available", balance.balance], ["escrow", balance.escrow], ["minted", balance.minted],
            ["burned", balance.burned], ["decayed", balance.decayed], ["slashed", balance.slashed]])),
      h("div", { class: "card" }, h("h2", {}, "Karma and rating per scope"),
        table([["scope", (r) => `#${r.scope}`], ["karma", (r) => number(r.balance), true],
          ["rating", (r) => r.rating === undefined ? "–" : `${number(r.rating, 0)} ± ${number(r.deviation, 0)}`, true]],
        scopes.karma.map((k) => ({ ...k, ...(scopes.ratings.find((r) => r.scope === k.scope) || {}) }))))),
    h("h2", {}, why.complete
      ? `Where its ${number(why.total)} karma came from (${why.entries.length} entries, newest first)`
      : `Where its karma came from: ${why.entries.length} of ${balance.entries} entries, newest first, adding ${number(why.total)}`),
    h("div", { id: "provenance" }, entries.map((entry) => h("div", { class: "card entry", dataset: { position: entry.position } },
      h("div", { class: "row" }, pill(entry.kind, Number(entry.contribution) >= 0 ? "good" : "bad"),
        h("strong", {}, number(entry.contribution)), h("span", { class: "muted" }, `position ${entry.position} · ${time(entry.occurred_at)}`),
        entry.task_id ? link(`#/events${query({ aggregate: `task/${entry.task_id}` })}`, `task ${entry.task_id}`) : null),
      h("div", {}, entry.reason),
      h("ol", { class: "chain" }, entry.chain.map((step) => h("li", { dataset: { event: step.event_id } },
        step.event_type === "command" ? h("span", { class: "muted" }, `command: ${step.summary}`)
          : h("details", { ontoggle: (e) => loadPayload(e.target, step.event_id) },
            h("summary", {}, h("strong", {}, step.event_type), " ", step.summary, " ", eventLink(step.event_id))))))))),
    h("p", {}, older));
}

async function loadPayload(details, eventId) {
  if (!details.open || details.dataset.loaded) return;
  details.dataset.loaded = "yes";
  const found = await api(`/v1/events/${encodeURIComponent(eventId)}/links`);
  const payload = found.event.payload;
  const parts = [];
  if (payload.prompt !== undefined) parts.push(h("div", {}, h("strong", {}, "prompt"), h("pre", {}, payload.prompt)));
  if (payload.response !== undefined) parts.push(h("div", {}, h("strong", {}, "answer"), h("pre", {}, payload.response)));
  if (!parts.length) parts.push(h("pre", {}, JSON.stringify(payload, null, 2)));
  details.append(...parts);
}

const EVENT_COLUMNS = [
  ["position", (e) => e.position, true],
  ["time", (e) => time(e.occurred_at)],
  ["type", (e) => link(`#/events/${encodeURIComponent(e.event_id)}`, e.event_type)],
  ["aggregate", (e) => link(`#/events${query({ aggregate: e.originator_id })}`, e.originator_id)],
  ["run", (e) => (e.run_id ? link(`#/runs/${encodeURIComponent(e.run_id)}`, e.run_id) : "–")],
];

function typeOf(event) {
  return event.event_type || event.type?.split(".").pop();
}

async function eventsView(params) {
  const filter = { run_id: params.get("run_id") || "", event_type: params.get("event_type") || "",
    aggregate: params.get("aggregate") || "", since: params.get("since") || "",
    after: params.get("after") || "0" };
  const types = await api("/v1/event-types");
  const form = h("form", { class: "row", id: "event-filter", onsubmit: (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target));
    location.hash = `#/events${query(data)}`;
  } },
  h("input", { name: "run_id", placeholder: "run", value: filter.run_id }),
  h("select", { name: "event_type" }, h("option", { value: "" }, "any type"),
    types.map(({ event_type: t }) => h("option", { value: t, selected: t === filter.event_type }, t))),
  h("input", { name: "aggregate", placeholder: "aggregate (task/…)", value: filter.aggregate }),
  h("input", { name: "since", type: "datetime-local", step: 1, value: filter.since }),
  h("input", { name: "after", type: "number", min: 0, placeholder: "after position", value: filter.after }),
  h("button", { type: "submit" }, "Filter"),
  h("label", {}, h("input", { type: "checkbox", id: "tail", checked: true }), " live tail"));
  const since = filter.since ? new Date(filter.since).toISOString() : "";
  const page = await api(`/v1/events${query({ ...filter, since, limit: 100 })}`);
  const rows = h("tbody", {});
  const render = (events) => events.map((e) => h("tr", { dataset: { position: e.position } },
    EVENT_COLUMNS.map(([, cell, numeric]) => h("td", { class: numeric ? "num" : null }, cell(e)))));
  rows.append(...render(page));
  const next = page.length ? page[page.length - 1].position : null;
  const more = next !== null && page.length === 100
    ? link(`#/events${query({ ...filter, after: next })}`, `next page (after ${next}) →`) : null;
  const matches = (event) => (!filter.run_id || event.runid === filter.run_id)
    && (!filter.event_type || typeOf(event) === filter.event_type)
    && (!filter.aggregate || event.subject === filter.aggregate);
  const stop = onLedger((event) => {
    if (!document.getElementById("tail")?.checked || !matches(event)) return;
    rows.append(...render([{ position: event.position, occurred_at: event.time, event_type: typeOf(event),
      event_id: event.id, originator_id: event.subject, run_id: event.runid }]));
  });
  show(h("h1", {}, "Events"), form,
    h("table", { id: "events" }, h("thead", {}, h("tr", {}, EVENT_COLUMNS.map(([label, , numeric]) =>
      h("th", { class: numeric ? "num" : null }, label)))), rows),
    h("p", {}, more));
  return stop;
}

async function eventView(eventId) {
  const found = await api(`/v1/events/${encodeURIComponent(eventId)}/links`);
  const e = found.event;
  const list = (events) => table(EVENT_COLUMNS, events);
  show(h("h1", {}, `${e.event_type} · ${e.event_id}`),
    h("div", { class: "row" },
      pill(`position ${e.position}`), pill(time(e.occurred_at)),
      link(`#/events${query({ aggregate: e.originator_id })}`, `all events of ${e.originator_id}`),
      e.run_id ? link(`#/runs/${encodeURIComponent(e.run_id)}`, `run ${e.run_id}`) : null),
    h("div", { class: "row" }, h("span", {}, "caused by: ",
      found.cause ? h("a", { id: "cause", href: `#/events/${encodeURIComponent(found.cause.event_id)}` },
        `${found.cause.event_type} ${found.cause.event_id}`)
        : h("span", { class: "muted", id: "cause" }, e.causation_id))),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "CloudEvents envelope (as on JetStream)"),
        h("pre", { id: "envelope" }, JSON.stringify(found.envelope, null, 2))),
      h("div", { class: "card" }, h("h2", {}, "Payload"), h("pre", { id: "payload" }, JSON.stringify(e.payload, null, 2)))),
    h("h2", {}, `Events it caused (${found.caused_count})`), h("div", { id: "caused" }, list(found.caused)),
    h("h2", {}, `Same correlation ${e.correlation_id} (${found.correlated_count})`), list(found.correlated));
}

async function runsView() {
  const runs = await api("/v1/runs?limit=200");
  show(h("h1", {}, "Runs"), table([
    ["run", (r) => link(`#/runs/${encodeURIComponent(r.run_id)}`, r.run_id)],
    ["workflow", (r) => r.workflow], ["started", (r) => time(r.started_at)],
    ["outcome", (r) => r.outcome || pill("running", "warn")], ["replay of", (r) => r.replay_of || "–"]], runs));
}

function stateTables(state) {
  const balances = Object.entries(state.balances).map(([agent, b]) => ({ agent, ...b }));
  const scoped = Object.entries(state.scoped).flatMap(([agent, tags]) =>
    Object.entries(tags).map(([scope, balance]) => ({ agent, scope, balance })));
  const tasks = Object.entries(state.tasks).map(([task, t]) => ({ task, ...t }));
  return h("div", { class: "cards", id: "state" },
    h("div", { class: "card" }, h("h2", {}, "Balances"), table([["agent", (r) => agentLink(r.agent)],
      ["available", (r) => number(r.balance), true], ["escrow", (r) => number(r.escrow), true]], balances,
    (r) => ({ dataset: { agent: r.agent, balance: String(r.balance) } }))),
    h("div", { class: "card" }, h("h2", {}, "Scoped karma"), table([["agent", (r) => r.agent],
      ["scope", (r) => `#${r.scope}`], ["karma", (r) => number(r.balance), true]], scoped)),
    h("div", { class: "card" }, h("h2", {}, "Task board"), table([["task", (r) => r.task],
      ["type", (r) => r.task_type || "–"], ["state", (r) => r.state || "–"], ["assignee", (r) => r.assignee || "–"],
      ["artifacts", (r) => r.artifacts, true], ["reviews", (r) => r.reviews, true]], tasks,
    (r) => ({ dataset: { task: r.task, state: r.state || "" } }))));
}

async function runView(runId) {
  const line = await api(`/v1/runs/${encodeURIComponent(runId)}/timeline`);
  const positions = line.events.map((e) => e.position);
  const last = positions.length - 1;
  const stateBox = h("div", { id: "travel" });
  const label = h("span", { id: "slider-position" });
  const eventBox = h("div", { class: "muted", id: "slider-event" });
  const slider = h("input", { type: "range", id: "slider", min: 0, max: Math.max(last, 0), value: Math.max(last, 0),
    "aria-label": "position in the run" });
  let pending = 0;
  async function travel() {
    const index = Number(slider.value);
    const position = positions[index];
    const event = line.events[index];
    label.textContent = `position ${position} (event ${index + 1} of ${positions.length})`;
    eventBox.replaceChildren(event ? h("span", {}, time(event.occurred_at), " · ", eventLink(event.event_id), " ", event.event_type) : "");
    const ticket = ++pending;
    const state = await api(`/v1/runs/${encodeURIComponent(runId)}/at?position=${position}`);
    if (ticket !== pending) return;  // a later move of the slider wins
    stateBox.replaceChildren(stateTables(state));
    stateBox.dataset.position = String(position);
  }
  slider.addEventListener("input", debounce(travel, 120));
  const from = h("input", { type: "number", name: "from", id: "diff-from", value: positions[0] ?? 0 });
  const to = h("input", { type: "number", name: "to", id: "diff-to", value: positions[last] ?? 0 });
  const diffBox = h("div", { id: "diff" });
  const diffForm = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const diff = await api(`/v1/runs/${encodeURIComponent(runId)}/diff?from=${from.value}&to=${to.value}`);
      diffBox.replaceChildren(renderDiff(diff));
    } catch (error) { diffBox.replaceChildren(failure(error)); }
  } }, "Diff from position ", from, " to ", to, h("button", { type: "submit" }, "Diff"));
  const seconds = Object.values(line.task_seconds);
  show(h("h1", {}, `Run ${runId}`),
    h("div", { class: "row" }, pill(line.run.workflow), pill(line.run.outcome || "running", line.run.outcome === "succeeded" ? "good" : "warn"),
      pill(`${line.events.length} events`), pill(`${Object.keys(line.task_seconds).length} tasks timed`),
      seconds.length ? pill(`task time median ${number(seconds.sort((a, b) => a - b)[Math.floor(seconds.length / 2)], 1)} s`) : null,
      link(`#/events${query({ run_id: runId })}`, "its events")),
    h("h2", {}, "Timeline"), timelineChart(line),
    h("h2", {}, "Time travel"), h("div", { class: "row" }, label), slider, eventBox, stateBox,
    h("h2", {}, "What changed between two positions"), diffForm, diffBox);
  if (positions.length) await travel();
}

function timelineChart(line) {
  // Events per type along the run's positions: one row of ticks per type.
  const types = Object.keys(line.counts).sort();
  const width = 1000;
  const rowHeight = 16;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const height = types.length * rowHeight + 10;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("id", "timeline");
  const first = line.events[0]?.position ?? 0;
  const lastPosition = line.events[line.events.length - 1]?.position ?? 1;
  const x = (p) => 190 + ((p - first) / Math.max(1, lastPosition - first)) * (width - 200);
  types.forEach((type, row) => {
    const text = document.createElementNS(svg.namespaceURI, "text");
    text.setAttribute("x", 0);
    text.setAttribute("y", row * rowHeight + 12);
    text.textContent = `${type} (${line.counts[type]})`;
    svg.append(text);
  });
  for (const event of line.events) {
    const tick = document.createElementNS(svg.namespaceURI, "rect");
    tick.setAttribute("x", x(event.position));
    tick.setAttribute("y", types.indexOf(event.event_type) * rowHeight + 3);
    tick.setAttribute("width", 2);
    tick.setAttribute("height", 11);
    tick.setAttribute("fill", PALETTE[types.indexOf(event.event_type) % PALETTE.length]);
    svg.append(tick);
  }
  return svg;
}

function renderDiff(diff) {
  const rows = [];
  const describe = (value) => (value === null ? "∅" : Object.entries(value)
    .map(([k, v]) => `${k} ${typeof v === "number" || /^-?[0-9.]+$/.test(String(v)) ? number(v) : v}`).join(", "));
  for (const [group, changes] of Object.entries({ balances: diff.balances, scoped: diff.scoped, tasks: diff.tasks })) {
    for (const [key, change] of Object.entries(changes)) {
      rows.push({ group, key, from: describe(change.from), to: describe(change.to) });
    }
  }
  if (!rows.length) return h("p", { class: "muted" }, "nothing changed");
  return table([["what", (r) => r.group], ["which", (r) => r.key], ["from", (r) => h("span", { class: "diff-del" }, r.from)],
    ["to", (r) => h("span", { class: "diff-add" }, r.to)]], rows);
}

async function projectionsView() {
  const body = h("div", {});
  const status = h("p", { id: "action-status", class: "muted" });
  let digests = false;
  async function render() {
    const found = await api(`/v1/projections${query({ digests: digests || null })}`);
    body.replaceChildren(
      h("p", {}, `Ledger head: position ${found.head} `,
        digests ? null : h("button", { id: "digests", onclick: () => { digests = true; render(); } },
          "compute digests (reads every row)")),
      table([["view", (v) => v.name], ["position", (v) => v.position, true],
        ["lag (events)", (v) => (v.lag ? pill(String(v.lag), "warn") : pill("0", "good")), true],
        ["digest", (v) => (v.digest ? h("code", {}, v.digest.slice(0, 23)) : "–")],
        ["admin", (v) => h("span", {},
          h("button", { onclick: () => act(v.name, "verify"), dataset: { view: v.name, action: "verify" } }, "verify"), " ",
          h("button", { onclick: () => act(v.name, "rebuild"), dataset: { view: v.name, action: "rebuild" } }, "rebuild"))]],
      found.views, (v) => ({ dataset: { view: v.name } })),
      h("h2", {}, "Recorded checks (ReadModelChecked events)"),
      table([["when", (e) => time(e.occurred_at)], ["view", (e) => e.payload.view],
        ["", (e) => (e.payload.replaced ? "rebuilt" : "verified")],
        ["result", (e) => (e.payload.identical ? pill("identical", "good") : pill("differs", "bad"))],
        ["at position", (e) => e.payload.position, true], ["event", (e) => eventLink(e.event_id)]], found.checks));
  }
  async function act(name, action) {
    status.textContent = `${action} ${name}…`;
    try {
      const result = await api(`/v1/projections/${encodeURIComponent(name)}/${action}`, { method: "POST" });
      status.textContent = `${action} ${name}: ${result.identical ? "identical" : "DIFFERS"} at position ${result.position}`;
      await render();
    } catch (error) {
      status.textContent = "";
      status.append(failure(error));
    }
  }
  await render();
  const stop = onLedger(debounce(() => render().catch(() => {}), 1000));
  show(h("h1", {}, "Projections"), status, body);
  return stop;
}

async function graphsView(graphId, params) {
  const graphs = await api("/v1/knowledge/graphs");
  if (!graphId) {
    show(h("h1", {}, "Knowledge graphs"), graphs.length ? table([
      ["graph", (g) => link(`#/graphs/${encodeURIComponent(g.graph_id)}`, g.graph_id)],
      ["enrichments", (g) => g.enrichments, true], ["accepted", (g) => g.accepted, true],
      ["rejected", (g) => g.rejected, true], ["last position", (g) => g.last_position, true]], graphs)
      : h("p", { class: "muted" }, "No graph yet: karma kg enrich examples/karma_enrich_request.json"));
    return;
  }
  const position = params.get("position") || "";
  const graph = await api(`/v1/knowledge/graphs/${encodeURIComponent(graphId)}${query({ position })}`);
  const history = await api(`/v1/events${query({ aggregate: `graph/${graphId}`, limit: 1000 })}`);
  const decided = history.filter((e) => /Triple(Accepted|Rejected)$/.test(e.event_type));
  const positions = history.map((e) => e.position);
  const at = h("input", { type: "range", id: "graph-slider", min: 0, max: Math.max(positions.length - 1, 0),
    value: position ? Math.max(0, positions.findIndex((p) => p >= Number(position))) : positions.length - 1 });
  at.addEventListener("change", () => {
    location.hash = `#/graphs/${encodeURIComponent(graphId)}${query({ position: positions[Number(at.value)] })}`;
  });
  show(h("h1", {}, `Graph ${graphId}`),
    h("div", { class: "row" }, `As at ${position ? `position ${position}` : "now"}: `,
      pill(`${graph.nodes.length} nodes`), pill(`${graph.edges.filter((e) => e.status === "active").length} active edges`),
      pill(`${graph.edges.filter((e) => e.status === "superseded").length} superseded`, "warn")),
    at, drawGraph(graph),
    h("h2", {}, "Edges"), table([["source", (e) => e.source], ["relation", (e) => e.relation], ["target", (e) => e.target],
      ["score", (e) => number(e.score), true], ["status", (e) => pill(e.status, e.status === "active" ? "good" : "warn")]], graph.edges),
    h("h2", {}, "Decisions (accepted and rejected triples)"),
    h("div", { id: "decisions" }, table([["position", (e) => e.position, true], ["decision", (e) => pill(e.event_type, /Accepted/.test(e.event_type) ? "good" : "bad")],
      ["triple", (e) => (e.payload.edge ? [e.payload.edge.source, e.payload.edge.relation, e.payload.edge.target]
        : [e.payload.candidate?.subject, e.payload.candidate?.predicate, e.payload.candidate?.object]).join(" · ")],
      ["reason", (e) => e.payload.reason ?? ""], ["event", (e) => eventLink(e.event_id)]], decided)));
}

function drawGraph(graph) {
  const width = 900;
  const height = 420;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("id", "graph");
  const count = graph.nodes.length || 1;
  const place = new Map(graph.nodes.map((node, index) => {
    const angle = (2 * Math.PI * index) / count;
    return [node.id, [width / 2 + 0.4 * width * Math.cos(angle) * 0.9, height / 2 + 0.42 * height * Math.sin(angle)]];
  }));
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(svg.namespaceURI, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
  };
  const between = new Map();  // edges between the same two nodes get their labels apart
  for (const edge of graph.edges) {
    const [a, b] = [place.get(edge.source), place.get(edge.target)];
    if (!a || !b) continue;
    const pair = [edge.source, edge.target].sort().join(" ");
    const nth = between.get(pair) || 0;
    between.set(pair, nth + 1);
    add("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: edge.status === "active" ? "#2f5bd3" : "#b35c00",
      "stroke-dasharray": edge.status === "active" ? "" : "4 3", "stroke-width": 1.4 });
    add("text", { x: (a[0] + b[0]) / 2, y: (a[1] + b[1]) / 2 - 3 + 14 * nth },
      edge.status === "active" ? edge.relation : `${edge.relation} (superseded)`);
  }
  for (const node of graph.nodes) {
    const [x, y] = place.get(node.id);
    add("circle", { cx: x, cy: y, r: 6, fill: "#1a7f4b" });
    add("text", { x: x + 8, y: y + 4, style: "fill:#1d2330" }, node.label || node.id);
  }
  return svg;
}

async function ecologyView(runId) {
  const runs = await api("/v1/ecology/colonies");
  const picker = h("div", { class: "row" }, "Colony runs: ", runs.length
    ? runs.map(({ run_id: r }) => link(`#/ecology/${encodeURIComponent(r)}`, r)) : h("span", { class: "muted" }, "none yet (karma ecology run)"));
  if (!runId) { show(h("h1", {}, "Ecology"), picker); return; }
  const data = await api(`/v1/ecology/colonies/${encodeURIComponent(runId)}`);
  const generations = data.generations.map((g) => ({ generation: g.generation, ...g.summary }));
  const byFamily = new Map();
  for (const row of data.families) {
    if (!byFamily.has(row.family)) byFamily.set(row.family, []);
    byFamily.get(row.family).push([row.generation, Number(row.accuracy)]);
  }
  const roi = new Map();
  for (const row of data.organelles) {
    if (!roi.has(row.organelle_id)) roi.set(row.organelle_id, []);
    const cost = Number(row.cost);
    roi.get(row.organelle_id).push([row.generation, cost ? Number(row.income) / cost : NaN]);
  }
  const merges = data.assimilation.filter((a) => a.kind === "merge").map((a) => ({ x: a.generation, kind: "good" }));
  const refused = data.assimilation.filter((a) => a.kind === "attempt" && !a.record.accepted)
    .map((a) => ({ x: a.generation, kind: "bad" }));
  show(h("h1", {}, `Ecology · ${runId}`), picker,
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "Energy"), lineChart([
        { name: "energy total", points: generations.map((g) => [g.generation, Number(g.energy_total)]) }], { yLabel: "energy" }),
      lineChart([{ name: "energy Gini", points: generations.map((g) => [g.generation, g.energy_gini]) },
        { name: "mean score", points: generations.map((g) => [g.generation, g.mean_score]) }], { yLabel: "share", height: 160 })),
      h("div", { class: "card" }, h("h2", {}, "Accuracy per family"), lineChart([...byFamily].map(([family, points]) => ({ name: family, points })),
        { yLabel: "accuracy", markers: [...merges, ...refused] }),
      h("p", { class: "muted" }, "dashed lines: merges (green), refused assimilation attempts (red)")),
      h("div", { class: "card" }, h("h2", {}, "ROI per organelle (income / cost)"), lineChart([...roi].map(([name, points]) => ({ name, points })), { yLabel: "ROI" }))),
    h("h2", {}, "Assimilation, merges and the baseline"), table([["kind", (a) => a.kind], ["generation", (a) => a.generation ?? "–", true],
      ["record", (a) => h("code", {}, JSON.stringify(a.record).slice(0, 160))]], data.assimilation));
}

const DECISION_COLOURS = { apply: "#1a7f4b", skip: "#b35c00", rollback: "#b42318", freeze: "#6b3fa0", held: "#697386" };

async function learningView(learner) {
  const learners = await api("/v1/learners");
  const picker = h("div", { class: "row" }, "Learners: ", learners.length
    ? learners.map(({ learner: l }) => link(`#/learning/${encodeURIComponent(l)}`, l)) : h("span", { class: "muted" }, "none yet (karma learn train)"));
  if (!learner) { show(h("h1", {}, "Learning"), picker); return; }
  const found = await api(`/v1/learners/${encodeURIComponent(learner)}/health`);
  const events = found.events;
  const gated = events.UpdateGated;
  const steps = gated.map((g, index) => [index + 1, g.partial_rhi, DECISION_COLOURS[g.decision]]);
  const counts = {};
  for (const g of gated) counts[g.decision] = (counts[g.decision] || 0) + 1;
  const again = debounce(route, 1000);
  const stop = onLedger((event) => { if (event.subject === `learner/${learner}`) again(); });
  show(h("h1", {}, `Learning · ${learner}`), picker,
    h("div", { class: "row" }, Object.entries(counts).map(([d, n]) => pill(`${d} ${n}`, d === "apply" ? "good" : d === "skip" ? "warn" : "bad"))),
    h("div", { class: "cards" },
      h("div", { class: "card", id: "rhi-chart" }, h("h2", {}, "Partial RHI of every update, coloured by the gate's decision"),
        lineChart([{ name: "partial RHI", points: steps }, { name: "DCS", points: gated.map((g, i) => [i + 1, g.dcs]) },
          { name: "GVS", points: gated.map((g, i) => [i + 1, g.gvs]) }], { yLabel: "RHI" }),
        h("div", { class: "legend" }, Object.entries(DECISION_COLOURS).map(([d, c]) => h("span", {}, h("i", { style: `background:${c}` }), d)))),
      h("div", { class: "card" }, h("h2", {}, "Full RHI per training run"),
        lineChart([{ name: "RHI", points: events.RhiMeasured.map((m, i) => [i + 1, m.rhi]) }], { yLabel: "RHI", height: 160 }),
        table([["run", (m) => m.run], ["RHI", (m) => number(m.rhi), true], ["adapter", (m) => h("code", {}, (m.digest || "").slice(7, 19))]],
          events.RhiMeasured))),
    h("h2", {}, "Deployments, refusals, rollbacks and rate changes"),
    table([["position", (e) => e.position, true], ["when", (e) => time(e.at)], ["what", (e) => e.kind], ["detail", (e) => e.detail]],
      [...events.AdapterDeployed.map((e) => ({ ...e, kind: "deployed", detail: e.digest })),
        ...events.ConsolidationRefused.map((e) => ({ ...e, kind: "refused", detail: `RHI ${number(e.rhi)} ≤ ${e.threshold}` })),
        ...events.AdapterRolledBack.map((e) => ({ ...e, kind: "rolled back", detail: e.reason })),
        ...events.LearningRateLowered.map((e) => ({ ...e, kind: "rate lowered", detail: `${e.before} → ${e.after}` }))]
        .sort((a, b) => a.position - b.position)),
    h("h2", {}, "Every gated update"),
    h("div", { id: "gated" }, table([["#", (g) => g.index, true], ["run", (g) => g.run], ["partial RHI", (g) => number(g.partial_rhi), true],
      ["DCS", (g) => number(g.dcs), true], ["GVS", (g) => number(g.gvs), true], ["decision", (g) => g.decision],
      ["loss", (g) => number(g.loss), true]], gated.map((g, index) => ({ ...g, index: index + 1 })))));
  return stop;
}

// -- routing -----------------------------------------------------------------------------

let leave = null;

async function route() {
  if (leave) { leave(); leave = null; }
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.getAttribute("href").slice(2).split("/")[0] === (parts[0] || "leaderboard"));
  }
  view.dataset.ready = "no";
  try {
    const [page, id] = parts;
    if (!page || page === "leaderboard") leave = await leaderboardView(params);
    else if (page === "agents") await agentView(id, params);
    else if (page === "events" && id) await eventView(id);
    else if (page === "events") leave = await eventsView(params);
    else if (page === "runs" && id) await runView(id);
    else if (page === "runs") await runsView();
    else if (page === "projections") leave = await projectionsView();
    else if (page === "graphs") await graphsView(id, params);
    else if (page === "ecology") await ecologyView(id);
    else if (page === "learning") leave = await learningView(id);
    else show(h("p", { class: "error" }, `No page ${path}`));
  } catch (error) {
    show(failure(error));
  }
  view.dataset.route = parts.join("/");
  view.dataset.readyAt = String(performance.now());  // bench.dashboard reads it
  view.dataset.ready = "yes";
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
  input.value = "";
  connectLive();
  route();
});
window.addEventListener("hashchange", route);
connectLive();
route();
