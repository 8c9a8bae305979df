// The incident view: clocks, location with its confidence, device and site, recommended units with
// ETA and reasons, the timeline (alarms, audit entries, notes) and the actions the role allows.
import * as api from "./api.js";
import * as model from "./model.js";
import { state, on, fetchIncident } from "./store.js";
import { confirmAction, toast } from "./alert.js";

const pane = () => document.getElementById("incident-pane");
let current = null;       // the incident on screen
let recommendations = [];
let assignments = [];
let loadSeq = 0;

export function initIncidentView() {
  on("incident-event", ({ id }) => { if (current && id === current.id) show(id); });
  on("units", () => { if (current) renderRecommendations(); });
  pane().addEventListener("click", onClick);
  pane().addEventListener("submit", onSubmit);
  setInterval(() => { if (current) renderClocks(); }, 1000);
}

export const currentId = () => (current ? current.id : null);

export async function show(id) {
  const seq = ++loadSeq;
  if (id === null || id === undefined) { current = null; pane().innerHTML = `<p class="muted pad">Select an incident (<kbd>J</kbd>/<kbd>K</kbd>).</p>`; return; }
  try {
    const inc = await fetchIncident(id);
    const [audit, recos, orders] = await Promise.all([loadAudit(inc), loadRecommendations(inc), loadAssignments(inc)]);
    if (seq !== loadSeq) return;  // the dispatcher already moved on
    current = inc; current.audit = audit; recommendations = recos; assignments = orders;
    render();
  } catch (e) {
    if (seq === loadSeq) pane().innerHTML = `<p class="error pad">Incident #${model.escape(id)} could not be loaded: ${model.escape(e.message)}</p>`;
  }
}

async function loadAudit(inc) {
  if (Array.isArray(inc.raw.audit)) return inc.raw.audit;
  try { return api.items(await api.get(api.paths.audit, { entity: "incident", entity_id: inc.id }), "entries"); }
  catch (e) { return []; }  // a viewer may not read the audit; the timeline then shows alarms and notes
}

async function loadAssignments(inc) {
  try { return api.items(await api.get(api.paths.assignments, { incident: inc.id }), "assignments"); }
  catch (e) { return []; }  // no unit tracking on this server: nothing was ordered through it
}

async function loadRecommendations(inc) {
  if (!model.OPEN_STATES.includes(inc.state) || !api.can("dispatcher")) return [];
  try { return api.items(await api.get(api.paths.recommendations(inc.id)), "picks", "recommendations"); }
  // 404: dispatch does not know this incident (yet); 503: unit tracking is not running here.
  catch (e) { return e.status === 404 || e.status === 503 ? [] : [{ error: e.message }]; }
}

function render() {
  const inc = current;
  const open = model.OPEN_STATES.includes(inc.state);
  const dev = state.devices.get(inc.deviceId);
  pane().innerHTML = `
    <div class="inc-head" data-incident-view="${inc.id}">
      <h2>#${inc.id} ${model.escape(model.label(inc.category))} <span class="tag">P${inc.priority}</span>
        <span class="tag" id="inc-state">${model.escape(model.label(inc.state))}</span></h2>
      <div><span class="agency" style="background:${model.agencyColour(inc.agency)}"></span>${model.escape(model.agencyName(inc.agency))}
        — ${model.escape(inc.stationName || "no station area")}</div>
      ${inc.prankSuspect ? `<div class="tag warn">device flagged for pranks — alarm still counts</div>` : ""}
    </div>
    <div class="inc-section"><h3>Clocks (promise ${model.duration(state.config.promise_s)})</h3><div class="clocks" id="inc-clocks"></div></div>
    ${open ? `<div class="inc-section"><h3>Actions</h3><div class="actions" id="inc-actions">${actions(inc)}</div></div>` : ""}
    ${assignments.length ? `<div class="inc-section"><h3>Units ordered</h3><table class="list" id="inc-assignments">${assignments.map((a) =>
      `<tr data-order="${model.escape(a.id)}"><td><b>${model.escape(state.units.get(a.unit)?.callsign || a.unit)}</b></td><td class="status-${model.escape(a.state)}">${model.escape(model.label(a.state))}</td>
       <td>${model.clockTime(a.ordered_at)} by ${model.escape(a.by)}</td><td class="muted">${model.escape(a.why || "")}</td></tr>`).join("")}</table></div>` : ""}
    ${open && api.can("dispatcher") ? `<div class="inc-section"><h3>Recommended units</h3><div id="inc-recos"></div></div>` : ""}
    <div class="inc-section"><h3>Location and device</h3><dl class="kv">
      <dt>Location</dt><dd>${inc.lat !== null ? `${inc.lat.toFixed(5)}, ${inc.lon.toFixed(5)}` : "unknown"}</dd>
      <dt>Confidence</dt><dd>${model.escape(inc.locSource)}${inc.locAcc !== null ? ` ±${inc.locAcc} m` : ""}${inc.locAge !== null ? `, fix ${model.duration(inc.locAge)} old` : ""}</dd>
      <dt>Site</dt><dd>${model.escape(inc.site || "—")}</dd>
      <dt>Device</dt><dd>${model.escape(inc.deviceId || "—")}${dev ? ` (${model.escape(model.deviceHealth(dev))})` : ""}</dd>
      <dt>Pranks</dt><dd id="inc-prank-count">${dev ? dev.prankCount : "—"}${dev?.prankFlagged ? " — flagged" : ""}</dd>
      <dt>Presses</dt><dd>${inc.presses} in ${inc.alarmCount} alarm(s)</dd>
      ${inc.closureReason ? `<dt>Closed</dt><dd>${model.escape(inc.closureReason)}</dd>` : ""}
    </dl></div>
    <div class="inc-section"><h3>Timeline</h3><ol class="timeline">${timeline(inc)}</ol>
      ${open && api.can("operator") ? `<form class="note-form" id="note-form"><input id="note-text" maxlength="2000" placeholder="Note (N)" aria-label="note"><button>Add note</button></form>` : ""}
    </div>`;
  renderClocks();
  renderRecommendations();
}

function actions(inc) {
  const b = [];
  if (api.can("operator") && inc.state === "new") b.push(`<button class="primary" data-act="acknowledge">Acknowledge <kbd>A</kbd></button>`);
  if (api.can("operator") && inc.state === "onscene") b.push(`<button class="primary" data-act="resolved">Resolve <kbd>R</kbd></button>`);
  if (api.can("operator")) {
    b.push(`<button data-act="false_alarm">False alarm <kbd>F</kbd></button>`);
    b.push(`<button data-act="prank" class="danger">Prank <kbd>P</kbd></button>`);
    b.push(`<button data-act="duplicate">Duplicate <kbd>X</kbd></button>`);
  }
  return b.join("");
}

function renderClocks() {
  const el = document.getElementById("inc-clocks");
  if (!el || !current) return;
  const inc = current, t = model.now();
  const span = (a, b) => (a ? (b || t) - a : null);
  const cell = (name, from, to) => {
    const s = span(from, to);
    const u = to ? "" : model.urgency(s ?? 0, state.config);
    return `<div>${name}<b class="clock ${u}">${from ? model.duration(s) : "—"}</b>${to ? model.clockTime(to) : (from ? "running" : "")}</div>`;
  };
  el.innerHTML = cell("to ack", inc.receivedAt, inc.acknowledgedAt) + cell("to dispatch", inc.receivedAt, inc.dispatchedAt) +
    cell("to scene", inc.receivedAt, inc.onsceneAt) + `<div>received<b>${model.clockTime(inc.receivedAt)}</b>pressed ${model.clockTime(inc.pressedAt)}</div>`;
}

function renderRecommendations() {
  const el = document.getElementById("inc-recos");
  if (!el || !current) return;
  if (!recommendations.length) {
    el.innerHTML = `<p class="muted">${state.unitsAvailable ? "No available unit of this agency with a fresh fix." : "Units are not tracked on this server."}</p>`;
    return;
  }
  el.innerHTML = recommendations.map((r, i) => {
    if (r.error) return `<p class="error">${model.escape(r.error)}</p>`;
    const id = typeof r.unit === "string" ? r.unit : (r.unit_id ?? r.id ?? r.unit?.id);
    const u = state.units.get(id);
    const name = r.callsign ?? r.unit?.callsign ?? u?.callsign ?? id;
    const eta = r.eta_s ?? r.eta ?? null;
    const dist = r.distance_m ?? r.distance ?? null;
    const why = Array.isArray(r.reasons) ? r.reasons.join("; ") : (r.reason || r.why || "");
    return `<div class="reco" data-unit="${model.escape(id)}">
      <span><b>${model.escape(name)}</b> ETA ${model.duration(eta)}${dist !== null ? ` · ${(dist / 1000).toFixed(1)} km` : ""}</span>
      <button class="${i === 0 ? "primary" : ""}" data-act="assign" data-unit="${model.escape(id)}">Assign${i === 0 ? " <kbd>D</kbd>" : ""}</button>
      <span class="why">${model.escape(why)}</span></div>`;
  }).join("");
}

function timeline(inc) {
  const rows = [];
  for (const a of inc.alarms) {
    const loc = a.location || {};
    rows.push([a.received_at ?? a.pressed_at, `alarm from ${model.escape(a.device_id ?? "")} — ${model.escape(a.trigger ?? "")}, ${a.presses ?? 1}× via ${model.escape(a.via ?? "mqtt")}` +
      `${loc.source ? `, location ${model.escape(loc.source)}${loc.acc_m != null ? " ±" + loc.acc_m + " m" : ""}` : ""}${a.prank_flagged ? " (prank-flagged device)" : ""}`]);
  }
  for (const e of inc.audit || []) {
    const from = e.from ?? e.from_value, to = e.to ?? e.to_value;
    const change = from || to ? ` ${model.escape(model.label(from || ""))} → ${model.escape(model.label(to || ""))}` : "";
    rows.push([e.at, `<b>${model.escape(e.actor)}</b> ${model.escape(model.label(e.action))}${change}${e.detail ? ` — ${model.escape(e.detail)}` : ""}`]);
  }
  for (const n of inc.notes) rows.push([n.created_at ?? n.at, `note by <b>${model.escape(n.author)}</b>: ${model.escape(n.text)}`]);
  rows.sort((a, b) => (a[0] || 0) - (b[0] || 0));
  return rows.map(([at, html]) => `<li><time>${model.clockTime(at)}</time><span>${html}</span></li>`).join("") || `<li class="muted">nothing yet</li>`;
}

async function onClick(e) {
  const btn = e.target.closest("button[data-act]");
  if (!btn || !current) return;
  if (btn.dataset.act === "assign") return assign(btn.dataset.unit);
  return transition(btn.dataset.act === "acknowledge" ? "acknowledged" : btn.dataset.act);
}

async function onSubmit(e) {
  if (e.target.id !== "note-form") return;
  e.preventDefault();
  const input = document.getElementById("note-text");
  const text = input.value.trim();
  if (!text) return;
  await act(() => api.post(api.paths.notes(current.id), { text }), "Note added");
  input.value = "";
}

const CLOSING = { false_alarm: "false alarm", prank: "prank", duplicate: "duplicate", resolved: "resolved", cancelled: "cancelled" };

export async function transition(to) {
  if (!current || !api.can("operator") || !model.OPEN_STATES.includes(current.state)) return;
  if (to === "resolved" && current.state !== "onscene") { toast("Resolve once a unit is on scene.", true); return; }
  const id = current.id;
  let reason = null;
  if (CLOSING[to]) {
    const prank = to === "prank" ? ` This counts against device ${current.deviceId || "?"}.` : "";
    reason = await confirmAction({ title: `Close #${id} as ${CLOSING[to]}?`, text: `The incident leaves the queue and the button shows "closed".${prank}`,
      reason: to === "resolved" ? "Handled on scene" : `Closed as ${CLOSING[to]} by the operator`, okLabel: `Close as ${CLOSING[to]}`, danger: to !== "resolved" });
    if (reason === null) return;
    if (!reason) { toast("A closing needs a reason.", true); return; }
  }
  await act(() => api.post(api.paths.transition(id), { to_state: to, reason }), `#${id} ${CLOSING[to] ? "closed as " + CLOSING[to] : model.label(to)}`);
}

export async function assign(unitId) {
  if (!current || !api.can("dispatcher")) return;
  const id = current.id;
  if (unitId === undefined) {
    const top = recommendations.find((r) => !r.error);
    if (!top) { toast("No unit to recommend.", true); return; }
    unitId = typeof top.unit === "string" ? top.unit : (top.unit_id ?? top.id ?? top.unit?.id);
  }
  const u = state.units.get(unitId);
  const ok = await confirmAction({ title: `Dispatch ${u?.callsign || unitId} to #${id}?`, text: "The order goes to the unit's tracker now.", okLabel: "Dispatch" });
  if (ok === null) return;
  await act(() => api.post(api.paths.assignments, { incident: id, unit: unitId }), `${u?.callsign || unitId} dispatched to #${id}`);
}

async function act(fn, done) {
  const buttons = pane().querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await fn();
    toast(done);
    await show(current.id);
  } catch (e) {
    toast(`Refused: ${e.message}`, true);
    buttons.forEach((b) => { b.disabled = false; });
  }
}

export const acknowledge = () => current && current.state === "new" && transition("acknowledged");
export const focusNote = () => { const el = document.getElementById("note-text"); if (el) el.focus(); };
