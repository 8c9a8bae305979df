// The 112 center's own work (docs/center.md): triage reclassification on the incident view, the
// caller's number and why it is flagged, the non-emergency desk (hand-off to another channel) and
// the monthly report for the national 112 program. Texts go through t() (i18n.js).
import * as api from "./api.js";
import * as model from "./model.js";
import { toast } from "./alert.js";
import { t, N_ } from "./i18n.js";

export const paths = {
  reclassify: (id) => `/api/v1/incidents/${id}/reclassify`,
  handOff: (id) => `/api/v1/incidents/${id}/hand-off`,
  caller: (id) => `/api/v1/incidents/${id}/caller`,
  channels: "/api/v1/center/handoff-channels",
  reports: "/api/v1/incidents/reports",
  monthly: "/api/v1/reports/monthly",
};
export const PAGES = ["desk", "monthly"];
const CATEGORIES = ["police", "fire", "medical", "sar", "disaster", "traffic", "unknown"];
const esc = model.escape;

// ---- incident view: reclassify and the caller ------------------------------------------------
// incident.js calls this after drawing an incident, with the element kept for us.
export function renderIncidentExtras(el, inc, reload) {
  if (!el) return;
  const open = model.OPEN_STATES.includes(inc.state);
  const caller = inc.raw.caller;
  el.innerHTML = `
    ${caller ? `<div class="inc-section"><h3>${esc(t("Caller"))}</h3><p id="inc-caller"><span class="mono">${esc(caller)}</span>
      <span id="inc-caller-flag"></span></p></div>` : ""}
    ${open && api.can("operator") ? `<div class="inc-section"><h3>${esc(t("Triage: reclassify"))}</h3>
      <form id="reclassify-form" class="center-form">
        <label>${esc(t("Category"))} <select id="reclass-category">${CATEGORIES.map((c) =>
          `<option value="${c}"${c === inc.category ? " selected" : ""}>${esc(t(model.label(c)))}</option>`).join("")}</select></label>
        <label>${esc(t("Agency"))} <select id="reclass-agency"><option value="">${esc(t("the category's"))}</option>${Object.entries(model.AGENCY_NAMES).map(([code, name]) =>
          `<option value="${code}">${esc(t(name))}</option>`).join("")}</select></label>
        <label>${esc(t("Priority"))} <select id="reclass-priority">${[1, 2, 3, 4].map((p) =>
          `<option value="${p}"${p === inc.priority ? " selected" : ""}>P${p}</option>`).join("")}</select></label>
        <label class="wide">${esc(t("Reason"))} <input id="reclass-reason" maxlength="500" required placeholder="${esc(t("what the caller said, what was seen"))}"></label>
        <button id="reclass-submit">${esc(t("Reclassify"))} <kbd>C</kbd></button>
      </form></div>` : ""}`;
  const form = el.querySelector("#reclassify-form");
  if (form) form.addEventListener("submit", (e) => { e.preventDefault(); reclassify(inc, reload); });
  if (caller && api.can("operator")) showCallerFlag(inc.id, () => document.getElementById("inc-caller-flag"));
}

async function reclassify(inc, reload) {
  const reason = document.getElementById("reclass-reason").value.trim();
  if (!reason) { toast(t("Reclassifying needs a reason."), true); return; }
  const body = { category: document.getElementById("reclass-category").value,
    agency: document.getElementById("reclass-agency").value || null,
    priority: Number(document.getElementById("reclass-priority").value), reason };
  try {
    const v = await api.post(paths.reclassify(inc.id), body);
    toast(t("#{id} reclassified: {agency}, {station}", { id: inc.id, agency: model.agencyName(v.agency), station: v.station?.name || v.station?.id }));
    await reload();
  } catch (e) { toast(t("Refused: {why}", { why: e.message }), true); }
}

async function showCallerFlag(id, where) {
  try {
    const r = await api.get(paths.caller(id));
    const el = where();
    if (!el || !r.flag) return;
    el.className = r.flag.flagged ? "tag warn" : "muted";
    el.textContent = r.flag.flagged
      ? t("number flagged: {n} pranks/false alarms, last {at} — report still counts", { n: r.flag.count, at: model.clockTime(r.flag.last_prank_at) })
      : r.flag.count === 1 ? t("1 earlier prank from this number")
      : r.flag.count ? t("{n} earlier pranks from this number", { n: r.flag.count }) : t("no pranks from this number");
  } catch (e) { console.warn("caller flag", e); }
}

export const focusReclassify = () => { const el = document.getElementById("reclass-category"); if (el) el.focus(); };

// ---- the non-emergency desk ------------------------------------------------------------------
let channels = null;

export async function renderDesk() {
  const root = document.getElementById("desk-view");
  if (!root) return;
  try {
    channels ||= await api.get(paths.channels);
    const rows = api.items(await api.get(api.paths.incidents, { type: "report", open: true, limit: 500 }));
    const typed = keepTyped(root);   // the operator may have typed while the list was on its way
    root.innerHTML = `<h2>${esc(t("Non-emergency reports"))}</h2>
      <p class="muted">${esc(t("Kept apart from the emergency queue; each is handed to the channel that deals with it."))}</p>
      ${api.can("operator") ? `<form id="desk-new" class="center-form">
        <label>${esc(t("Category"))} <select id="desk-category">${CATEGORIES.map((c) => `<option value="${c}"${c === "unknown" ? " selected" : ""}>${esc(t(model.label(c)))}</option>`).join("")}</select></label>
        <label>${esc(t("Caller number"))} <input id="desk-number" maxlength="24" inputmode="tel"></label>
        <label class="wide">${esc(t("What was reported"))} <input id="desk-summary" maxlength="2000" required></label>
        <button>${esc(t("Record report"))}</button></form>` : ""}
      <table class="list" id="desk-list"><thead><tr><th>#</th><th>${esc(t("Received"))}</th><th>${esc(t("Report"))}</th><th>${esc(t("Caller"))}</th><th>${esc(t("Hand off"))}</th></tr></thead>
      <tbody>${rows.map(deskRow).join("") || `<tr><td colspan="5" class="muted">${esc(t("No open non-emergency report."))}</td></tr>`}</tbody></table>`;
    restoreTyped(root, typed);
    root.querySelector("#desk-new")?.addEventListener("submit", recordReport);
    root.querySelectorAll("form[data-hand-off]").forEach((f) => f.addEventListener("submit", handOff));
    if (api.can("operator")) for (const r of rows.filter((x) => x.caller)) showCallerFlag(r.id, () => root.querySelector(`[data-caller-flag="${r.id}"]`));
  } catch (e) { root.innerHTML = `<p class="error pad">${esc(t("Could not load: {why}", { why: e.message }))}</p>`; }
}

// What the operator has typed or chosen in the desk's forms, and where the cursor is, so that a
// redraw puts it back: a field is known by its form (the new report, or a report's hand-off) and name.
function fieldKey(el) {
  const form = el.closest("form");
  return `${form?.dataset.handOff || form?.id || ""}/${el.name || el.id}`;
}

function keepTyped(root) {
  const kept = new Map();
  root.querySelectorAll("form input, form select").forEach((el) => {
    const drawn = el.tagName === "INPUT" ? el.defaultValue : (el.querySelector("option[selected]") || el.options[0])?.value;
    if (el.value !== drawn) kept.set(fieldKey(el), { value: el.value, focused: false });
  });
  const a = document.activeElement;
  if (a && root.contains(a) && ["INPUT", "SELECT"].includes(a.tagName)) {
    kept.set(fieldKey(a), { value: a.value, focused: true, at: a.tagName === "INPUT" ? a.selectionStart : null });
  }
  return kept;
}

function restoreTyped(root, kept) {
  if (!kept.size) return;
  root.querySelectorAll("form input, form select").forEach((el) => {
    const k = kept.get(fieldKey(el));
    if (!k) return;
    el.value = k.value;
    if (k.focused) {
      el.focus();
      if (k.at != null) el.setSelectionRange(k.at, k.at);
    }
  });
}

// A report arrived or changed (live feed): redraw, but never under the operator's typing — then
// once they leave the field.
let deferred = false;
export function refreshDesk() {
  const root = document.getElementById("desk-view");
  const typing = root && root.contains(document.activeElement) && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
  if (!typing) { renderDesk(); return; }
  if (deferred) return;
  deferred = true;
  root.dataset.deferred = "1";   // observable: a redraw is waiting for the operator
  root.addEventListener("focusout", () => { deferred = false; delete root.dataset.deferred; setTimeout(refreshDesk, 0); }, { once: true });
}

function deskRow(r) {
  const opts = channels.map((c) => `<option value="${esc(c.code)}">${esc(t(c.name))}</option>`).join("");
  return `<tr data-report="${r.id}"><td>${r.id}</td><td>${model.clockTime(r.clocks?.received_at)}</td>
    <td>${esc(t(model.label(r.category)))}: ${esc(r.summary || "")}</td><td><span class="mono">${esc(r.caller || r.reporter || "—")}</span> <span data-caller-flag="${r.id}"></span></td>
    <td>${api.can("operator") ? `<form data-hand-off="${r.id}" class="center-form inline">
      <select aria-label="${esc(t("channel"))}" name="channel">${opts}</select>
      <input name="reference" maxlength="40" placeholder="${esc(t("their reference (optional)"))}" aria-label="${esc(t("reference"))}">
      <button>${esc(t("Hand off"))}</button></form>` : ""}</td></tr>`;
}

async function recordReport(e) {
  e.preventDefault();
  const body = { category: document.getElementById("desk-category").value,
    summary: document.getElementById("desk-summary").value.trim(),
    caller_number: document.getElementById("desk-number").value.trim() || null };
  try {
    const r = await api.post(paths.reports, body);
    toast(t("Report #{id} recorded", { id: r.id }));
    e.target.reset();                 // recorded: the redraw brings back an empty form
    document.activeElement?.blur();
    await renderDesk();
  } catch (ex) { toast(t("Refused: {why}", { why: ex.message }), true); }
}

async function handOff(e) {
  e.preventDefault();
  const f = e.target, id = Number(f.dataset.handOff);
  try {
    const r = await api.post(paths.handOff(id), { channel: f.channel.value, reference: f.reference.value.trim() || null });
    toast(t("#{id} handed off to {channel}, reference {ref}", { id, channel: r.channel_name, ref: r.reference }));
    await renderDesk();
  } catch (ex) { toast(t("Refused: {why}", { why: ex.message }), true); }
}

// ---- the monthly report (printable: center.css hides everything else on paper) --------------
const CHANNEL_NAMES = { button: N_("SOS button"), phone: N_("phone call"), sms: N_("SMS"), aml: N_("AML location"), other: N_("other") };

function thisMonth() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

export async function renderMonthly() {
  const root = document.getElementById("monthly-view");
  if (!root) return;
  const month = root.querySelector("#monthly-month")?.value || thisMonth();
  try {
    const r = await api.get(paths.monthly, { month });
    const blocks = [...r.regencies, r.total];
    const cols = (b) => [b.reports, b.emergencies, b.non_emergencies,
      ...Object.keys(r.total.by_category).map((c) => b.by_category[c]), ...Object.keys(r.total.by_channel).map((c) => b.by_channel[c]),
      b.response.n, model.duration(b.response.p50), model.duration(b.response.p90), model.duration(b.response.p95),
      b.response.within_promise_share === null ? "—" : `${Math.round(b.response.within_promise_share * 100)} %`,
      b.pranks, b.false_alarms, b.handed_off];
    const head = [t("Reports"), t("Emergencies"), t("Non-emergencies"),
      ...Object.keys(r.total.by_category).map((c) => t(model.label(c))), ...Object.keys(r.total.by_channel).map((c) => t(CHANNEL_NAMES[c] || c)),
      t("Responses"), "p50", "p90", "p95", t("Within {promise}", { promise: model.duration(r.promise_s) }),
      t("Pranks"), t("False alarms"), t("Handed off")];
    root.innerHTML = `<h2>${esc(t("Monthly report for the national 112 program"))} — ${esc(r.month)}</h2>
      <form id="monthly-form" class="center-form no-print">
        <label>${esc(t("Month"))} <input id="monthly-month" type="month" value="${esc(r.month)}"></label>
        <button>${esc(t("Show"))}</button>
        <button type="button" id="monthly-csv">${esc(t("Download CSV"))}</button>
        <button type="button" id="monthly-print">${esc(t("Print"))}</button></form>
      <p class="muted">${esc(t("Local month (UTC+{h}); response is received to first unit on scene, against the {promise} promise.", { h: r.utc_offset_h, promise: model.duration(r.promise_s) }))}</p>
      <table class="monthly list" id="monthly-table"><thead><tr><th>${esc(t("Regency"))}</th>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>
      <tbody>${blocks.map((b) => `<tr data-regency="${esc(b.regency)}"><th>${esc(b.regency === "total" ? t("Total") : b.regency)}</th>${cols(b).map((v) => `<td class="num">${esc(v)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
    root.querySelector("#monthly-form").addEventListener("submit", (e) => { e.preventDefault(); renderMonthly(); });
    root.querySelector("#monthly-print").addEventListener("click", () => window.print());
    root.querySelector("#monthly-csv").addEventListener("click", () => downloadCsv(r.month));
  } catch (e) { root.innerHTML = `<p class="error pad">${esc(t("Could not load: {why}", { why: e.message }))}</p>`; }
}

async function downloadCsv(month) {
  // A link cannot carry the bearer token: fetched here, then handed to the browser as a file.
  const s = api.currentSession();
  const res = await fetch(`${paths.monthly}?month=${encodeURIComponent(month)}&format=csv`, { headers: { Authorization: `Bearer ${s.token}` } });
  if (!res.ok) { toast(t("Refused: {why}", { why: (await api.refusal(res)).text }), true); return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await res.blob());
  a.download = `siaga112-${month}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(a.href);
}
