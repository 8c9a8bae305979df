// The incident queue: open incidents grouped by what they wait for, then by priority, newest first
// (model.compareQueue); each row's clock runs every second and turns amber, red, then "promise
// breached" against the 5-minute promise.
import { state, on, sortedQueue } from "./store.js";
import * as model from "./model.js";
import { t as text, N_ } from "./i18n.js";   // the message catalogue (t is the clock here)
import { forwardTag } from "./station.js";

const filter = { agency: "", station: "" };
let onSelect = () => {};
let selectedId = null;
const freshIds = new Set();

export function initQueue({ select }) {
  onSelect = select;
  const agencySel = document.getElementById("filter-agency");
  for (const [code, name] of Object.entries(model.AGENCY_NAMES)) agencySel.add(new Option(text(name), code));
  fillStations();
  agencySel.onchange = () => { filter.agency = agencySel.value; fillStations(); render(); };
  const stationSel = document.getElementById("filter-station");
  stationSel.onchange = () => { filter.station = stationSel.value; render(); };
  document.getElementById("queue").addEventListener("click", (e) => {
    const row = e.target.closest("[data-incident]");
    if (row) onSelect(Number(row.dataset.incident));
  });
  on("incidents", renderSoon);
  on("sos", (inc) => { freshIds.add(inc.id); setTimeout(() => freshIds.delete(inc.id), 6000); });
  setInterval(tick, 1000);
  render();
}

function fillStations() {
  const sel = document.getElementById("filter-station");
  const keep = sel.value;
  sel.length = 1;
  const area = model.AGENCY_AREA[filter.agency];
  const feats = (state.areas?.features || []).filter((f) => !f.properties.site && (!area || f.properties.agency === area));
  for (const f of feats) sel.add(new Option(f.properties.name, f.properties.id));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
  filter.station = sel.value;
}

export function visibleIds() { return sortedQueue(filter).map((i) => i.id); }
export function setSelected(id) { selectedId = id; render(); }

// A burst of feed events (a district's buttons at once, an escalation sweep over every open
// incident) redraws the queue once, at the next frame: one redraw per event left a console with a
// few hundred rows seconds behind the feed. A hidden tab gets no frames, hence the timer beside it.
let renderPending = false;
function renderSoon() {
  if (renderPending) return;
  renderPending = true;
  const once = () => { if (renderPending) { renderPending = false; render(); } };
  requestAnimationFrame(once);
  setTimeout(once, 250);
}

// Each row is rebuilt only when what it shows changed (its markup is its key); the rest are kept
// and moved. The clock is the only part that changes every second: it is set here and by tick(),
// never part of the markup, so a ticking clock does not rebuild its row.
const drawn = new Map();   // "g:<group>" | "r:<id>" -> { html, el, clock }

function element(key, html) {
  const had = drawn.get(key);
  if (had && had.html === html) return had;
  const tpl = document.createElement("template");
  tpl.innerHTML = html.trim();
  const el = tpl.content.firstElementChild;
  const entry = { html, el, clock: el.querySelector(".clock") };
  drawn.set(key, entry);
  return entry;
}

function setClock(clock, inc, t) {
  if (!clock) return;
  const wait = model.waiting(inc, t);
  const shown = model.duration(wait), cls = `clock ${model.urgency(wait, state.config)}`;
  if (clock.textContent !== shown) clock.textContent = shown;
  if (clock.className !== cls) clock.className = cls;
}

function render() {
  renderPending = false;
  const list = document.getElementById("queue");
  const rows = sortedQueue(filter);
  const t = model.now();
  let group = null;
  const wanted = [];
  const counts = {};
  for (const inc of rows) { const g = model.queueGroup(inc); counts[g] = (counts[g] || 0) + 1; }
  for (const inc of rows) {
    const g = model.queueGroup(inc);
    if (g !== group) {
      group = g;
      wanted.push(["g:" + g, `<li class="q-group" data-group="${g}">${model.escape(text(GROUP_NAMES[g] || g))} <span>${counts[g]}</span></li>`, null]);
    }
    wanted.push(["r:" + inc.id, row(inc, t), inc]);
  }
  const keep = new Set();
  let at = list.firstElementChild;
  for (const [key, html, inc] of wanted) {
    const entry = element(key, html);
    keep.add(key);
    if (inc) setClock(entry.clock, inc, t);
    if (entry.el === at) { at = at.nextElementSibling; continue; }
    list.insertBefore(entry.el, at);
  }
  while (at) { const next = at.nextElementSibling; at.remove(); at = next; }
  for (const key of [...drawn.keys()]) if (!keep.has(key)) drawn.delete(key);
  document.getElementById("queue-empty").hidden = rows.length > 0;
  document.getElementById("open-count").textContent = text("{n} open", { n: sortedQueue({}).length });
  // Past the promise anywhere in the queue, even below the fold: counted in the top bar, one click away.
  const breached = sortedQueue({}).filter((i) => model.breachedNow(i, t, state.config));
  const pill = document.getElementById("breach-count");
  pill.hidden = !breached.length;
  pill.textContent = text("{n} promise breached", { n: breached.length });
  pill.onclick = () => { const oldest = breached.sort((a, b) => a.receivedAt - b.receivedAt)[0]; if (oldest) onSelect(oldest.id); };
  // Kept in sight when it is selected or moves; scrolling measures the page, so not at every redraw.
  const index = wanted.findIndex(([, , inc]) => inc && inc.id === selectedId);
  if (index >= 0 && (selectedId !== shown.id || index !== shown.index)) drawn.get("r:" + selectedId).el.scrollIntoView({ block: "nearest" });
  shown.id = index >= 0 ? selectedId : null;
  shown.index = index;
}
const shown = { id: null, index: -1 };   // the selected row as last scrolled to

const GROUP_NAMES = Object.fromEntries(model.QUEUE_GROUPS);
const TYPES = { report: N_("report"), test: N_("test"), emergency: N_("emergency") };

function row(inc, t) {
  const breached = model.breachedNow(inc, t, state.config);
  const cls = ["q-row", inc.state, inc.id === selectedId ? "selected" : "", freshIds.has(inc.id) ? "fresh" : "",
    breached ? "breached" : ""].join(" ");
  // Tags get a line of their own: a long category or agency name must never push them out of sight.
  const tags = [breached ? `<span class="tag breach">${model.escape(text("promise breached"))}</span>` : "",
    inc.escalatedAt && inc.state === "new" ? `<span class="tag warn" data-escalation="${inc.escalationLevel}">${model.escape(
      inc.escalationLevel >= 2 ? text("escalated to the center head") : text("escalated to the supervisor"))}</span>` : "",
    forwardTag(inc.id),
    inc.presses > 1 ? `<span class="tag">${model.escape(text("{n}× pressed", { n: inc.presses }))}</span>` : "",
    inc.prankSuspect ? `<span class="tag warn">${model.escape(text("prank-flagged device"))}</span>` : "",
    inc.type !== "emergency" ? `<span class="tag">${model.escape(text(TYPES[inc.type] || inc.type))}</span>` : ""].join("");
  return `<li class="${cls}" data-incident="${inc.id}" tabindex="-1" data-style="border-left-color:${inc.id === selectedId ? "" : model.agencyColour(inc.agency)}">
      <span class="prio p${inc.priority}" title="${model.escape(text("priority {p}", { p: inc.priority }))}">${inc.priority}</span>
      <span class="what">#${inc.id} ${model.escape(model.label(inc.category))} · ${model.escape(model.agencyName(inc.agency))}</span>
      <span class="clock"></span>
      <span class="where">${model.escape(model.place(inc))} — ${model.escape(inc.stationName || text("no station"))}</span>
      <span class="state">${model.escape(model.label(inc.state))}</span>
      ${tags ? `<span class="tags">${tags}</span>` : ""}
    </li>`;
}

function tick() {
  const t = model.now();
  for (const el of document.querySelectorAll("#queue .clock")) {
    const rowEl = el.closest("[data-incident]");
    const inc = state.incidents.get(Number(rowEl.dataset.incident));
    if (!inc) continue;
    // Crossing the promise changes the row (its look and its tag), not only the clock: redraw it all.
    if (model.breachedNow(inc, t, state.config) !== rowEl.classList.contains("breached")) { render(); break; }
    setClock(el, inc, t);
  }
  const clock = document.getElementById("clock");
  if (clock) clock.textContent = model.clockTime(t);
}

export { render as renderQueue };   // forwards change a row's tag (station.js)
