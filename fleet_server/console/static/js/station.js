// Forwarding to stations (docs/center.md): the forward section of the incident view, the forward tag
// of each queue row, the station view (a station's users accept, hand down, return or close the
// reports forwarded to them) and the accountability report. Every text goes through t().
import * as api from "./api.js";
import * as model from "./model.js";
import { on } from "./store.js";
import { confirmAction, toast } from "./alert.js";
import { renderQueue } from "./queue.js";
import { t, N_ } from "./i18n.js";

export const paths = {
  forward: (id) => `/api/v1/incidents/${id}/forward`,
  ofIncident: (id) => `/api/v1/incidents/${id}/forwards`,
  station: "/api/v1/forwards",
  current: "/api/v1/forwards/current",
  step: (id, step) => `/api/v1/forwards/${id}/${step}`,
  report: "/api/v1/center/accountability",
};
export const PAGES = ["station", "accountability"];
const esc = model.escape;
const current = new Map();   // incident id -> its latest forward (the queue's tag)

const STATE_TEXT = {
  pending: N_("waiting for {station}"), accepted: N_("accepted by {who} at {station}"), handed_down: N_("handed down by {station}"),
  returned: N_("returned by {station}"), closed: N_("closed by {station}"), escalated: N_("unaccepted at {station}"),
};

function describe(f) {
  if (f.state === "escalated" && f.outcome === "supervisor") return t("forward escalated to the supervisor");
  const vars = { station: f.station_name || f.station, who: f.accepted_by || "" };
  return STATE_TEXT[f.state] ? t(STATE_TEXT[f.state], vars) : String(vars.station);
}

export function forwardTag(id) {
  const f = current.get(id);
  if (!f) return "";
  const warn = f.state === "pending" || f.state === "escalated" || f.state === "returned";
  return `<span class="tag fwd${warn ? " warn" : ""}" data-forward-state="${esc(f.state)}">${esc(describe(f))}</span>`;
}

export async function initStation() {
  on("incident-event", ({ ev }) => {
    if (!ev?.forward || !String(ev.event || "").startsWith("forward")) return;
    const f = ev.forward;
    const known = current.get(f.incident);
    if (!known || known.forward <= f.forward) current.set(f.incident, f);
    if (ev.event === "forward_escalated" && f.outcome === "supervisor" && api.can("dispatcher"))
      toast(t("#{id}: nobody at {station} accepted the forward — it is the supervisor's now", { id: f.incident, station: f.station_name || f.station }), true);
    renderQueue();
    const page = document.body.dataset.page;
    if (page === "station") renderStation();
    if (page === "accountability") renderReport();
  });
  try {
    for (const f of await api.get(paths.current)) current.set(f.incident, f);
    renderQueue();
  } catch (e) { console.warn("forwards", e); }
}

// ---- the incident view ------------------------------------------------------------------------
export async function renderForwards(el, inc, reload) {
  if (!el) return;
  let r;
  try { r = await api.get(paths.ofIncident(inc.id)); }
  catch (e) { el.innerHTML = `<p class="error pad">${esc(t("Forwards could not be loaded: {why}", { why: e.message }))}</p>`; return; }
  if (!el.isConnected) return;
  const open = r.forwards.some((f) => f.state === "pending" || f.state === "accepted");
  const canForward = api.can("operator") && model.OPEN_STATES.includes(inc.state) && !open && r.chain.length;
  el.innerHTML = `<div class="inc-section" id="inc-forwards"><h3>${esc(t("Forwarding"))}
      <span class="muted">${esc(r.chain.map((s) => s.name).join(" → ") || t("no station area: the command center keeps it"))}</span></h3>
    <ol class="fwd-list">${r.forwards.map((f) => `<li data-forward="${f.forward}" data-forward-state="${esc(f.state)}">
      ${model.clockTime(f.sent_at)} ${esc(describe(f))} — ${esc(t("held {held} by {who}", { held: model.duration(f.held_s), who: f.holders.join(", ") || t("nobody on its roster") }))}
      ${f.reason ? `<span class="muted">: ${esc(f.reason)}</span>` : ""}</li>`).join("")}</ol>
    ${canForward ? `<button id="forward-button">${esc(t("Forward to {station}", { station: r.chain[0].name }))}</button>` : ""}</div>`;
  el.querySelector("#forward-button")?.addEventListener("click", async () => {
    try {
      const f = await api.post(paths.forward(inc.id), {});
      toast(t("#{id} forwarded to {station}", { id: inc.id, station: f.station_name }));
      await reload();
    } catch (e) { toast(t("Refused: {why}", { why: e.message }), true); }
  });
}

// ---- the station view -------------------------------------------------------------------------
export async function renderStation() {
  const root = document.getElementById("station-view");
  if (!root) return;
  const me = api.currentSession();
  try {
    const rows = await api.get(paths.station);
    root.innerHTML = `<h2>${esc(t("Reports forwarded to the station"))}
      ${api.can("dispatcher") ? `<a href="#/accountability" id="to-accountability" class="muted">${esc(t("Accountability report"))} <kbd>8</kbd></a>` : ""}</h2>
      <p class="muted">${esc(me.role === "station" ? t("Accept each report, then hand it down, return it or close it.")
        : t("Every station's open forwards; the center records a step a station gives by phone or radio."))}</p>
      <table class="list" id="station-list"><thead><tr><th>#</th><th>${esc(t("Station"))}</th><th>${esc(t("Report"))}</th>
        <th>${esc(t("Forwarded"))}</th><th>${esc(t("State"))}</th><th>${esc(t("Actions"))}</th></tr></thead>
      <tbody>${rows.map(stationRow).join("") || `<tr><td colspan="6" class="muted">${esc(t("No report waits for this station."))}</td></tr>`}</tbody></table>`;
    root.querySelectorAll("button[data-step]").forEach((b) => b.addEventListener("click", () => step(b)));
  } catch (e) { root.innerHTML = `<p class="error pad">${esc(t("Could not load: {why}", { why: e.message }))}</p>`; }
}

function stationRow(f) {
  const i = f.incident_summary || {};
  const due = f.due_at ? t("accept by {time}", { time: model.clockTime(f.due_at) }) : "";
  const b = (step, label, cls = "") => `<button data-step="${step}" data-forward="${f.forward}" class="${cls}">${esc(t(label))}</button>`;
  const acts = f.state === "pending" ? b("accept", N_("Accept"), "primary") + b("return", "Return")
    : b("hand-down", N_("Hand down")) + b("close", N_("Close: done")) + b("close-none", N_("Close: no action")) + b("return", "Return");
  return `<tr data-forward="${f.forward}" data-incident="${f.incident}" data-forward-state="${esc(f.state)}"><td>${f.incident}</td>
    <td>${esc(f.station_name || f.station)}</td>
    <td>${esc(t(model.label(i.category)))} P${esc(i.priority)}: ${esc(i.site || i.summary || i.station_name || "")}</td>
    <td>${model.clockTime(f.sent_at)} ${esc(t("by {who}", { who: model.actorName(f.sent_by) }))} <span class="muted">${esc(due)}</span></td>
    <td>${esc(describe(f))}</td><td class="actions">${acts}</td></tr>`;
}

async function step(btn) {
  const id = Number(btn.dataset.forward);
  let body = {}, path = btn.dataset.step;
  if (path === "return") {
    const reason = await confirmAction({ title: t("Return the report to the center?"), text: t("Say why the station does not take it."),
      reason: "", okLabel: t("Return") });
    if (reason === null) return;
    if (!reason) { toast(t("Returning needs a reason."), true); return; }
    body = { reason };
  } else if (path === "close" || path === "close-none") {
    body = { action_taken: path === "close" };
    path = "close";
  }
  btn.disabled = true;
  try {
    const f = await api.post(paths.step(id, path), body);
    toast(t("#{id}: {what}", { id: f.incident, what: describe(f) }));
    await renderStation();
  } catch (e) { btn.disabled = false; toast(t("Refused: {why}", { why: e.message }), true); }
}

// ---- the accountability report ----------------------------------------------------------------
export async function renderReport() {
  const root = document.getElementById("accountability-view");
  if (!root) return;
  const hours = Number(root.querySelector("#acc-hours")?.value || 24);
  const query = { since: model.now() - hours * 3600 };
  try {
    const r = await api.get(paths.report, query);
    const num = (v) => `<td class="num">${v === null || v === undefined ? "—" : esc(v)}</td>`;
    const dur = (v) => `<td class="num">${v === null || v === undefined ? "—" : esc(model.duration(v))}</td>`;
    const tally = (x) => num(x.received) + num(x.accepted) + dur(x.accept_p50_s) + dur(x.accept_max_s) + num(x.left_unaccepted)
      + num(x.pending) + num(x.closed_without_action);
    const head = [t("Received"), t("Accepted"), t("To accept p50"), t("To accept max"), t("Left unaccepted"), t("Pending"),
      t("Closed without action")].map((h) => `<th>${esc(h)}</th>`).join("");
    root.innerHTML = `<h2>${esc(t("Accountability: who held each report, for how long"))}</h2>
      <form id="acc-form" class="center-form no-print">
        <label>${esc(t("Last hours"))} <input id="acc-hours" type="number" min="1" max="2160" value="${hours}"></label>
        <button>${esc(t("Show"))}</button><button type="button" id="acc-csv">${esc(t("Download CSV"))}</button></form>
      <h3>${esc(t("Per station"))}</h3>
      <table class="list" id="acc-stations"><thead><tr><th>${esc(t("Station"))}</th>${head}</tr></thead>
      <tbody>${r.stations.map((s) => `<tr data-station="${esc(s.station)}"><th>${esc(s.station_name || s.station)}</th>${tally(s)}</tr>`).join("")}</tbody></table>
      <h3>${esc(t("Per person"))}</h3>
      <table class="list" id="acc-people"><thead><tr><th>${esc(t("User"))}</th>${head}<th>${esc(t("Held unaccepted"))}</th></tr></thead>
      <tbody>${r.people.map((p) => `<tr data-user="${esc(p.user)}"><th>${esc(p.user)}</th>${tally(p)}${dur(p.held_unaccepted_s)}</tr>`).join("")}</tbody></table>
      <h3>${esc(t("Every hold"))}</h3>
      <table class="list" id="acc-holds"><thead><tr><th>#</th><th>${esc(t("Station"))}</th><th>${esc(t("Held by"))}</th>
        <th>${esc(t("Sent"))}</th><th>${esc(t("Unaccepted for"))}</th><th>${esc(t("State"))}</th></tr></thead>
      <tbody>${r.holds.map((h) => `<tr data-forward="${h.forward}" data-incident="${h.incident}"><td>${h.incident}</td>
        <td>${esc(h.station_name || h.station)}</td><td class="acc-holders">${esc(h.holders.join(", ") || "—")}</td>
        <td>${model.clockTime(h.sent_at)}</td><td class="num acc-unaccepted">${esc(model.duration(h.unaccepted_s))}</td>
        <td>${esc(describe(h))}</td></tr>`).join("")}</tbody></table>`;
    root.querySelector("#acc-form").addEventListener("submit", (e) => { e.preventDefault(); renderReport(); });
    root.querySelector("#acc-csv").addEventListener("click", () => downloadCsv(query));
  } catch (e) { root.innerHTML = `<p class="error pad">${esc(t("Could not load: {why}", { why: e.message }))}</p>`; }
}

async function downloadCsv(query) {
  // A link cannot carry the bearer token: fetched here, then handed to the browser as a file.
  const res = await fetch(`${paths.report}?${new URLSearchParams({ ...query, format: "csv" })}`,
    { headers: { Authorization: `Bearer ${api.currentSession().token}` } });
  if (!res.ok) { toast(t("Refused: {why}", { why: (await api.refusal(res)).text }), true); return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await res.blob());
  a.download = "siaga112-accountability.csv";
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(a.href);
}
