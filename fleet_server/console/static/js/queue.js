// The incident queue: open incidents by priority, then by how long they have waited; each row's clock
// runs every second and turns amber/red at the configured thresholds against the promise.
import { state, on, sortedQueue } from "./store.js";
import * as model from "./model.js";

const filter = { agency: "", station: "" };
let onSelect = () => {};
let selectedId = null;
const freshIds = new Set();

export function initQueue({ select }) {
  onSelect = select;
  const agencySel = document.getElementById("filter-agency");
  for (const [code, name] of Object.entries(model.AGENCY_NAMES)) agencySel.add(new Option(name, code));
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
  list.innerHTML = rows.map((inc) => {
    const wait = model.waiting(inc, t);
    const cls = ["q-row", inc.state, inc.id === selectedId ? "selected" : "", freshIds.has(inc.id) ? "fresh" : ""].join(" ");
    const tags = [inc.escalatedAt && inc.state === "new" ? `<span class="tag warn">escalated</span>` : "",
      inc.presses > 1 ? `<span class="tag">${inc.presses}× pressed</span>` : "",
      inc.prankSuspect ? `<span class="tag warn">prank-flagged device</span>` : "",
      inc.type !== "emergency" ? `<span class="tag">${model.escape(inc.type)}</span>` : ""].join("");
    return `<li class="${cls}" data-incident="${inc.id}" tabindex="-1" style="border-left-color:${inc.id === selectedId ? "" : model.agencyColour(inc.agency)}">
      <span class="prio p${inc.priority}" title="priority ${inc.priority}">${inc.priority}</span>
      <span class="what">#${inc.id} ${model.escape(model.label(inc.category))} · ${model.escape(model.agencyName(inc.agency))}${tags}</span>
      <span class="clock ${model.urgency(wait, state.config)}" data-received="${inc.receivedAt || ""}" data-stopped="${inc.onsceneAt || ""}">${model.duration(wait)}</span>
      <span class="where">${model.escape(inc.site || inc.deviceId || "unknown site")} — ${model.escape(inc.stationName || "no station")}</span>
      <span class="state">${model.escape(model.label(inc.state))}</span>
    </li>`;
  }).join("");
  document.getElementById("queue-empty").hidden = rows.length > 0;
  document.getElementById("open-count").textContent = `${state.incidents.size} open`;
  const sel = list.querySelector(".selected");
  if (sel) sel.scrollIntoView({ block: "nearest" });
}

function tick() {
  const t = model.now();
  for (const el of document.querySelectorAll("#queue .clock")) {
    const inc = state.incidents.get(Number(el.closest("[data-incident]").dataset.incident));
    if (!inc) continue;
    const wait = model.waiting(inc, t);
    el.textContent = model.duration(wait);
    el.className = `clock ${model.urgency(wait, state.config)}`;
  }
  const clock = document.getElementById("clock");
  if (clock) clock.textContent = model.clockTime(t);
}
