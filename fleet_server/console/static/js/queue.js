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
  on("incidents", render);
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

function render() {
  const list = document.getElementById("queue");
  const rows = sortedQueue(filter);
  const t = model.now();
  let group = null;
  const html = [];
  for (const inc of rows) {
    const g = model.queueGroup(inc);
    if (g !== group) {
      group = g;
      const n = rows.filter((i) => model.queueGroup(i) === g).length;
      html.push(`<li class="q-group" data-group="${g}">${model.escape(text(GROUP_NAMES[g] || g))} <span>${n}</span></li>`);
    }
    html.push(row(inc, t));
  }
  list.innerHTML = html.join("");
  document.getElementById("queue-empty").hidden = rows.length > 0;
  document.getElementById("open-count").textContent = text("{n} open", { n: sortedQueue({}).length });
  // Past the promise anywhere in the queue, even below the fold: counted in the top bar, one click away.
  const breached = sortedQueue({}).filter((i) => model.breachedNow(i, t, state.config));
  const pill = document.getElementById("breach-count");
  pill.hidden = !breached.length;
  pill.textContent = text("{n} promise breached", { n: breached.length });
  pill.onclick = () => { const oldest = breached.sort((a, b) => a.receivedAt - b.receivedAt)[0]; if (oldest) onSelect(oldest.id); };
  const sel = list.querySelector(".selected");
  if (sel) sel.scrollIntoView({ block: "nearest" });
}

const GROUP_NAMES = Object.fromEntries(model.QUEUE_GROUPS);
const TYPES = { report: N_("report"), test: N_("test"), emergency: N_("emergency") };

function row(inc, t) {
  const wait = model.waiting(inc, t);
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
      <span class="clock ${model.urgency(wait, state.config)}">${model.duration(wait)}</span>
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
    const wait = model.waiting(inc, t);
    el.textContent = model.duration(wait);
    el.className = `clock ${model.urgency(wait, state.config)}`;
  }
  const clock = document.getElementById("clock");
  if (clock) clock.textContent = model.clockTime(t);
}

export { render as renderQueue };   // forwards change a row's tag (station.js)
