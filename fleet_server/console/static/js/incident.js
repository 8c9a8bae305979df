// The incident view: clocks, location with its confidence, device and site, recommended units with
// ETA and reasons, the timeline (alarms, audit entries, notes) and the actions the role allows.
import * as api from "./api.js";
import * as model from "./model.js";
import { state, on, fetchIncident, runCards, stationName } from "./store.js";
import { confirmAction, toast } from "./alert.js";
import { renderIncidentExtras } from "./center.js";
import { renderRunCard } from "./sop.js";
import { renderForwards } from "./station.js";
import { t, N_, currentLanguage } from "./i18n.js";

const esc = model.escape;

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
  if (id === null || id === undefined) { current = null; pane().innerHTML = `<p class="muted pad">${esc(t("Select an incident"))} (<kbd>J</kbd>/<kbd>K</kbd>).</p>`; return; }
  try {
    const inc = await fetchIncident(id);
    const [audit, recos, orders, cards] = await Promise.all([loadAudit(inc), loadRecommendations(inc), loadAssignments(inc), runCards()]);
    if (seq !== loadSeq) return;  // the dispatcher already moved on
    current = inc; current.audit = audit; current.cards = cards; recommendations = recos; assignments = orders;
    render();
  } catch (e) {
    if (seq === loadSeq) pane().innerHTML = `<p class="error pad">${esc(t("Incident #{id} could not be loaded: {why}", { id, why: e.message }))}</p>`;
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
      <div><span class="agency" data-style="background:${model.agencyColour(inc.agency)}"></span>${model.escape(model.agencyName(inc.agency))}
        — ${esc(inc.stationName || t("no station area"))}</div>
      ${inc.prankSuspect ? `<div class="tag warn">${esc(t("device flagged for pranks — alarm still counts"))}</div>` : ""}
    </div>
    <div id="inc-breach" class="breach-banner" role="alert" hidden></div>
    <div class="inc-section"><h3>${esc(t("Clocks (promise {promise})", { promise: model.duration(state.config.promise_s) }))}</h3><div class="clocks" id="inc-clocks"></div></div>
    ${open ? `<div class="inc-section"><h3>${esc(t("Actions"))}</h3><div class="actions" id="inc-actions">${actions(inc)}</div></div>` : ""}
    <div id="inc-center"></div>
    <div id="inc-sop"></div>
    <div id="inc-forward"></div>
    ${assignments.length ? `<div class="inc-section"><h3>${esc(t("Units ordered"))}</h3><table class="list" id="inc-assignments">${assignments.map((a) =>
      `<tr data-order="${model.escape(a.id)}"><td><b>${model.escape(state.units.get(a.unit)?.callsign || a.unit)}</b></td><td class="status-${model.escape(a.state)}">${model.escape(model.label(a.state))}</td>
       <td>${esc(t("{time} by {by}", { time: model.clockTime(a.ordered_at), by: a.by }))}</td><td class="muted">${model.escape(a.why || "")}</td></tr>`).join("")}</table></div>` : ""}
    ${open && api.can("dispatcher") ? `<div class="inc-section"><h3>${esc(primaryAction(inc.state) === "resolved" ? t("Send another unit") : t("Recommended units"))}</h3><div id="inc-recos"></div></div>` : ""}
    <div class="inc-section"><h3>${esc(t("Location and device"))}</h3><dl class="kv">
      <dt>${esc(t("Location"))}</dt><dd>${inc.lat !== null ? `${inc.lat.toFixed(5)}, ${inc.lon.toFixed(5)}` : esc(t("unknown"))}</dd>
      <dt>${esc(t("Confidence"))}</dt><dd>${esc(model.label(inc.locSource))}${inc.locAcc !== null ? ` ±${inc.locAcc} m` : ""}${inc.locAge !== null ? `, ${esc(t("fix {age} old", { age: model.duration(inc.locAge) }))}` : ""}</dd>
      <dt>${esc(t("Site"))}</dt><dd>${model.escape(inc.site || "—")}</dd>
      ${inc.summary ? `<dt>${esc(t("Summary"))}</dt><dd>${model.escape(inc.summary)}</dd>` : ""}
      <dt>${esc(t("Device"))}</dt><dd>${esc(inc.deviceId || "—")}${dev ? ` (${esc(model.label(model.deviceHealth(dev)))})` : ""}</dd>
      <dt>${esc(t("Pranks"))}</dt><dd id="inc-prank-count">${dev ? dev.prankCount : "—"}${dev?.prankFlagged ? ` — ${esc(t("flagged"))}` : ""}</dd>
      <dt>${esc(t("Presses"))}</dt><dd>${esc(inc.alarmCount === 1 ? t("{n} in 1 alarm", { n: inc.presses }) : t("{n} in {alarms} alarms", { n: inc.presses, alarms: inc.alarmCount }))}</dd>
      ${inc.closureReason ? `<dt>${esc(t("Closed"))}</dt><dd>${esc(inc.closureReason)}</dd>` : ""}
    </dl></div>
    <div class="inc-section"><h3>${esc(t("Timeline"))}</h3><ol class="timeline">${timeline(inc)}</ol>
      ${open && api.can("operator") ? `<form class="note-form" id="note-form"><input id="note-text" maxlength="2000" placeholder="${esc(t("Note (N)"))}" aria-label="${esc(t("note"))}"><button>${esc(t("Add note"))}</button></form>` : ""}
    </div>`;
  renderClocks();
  renderRecommendations();
  renderIncidentExtras(document.getElementById("inc-center"), inc, () => show(inc.id));
  renderRunCard(document.getElementById("inc-sop"), inc, () => show(inc.id));
  renderForwards(document.getElementById("inc-forward"), inc, () => show(inc.id));
}

// The one primary action follows the incident's state: acknowledge a new one, assign a unit to an
// acknowledged one (the top recommendation, see renderRecommendations), resolve once units are out —
// greyed until one is on scene, since the server resolves only from there.
export function primaryAction(state) {
  if (state === "new") return "acknowledge";
  if (state === "acknowledged") return "assign";
  if (["dispatched", "enroute", "onscene"].includes(state)) return "resolved";
  return null;
}

function actions(inc) {
  const b = [];
  const primary = primaryAction(inc.state);
  if (api.can("operator") && primary === "acknowledge") b.push(`<button class="primary" data-act="acknowledge">${esc(t("Acknowledge"))} <kbd>A</kbd></button>`);
  if (api.can("operator") && primary === "resolved") {
    const ready = inc.state === "onscene";
    b.push(`<button class="primary" data-act="resolved"${ready ? "" : ` disabled title="${esc(t("Resolve once a unit is on scene"))}"`}>${esc(t("Resolve"))} <kbd>R</kbd></button>`);
  }
  if (api.can("operator")) {
    b.push(`<button data-act="false_alarm">${esc(t("False alarm"))} <kbd>F</kbd></button>`);
    b.push(`<button data-act="prank" class="danger">${esc(t("Prank"))} <kbd>P</kbd></button>`);
    b.push(`<button data-act="duplicate">${esc(t("Duplicate"))} <kbd>X</kbd></button>`);
  }
  return b.join("");
}

function renderClocks() {
  const el = document.getElementById("inc-clocks");
  if (!el || !current) return;
  const inc = current, now = model.now();
  const span = (a, b) => (a ? (b || now) - a : null);
  const cell = (name, from, to) => {
    const s = span(from, to);
    const u = to ? "" : model.urgency(s ?? 0, state.config);
    return `<div>${esc(t(name))}<b class="clock ${u}">${from ? model.duration(s) : "—"}</b>${to ? model.clockTime(to) : (from ? esc(t("running")) : "")}</div>`;
  };
  const banner = document.getElementById("inc-breach");
  const breached = model.breachedNow(inc, now, state.config);
  banner.hidden = !breached;
  if (breached) banner.textContent = t("Promise breached: waiting {wait}, promised {promise}, no unit on scene",
    { wait: model.duration(model.waiting(inc, now)), promise: model.duration(state.config.promise_s) });
  el.innerHTML = cell(N_("to ack"), inc.receivedAt, inc.acknowledgedAt) + cell(N_("to dispatch"), inc.receivedAt, inc.dispatchedAt) +
    cell(N_("to scene"), inc.receivedAt, inc.onsceneAt) +
    `<div>${esc(t("received"))}<b>${model.clockTime(inc.receivedAt)}</b>${esc(t("pressed {time}", { time: model.clockTime(inc.pressedAt) }))}</div>`;
}

function renderRecommendations() {
  const el = document.getElementById("inc-recos");
  if (!el || !current) return;
  if (!recommendations.length) {
    el.innerHTML = `<p class="muted">${esc(state.unitsAvailable ? t("No available unit of this agency with a fresh fix.") : t("Units are not tracked on this server."))}</p>`;
    return;
  }
  el.innerHTML = recommendations.map((r, i) => {
    if (r.error) return `<p class="error">${model.escape(r.error)}</p>`;
    const id = typeof r.unit === "string" ? r.unit : (r.unit_id ?? r.id ?? r.unit?.id);
    const u = state.units.get(id);
    const name = r.callsign ?? r.unit?.callsign ?? u?.callsign ?? id;
    const eta = r.eta_s ?? r.eta ?? null;
    const dist = r.distance_m ?? r.distance ?? null;
    const why = currentLanguage() === "en" || r.fix_age_s === undefined
      ? (Array.isArray(r.reasons) ? r.reasons.join("; ") : (r.reason || r.why || "")) : reasons(r);
    return `<div class="reco" data-unit="${model.escape(id)}">
      <span><b>${model.escape(name)}</b> ${esc(t("ETA {eta}", { eta: model.duration(eta) }))}${dist !== null ? ` · ${(dist / 1000).toFixed(1)} km` : ""}</span>
      <button class="${i === 0 && primaryAction(current.state) === "assign" ? "primary" : ""}" data-act="assign" data-unit="${model.escape(id)}">${esc(t("Assign"))}${i === 0 ? " <kbd>D</kbd>" : ""}</button>
      <span class="why">${model.escape(why)}</span></div>`;
  }).join("");
}

// The server's reasons for a pick, said from its data in the user's language (the English
// sentences come from fleet_server/domain/recommend.py).
function reasons(r) {
  const out = [t("{km} km straight line, ETA {min} min at the {type} speed profile", { km: (r.distance_m / 1000).toFixed(2),
    min: (r.eta_s / 60).toFixed(1), type: model.label(r.type) }),
  t("available, fix {age} s old", { age: Math.round(r.fix_age_s) }) + (r.accuracy_m !== null && r.accuracy_m !== undefined
    ? `, ±${r.accuracy_m} m` : `, ${t("accuracy not reported")}`)];
  if (r.preferred_by_card) out.push(t("a {type}: a unit type the run card proposes", { type: model.label(r.type) }));
  return out.join("; ");
}

// What the server itself writes into an audit entry's detail (fleet_server/domain/service.py),
// said in the user's language; a person's words (a reason, a note) stay as they were written.
const WHO = { supervisor: N_("to the supervisor"), "center head": N_("to the center head") };
const SYSTEM_DETAILS = [
  [/^(\w+) -> (\w+), station (\S+), via (\w+)$/, (m) => t("{category} → {agency}, station {station}, via {via}",
    { category: model.label(m[1]), agency: model.agencyName(m[2]), station: stationName(m[3]) || m[3], via: m[4] })],
  [/^to the (supervisor|center head) \((\w+)\): unacknowledged for (\d+) s(?:; already at the top priority (\d+))?$/,
    (m) => t("{who} ({role}): unacknowledged for {s} s", { who: t(WHO[m[1]]), role: model.label(m[2]), s: m[3] }) +
      (m[4] ? "; " + t("already at the top priority {p}", { p: m[4] }) : "")],
  [/^no unit on scene (\d+) s after the report \(promise (\d+) s\)$/,
    (m) => t("no unit on scene {s} s after the report (promise {promise} s)", { s: m[1], promise: m[2] })],
];
// A forward's audit details (fleet_server/domain/forwards.py): why it was sent, and each step.
const SENT_WHY = [
  [/^forwarded by the center$/, () => t("forwarded by the center")],
  [/^forwarded on routing$/, () => t("forwarded on routing")],
  [/^handed down by (.+)$/, (m) => t("handed down by {station}", { station: m[1] })],
  [/^escalated from (.+)$/, (m) => t("escalated from {station}", { station: m[1] })],
];
const roster = (held) => (held === "nobody on its roster" ? t("nobody on its roster") : held);
const FORWARD_DETAILS = [
  [/^(.+?): forward (\d+) to (.+); held by (.+); to be accepted within ([\d.]+) s$/, (m) => {
    const why = SENT_WHY.find(([re]) => re.test(m[1]));
    return t("{why}: forward {id} to {station}; held by {held}; to be accepted within {s} s",
      { why: why ? why[1](why[0].exec(m[1])) : m[1], id: m[2], station: m[3], held: roster(m[4]), s: m[5] });
  }],
  [/^forward (\d+) accepted at (.+) after (\d+) s$/, (m) => t("forward {id} accepted at {station} after {s} s", { id: m[1], station: m[2], s: m[3] })],
  [/^forward (\d+) handed down by (.+)$/, (m) => t("forward {id} handed down by {station}", { id: m[1], station: m[2] })],
  [/^forward (\d+) returned by ([^:]+): ([\s\S]*)$/, (m) => t("forward {id} returned by {station}: {reason}", { id: m[1], station: m[2], reason: m[3] })],
  [/^forward (\d+) at (.+) closed: the incident was closed \((\w+)\) while the forward was (\w+)$/,
    (m) => t("forward {id} at {station} closed: the incident was closed ({state}) while the forward was {before}",
      { id: m[1], station: m[2], state: model.label(m[3]), before: model.label(m[4]) })],
  [/^forward (\d+) closed by ([^:]+): ([\s\S]*)$/, (m) => t("forward {id} closed by {station}: {reason}", { id: m[1], station: m[2], reason: m[3] })],
  [/^forward (\d+) closed by (.+)$/, (m) => t("forward {id} closed by {station}", { id: m[1], station: m[2] })],
  [/^forward (\d+) unaccepted at (.+) for (\d+) s \(limit ([\d.]+) s; held by (.+)\); to (.+?)(?: \((\w+)\))?$/,
    (m) => t("forward {id} unaccepted at {station} for {s} s (limit {limit} s; held by {held}); to {target}",
      { id: m[1], station: m[2], s: m[3], limit: m[4], held: roster(m[5]), target: m[6] === "the center's supervisor" ? t("the center's supervisor") : m[6] }) +
      (m[7] ? ` (${model.label(m[7])})` : "")],
];
const RECORDED_FOR = / \(recorded by the center for (.+)\)$/;

function forwardDetail(detail) {
  const rec = RECORDED_FOR.exec(detail);
  const body = rec ? detail.slice(0, rec.index) : detail;
  for (const [pattern, say] of FORWARD_DETAILS) {
    const m = pattern.exec(body);
    if (m) return say(m) + (rec ? ` (${t("recorded by the center for {station}", { station: rec[1] })})` : "");
  }
  return null;
}

// Said again in English too: a station is named, not given by its id.
function systemDetail(detail) {
  const forward = forwardDetail(detail);
  if (forward !== null) return forward;
  for (const [pattern, say] of SYSTEM_DETAILS) {
    const m = pattern.exec(detail);
    if (m) return say(m);
  }
  return detail;
}

// An audit value in words: a station by its name (forwards), a class "medical/dinkes/P1" by its
// category and agency, any other code by its label.
function auditValue(v) {
  if (v === null || v === undefined || v === "") return "";
  const s = String(v);
  const cls = /^(\w+)\/(\w+)\/P(\d)$/.exec(s);
  if (cls) return `${model.label(cls[1])}, ${model.agencyName(cls[2])}, P${cls[3]}`;
  return stationName(s) || model.label(s);
}

// [change, detail] of an audit entry: a ticked run card step by its text and its card's title; a
// reclassification's station by its name; the rest through auditValue() and systemDetail().
function auditChange(e, cards) {
  const from = e.from ?? e.from_value, to = e.to ?? e.to_value;
  if (e.action === "sop_step_ticked") {
    const card = cards?.get(e.detail);
    const step = card?.steps.find((s) => s.id === to);
    return [step ? `“${t(step.text)}”` : String(to ?? ""), card ? t("Run card: {title}", { title: t(card.title) }) : e.detail];
  }
  const change = from || to ? `${auditValue(from)} → ${auditValue(to)}` : "";
  if (e.action === "reclassified") {
    const m = /^([\s\S]*) \(station (\S+)\)$/.exec(e.detail || "");
    if (m) return [change, t("{reason} (station {station})", { reason: m[1], station: stationName(m[2]) || m[2] })];
  }
  return [change, e.detail ? systemDetail(e.detail) : ""];
}

function timeline(inc) {
  const rows = [];
  for (const a of inc.alarms) {
    const loc = a.location || {};
    rows.push([a.received_at ?? a.pressed_at, esc(t("alarm from {device} — {trigger}, {n}× via {via}", { device: a.device_id ?? "",
      trigger: model.label(a.trigger ?? ""), n: a.presses ?? 1, via: a.via ?? "mqtt" })) +
      `${loc.source ? `, ${esc(t("location {source}", { source: model.label(loc.source) }))}${loc.acc_m != null ? " ±" + loc.acc_m + " m" : ""}` : ""}` +
      `${a.prank_flagged ? ` (${esc(t("prank-flagged device"))})` : ""}`]);
  }
  for (const e of inc.audit || []) {
    const [change, detail] = auditChange(e, inc.cards);
    rows.push([e.at, `<b>${esc(model.actorName(e.actor))}</b> ${esc(model.label(e.action))}${change ? " " + esc(change) : ""}${detail ? ` — ${esc(detail)}` : ""}`]);
  }
  for (const n of inc.notes) rows.push([n.created_at ?? n.at, `${esc(t("note by {author}")).replace("{author}", `<b>${esc(n.author)}</b>`)}: ${esc(n.text)}`]);
  rows.sort((a, b) => (a[0] || 0) - (b[0] || 0));
  return rows.map(([at, html]) => `<li><time>${model.clockTime(at)}</time><span>${html}</span></li>`).join("") || `<li class="muted">${esc(t("nothing yet"))}</li>`;
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
  await act(() => api.post(api.paths.notes(current.id), { text }), t("Note added"));
  input.value = "";
}

const CLOSING = { false_alarm: N_("false alarm"), prank: N_("prank"), duplicate: N_("duplicate"), resolved: N_("resolved"), cancelled: N_("cancelled") };

export async function transition(to) {
  if (!current || !api.can("operator") || !model.OPEN_STATES.includes(current.state)) return;
  if (to === "resolved" && current.state !== "onscene") { toast(t("Resolve once a unit is on scene."), true); return; }
  const id = current.id;
  let reason = null;
  if (CLOSING[to]) {
    const as = t(CLOSING[to]);
    const prank = to === "prank" ? " " + t("This counts against device {device}.", { device: current.deviceId || "?" }) : "";
    reason = await confirmAction({ title: t("Close #{id} as {as}?", { id, as }), text: t("The incident leaves the queue and the button shows \"closed\".") + prank,
      reason: to === "resolved" ? t("Handled on scene") : t("Closed as {as} by the operator", { as }), okLabel: t("Close as {as}", { as }), danger: to !== "resolved" });
    if (reason === null) return;
    if (!reason) { toast(t("A closing needs a reason."), true); return; }
  }
  await act(() => api.post(api.paths.transition(id), { to_state: to, reason }), CLOSING[to] ? t("#{id} closed as {as}", { id, as: t(CLOSING[to]) }) : `#${id} ${model.label(to)}`);
}

export async function assign(unitId) {
  if (!current || !api.can("dispatcher")) return;
  const id = current.id;
  if (unitId === undefined) {
    const top = recommendations.find((r) => !r.error);
    if (!top) { toast(t("No unit to recommend."), true); return; }
    unitId = typeof top.unit === "string" ? top.unit : (top.unit_id ?? top.id ?? top.unit?.id);
  }
  const u = state.units.get(unitId);
  const ok = await confirmAction({ title: t("Dispatch {unit} to #{id}?", { unit: u?.callsign || unitId, id }), text: t("The order goes to the unit's tracker now."), okLabel: t("Dispatch") });
  if (ok === null) return;
  await act(() => api.post(api.paths.assignments, { incident: id, unit: unitId }), t("{unit} dispatched to #{id}", { unit: u?.callsign || unitId, id }));
}

async function act(fn, done) {
  const buttons = pane().querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await fn();
    toast(done);
    await show(current.id);
  } catch (e) {
    toast(t("Refused: {why}", { why: e.message }), true);
    buttons.forEach((b) => { b.disabled = false; });
  }
}

export const acknowledge = () => current && current.state === "new" && transition("acknowledged");
export const focusNote = () => { const el = document.getElementById("note-text"); if (el) el.focus(); };
