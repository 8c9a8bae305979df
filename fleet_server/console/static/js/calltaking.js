// Taking a call (docs/console.md, "Taking a call"): a form the call-taker fills while still on the
// phone, keyboard first. T opens it over the incident pane; Tab walks number → name → location →
// category → text → submit; Enter submits from any field (Shift+Enter: a new line in the text);
// Esc closes it. The caller's history (earlier reports from the number, phone, SMS and AML alike,
// with their outcomes, and why the number is flagged) shows as soon as the number is typed.
// Location: a known site typed into the location field (the list filters as you type; ↓/↑ choose,
// Tab or Enter take it), a click on the map, or the caller's last AML fix ("AML" in the list).
// Every text goes through t() (i18n.js).
import * as api from "./api.js";
import * as model from "./model.js";
import { toast } from "./alert.js";
import { t } from "./i18n.js";

export const paths = { calls: "/api/v1/calls", history: "/api/v1/callers/history", sites: "/api/v1/sites" };
const CATEGORIES = ["unknown", "police", "fire", "medical", "sar", "disaster", "traffic"];
const HISTORY_DELAY_MS = 350;   // debounce: the lookup waits until the typing pauses
const MIN_DIGITS = 9;           // shorter is not yet a whole number: no lookup
const LIST_MAX = 8;
const esc = model.escape;

let map = null, onSelect = null, panel = null, marker = null;
let sites = null;               // the city's known sites, fetched on first open
let lastFix = null;             // the typed number's last AML fix, from its history
let place = null;            // {by: "site"|"map"|"aml", lat, lon, site, label}
let matches = [], highlighted = -1;
let historyTimer = null, historySeq = 0;

export function initCallTaking({ map: leaflet, select }) {
  map = leaflet;
  onSelect = select;
  if (map) map.on("click", (e) => { if (isOpen()) placeOnMap(e.latlng.lat, e.latlng.lng); });
}

export const isOpen = () => !!panel && !panel.hidden;

export function open() {
  if (!api.can("operator")) { toast(t("Taking a call needs role operator or above."), true); return; }
  if (document.body.dataset.page !== "queue") window.location.hash = "#/queue";
  if (!panel) build();
  panel.hidden = false;
  document.body.dataset.calltake = "open";
  if (!sites) loadSites();
  panel.querySelector("#ct-number").focus();
}

export function close() {
  if (!panel) return;
  panel.hidden = true;
  delete document.body.dataset.calltake;
  clearMarker();
  if (panel.contains(document.activeElement)) document.activeElement.blur();
}

function build() {
  panel = document.createElement("section");
  panel.id = "calltake";
  panel.setAttribute("aria-label", t("Take a call"));
  panel.hidden = true;
  panel.innerHTML = `
    <form id="ct-form" autocomplete="off" novalidate>
      <header><h2>${esc(t("Take a call"))}</h2><button type="button" class="ghost" id="ct-close" tabindex="-1" title="${esc(t("Close (Esc)"))}">×</button></header>
      <label>${esc(t("Caller number"))} <input id="ct-number" inputmode="tel" maxlength="24" placeholder="0812…"></label>
      <div id="ct-history" aria-live="polite"></div>
      <label>${esc(t("Caller name"))} <input id="ct-name" maxlength="120"></label>
      <label>${esc(t("Location"))} <input id="ct-location" role="combobox" aria-expanded="false" aria-controls="ct-sites"
        aria-autocomplete="list" maxlength="120" placeholder="${esc(t("known site, AML, or click the map"))}"></label>
      <ul id="ct-sites" role="listbox" hidden></ul>
      <p id="ct-where" class="muted">${esc(t("No location yet."))}</p>
      <label>${esc(t("Category"))} <select id="ct-category">${CATEGORIES.map((c) =>
        `<option value="${c}">${esc(c === "unknown" ? t("unknown (triage)") : t(model.label(c)))}</option>`).join("")}</select></label>
      <label>${esc(t("What the caller says"))} <textarea id="ct-text" rows="3" maxlength="2000"></textarea></label>
      <div class="ct-actions">
        <button class="primary" id="ct-submit">${esc(t("Record call"))} <kbd>Enter</kbd></button>
        <label class="ct-kind"><input type="checkbox" id="ct-nonemergency"> ${esc(t("Non-emergency (to the desk)"))}</label>
      </div>
    </form>`;
  document.body.append(panel);
  const f = panel.querySelector("#ct-form");
  f.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  f.addEventListener("keydown", onKey);
  panel.querySelector("#ct-close").addEventListener("click", close);
  panel.querySelector("#ct-number").addEventListener("input", numberChanged);
  const loc = panel.querySelector("#ct-location");
  loc.addEventListener("input", () => { place = null; showWhere(); suggest(loc.value); });
  loc.addEventListener("blur", () => setTimeout(() => hideList(), 150));
  panel.querySelector("#ct-sites").addEventListener("mousedown", (e) => {
    const li = e.target.closest("li[data-index]");
    if (li) { e.preventDefault(); pick(Number(li.dataset.index)); }
  });
}

function onKey(e) {
  const id = e.target.id;
  if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); return; }
  if (id === "ct-location" && !listHidden()) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      highlight(Math.max(0, Math.min(matches.length - 1, highlighted + (e.key === "ArrowDown" ? 1 : -1))));
      return;
    }
    if ((e.key === "Enter" || e.key === "Tab") && highlighted >= 0) {
      if (e.key === "Enter") e.preventDefault();   // Enter takes the site; Tab takes it and moves on
      pick(highlighted);
      return;
    }
  }
  if (e.key === "Enter" && !e.shiftKey && (id === "ct-text" || e.target.tagName === "SELECT" || e.target.type === "checkbox")) {
    e.preventDefault();
    panel.querySelector("#ct-form").requestSubmit();
  }
}

// ---- the caller's history --------------------------------------------------------------------
const digits = (s) => (s || "").replace(/\D/g, "");

function numberChanged() {
  clearTimeout(historyTimer);
  const raw = panel.querySelector("#ct-number").value;
  if (digits(raw).length < MIN_DIGITS) { renderHistory(null); return; }
  historyTimer = setTimeout(() => lookUp(raw), HISTORY_DELAY_MS);
}

async function lookUp(raw) {
  const seq = ++historySeq;
  const box = panel.querySelector("#ct-history");
  box.dataset.state = "loading";
  try {
    const h = await api.post(paths.history, { number: raw });
    if (seq === historySeq) renderHistory(h);
  } catch (e) {
    if (seq !== historySeq) return;
    box.dataset.state = "error";
    box.innerHTML = `<p class="error">${esc(t("Caller history unavailable: {why}", { why: e.message }))}</p>`;
  }
}

const CHANNELS = { phone: "phone", sms: "SMS", aml: "AML location", button: "SOS button" };

function renderHistory(h) {
  const box = panel.querySelector("#ct-history");
  lastFix = h ? h.last_fix : null;
  if (place?.by === "aml" && !lastFix) { place = null; showWhere(); }
  if (!h) { box.innerHTML = ""; box.dataset.state = "empty"; delete box.dataset.number; return; }
  box.dataset.state = "shown";
  box.dataset.number = h.number || "";
  const f = h.flag;
  const flag = f.flagged
    ? `<p class="tag warn" id="ct-flag" data-flagged="true">${esc(t("Number flagged: {n} pranks/false alarms (threshold {k}) — the report still counts, marked.", { n: f.count, k: f.threshold }))}
        <br>${f.why.map((w) => esc(t("#{id} closed as {kind} at {at}", { id: w.incident, kind: t(model.label(w.kind)), at: model.clockTime(w.at) }))).join("; ")}</p>`
    : `<p class="muted" id="ct-flag" data-flagged="false">${esc(f.count ? t("{n} earlier prank(s) from this number", { n: f.count }) : t("no pranks from this number"))}</p>`;
  const rows = h.reports.map((r) => `<li data-history="${r.id}" data-channel="${esc(r.channel || "")}"><span class="mono">#${r.id}</span>
      ${esc(model.clockTime(r.received_at))} · ${esc(t(CHANNELS[r.channel] || r.channel || "—"))} · ${esc(t(model.label(r.category)))}
      · <strong class="ct-outcome">${esc(t(model.label(r.outcome)))}</strong>${r.outcome === "handed_off" && r.closure_reason ? ` <span class="muted">(${esc(r.closure_reason)})</span>` : ""}${r.prank ? ` <span class="tag warn">${esc(t("prank"))}</span>` : ""}
      ${r.station?.name ? ` · ${esc(r.station.name)}` : ""}<br><span class="muted">${esc(r.summary)}</span></li>`).join("");
  const fix = lastFix ? `<p id="ct-lastfix">${esc(t("Last AML fix: ±{acc} m at {at} (type “AML” in the location)", { acc: lastFix.acc_m ?? "?", at: model.clockTime(lastFix.at) }))}</p>` : "";
  box.innerHTML = `<h3>${esc(t("Caller history"))} <span class="muted">${esc(t("{n} earlier report(s)", { n: h.reports.length }))}</span></h3>
    ${flag}${fix}${rows ? `<ol class="ct-history-list">${rows}</ol>` : `<p class="muted">${esc(t("No earlier report from this number."))}</p>`}`;
}

// ---- location --------------------------------------------------------------------------------
async function loadSites() {
  try { sites = await api.get(paths.sites); } catch (e) { sites = []; toast(t("Known sites unavailable: {why}", { why: e.message }), true); }
  // A call-taker may have typed a place before the list arrived: offer its matches now.
  const loc = panel && panel.querySelector("#ct-location");
  if (loc && loc.value.trim() && document.activeElement === loc) suggest(loc.value);
}

const fold = (s) => (s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

function suggest(query) {
  const q = fold(query.trim());
  matches = [];
  if (q) {
    if (lastFix && (fold(t("AML")).startsWith(q) || "aml".startsWith(q))) matches.push({ aml: true, name: t("Caller's last AML fix"), kind: "AML" });
    const starts = [], within = [];
    for (const s of sites || []) {
      const name = fold(s.name);
      if (name.startsWith(q)) starts.push(s); else if (name.includes(q)) within.push(s);
    }
    matches.push(...starts, ...within);
    matches = matches.slice(0, LIST_MAX);
  }
  const list = panel.querySelector("#ct-sites");
  list.innerHTML = matches.map((s, i) => `<li role="option" data-index="${i}" id="ct-site-${i}">${esc(s.name)}
      <span class="muted">${esc(t(s.aml ? "AML" : s.kind))}</span></li>`).join("");
  list.hidden = !matches.length;
  panel.querySelector("#ct-location").setAttribute("aria-expanded", String(!list.hidden));
  highlight(matches.length ? 0 : -1);
}

function highlight(i) {
  highlighted = i;
  panel.querySelectorAll("#ct-sites li").forEach((li) => li.setAttribute("aria-selected", String(Number(li.dataset.index) === i)));
  const loc = panel.querySelector("#ct-location");
  if (i >= 0) loc.setAttribute("aria-activedescendant", `ct-site-${i}`); else loc.removeAttribute("aria-activedescendant");
}

const listHidden = () => panel.querySelector("#ct-sites").hidden;
function hideList() { if (!panel) return; panel.querySelector("#ct-sites").hidden = true; panel.querySelector("#ct-location").setAttribute("aria-expanded", "false"); }

function pick(i) {
  const s = matches[i];
  if (!s) return;
  const loc = panel.querySelector("#ct-location");
  if (s.aml) {
    place = { by: "aml", lat: lastFix.lat_udeg, lon: lastFix.lon_udeg, site: null,
      label: t("caller's last AML fix (±{acc} m, {at})", { acc: lastFix.acc_m ?? "?", at: model.clockTime(lastFix.at) }) };
    loc.value = t("Caller's last AML fix");
  } else {
    place = { by: "site", lat: s.lat_udeg, lon: s.lon_udeg, site: s.name, label: s.name };
    loc.value = s.name;
  }
  hideList();
  showWhere();
}

function placeOnMap(lat, lon) {
  place = { by: "map", lat: Math.round(lat * 1e6), lon: Math.round(lon * 1e6), site: null,
    label: t("map point {lat}, {lon}", { lat: lat.toFixed(5), lon: lon.toFixed(5) }) };
  panel.querySelector("#ct-location").value = place.label;
  hideList();
  showWhere();
}

function showWhere() {
  const where = panel.querySelector("#ct-where");
  where.dataset.by = place ? place.by : "none";
  where.textContent = place ? t("Located: {where}", { where: place.label }) : t("No location yet.");
  clearMarker();
  if (place && map) {
    marker = window.L.circleMarker([place.lat / 1e6, place.lon / 1e6], { radius: 9, color: "#4ea3ff", weight: 3, fillOpacity: 0.3 }).addTo(map);
  }
}

function clearMarker() { if (marker) { marker.remove(); marker = null; } }

// ---- submit ----------------------------------------------------------------------------------
let sending = false;

async function submit() {
  if (sending) return;
  const text = panel.querySelector("#ct-text").value.trim();
  if (!text) { toast(t("Write what the caller says."), true); panel.querySelector("#ct-text").focus(); return; }
  const nonEmergency = panel.querySelector("#ct-nonemergency").checked;
  const body = {
    kind: nonEmergency ? "report" : "emergency",
    category: panel.querySelector("#ct-category").value, text,
    caller_number: panel.querySelector("#ct-number").value.trim() || null,
    caller_name: panel.querySelector("#ct-name").value.trim() || null,
    located_by: place ? place.by : "none",
    lat_udeg: place ? place.lat : null, lon_udeg: place ? place.lon : null,
    // A place the list does not know is kept as the caller told it (no coordinates: the command
    // center routes it).
    site: place ? place.site : (panel.querySelector("#ct-location").value.trim() || null),
  };
  sending = true;
  panel.querySelector("#ct-submit").disabled = true;
  try {
    const r = await api.post(paths.calls, body);
    const station = r.station?.name || r.station?.id || "—";
    toast(r.type === "report"
      ? t("Non-emergency #{id} recorded for the desk", { id: r.id })
      : t("Call #{id} recorded: {agency}, {station}", { id: r.id, agency: model.agencyName(r.agency), station }));
    panel.dataset.lastCall = String(r.id);
    reset();
    close();
    if (r.type !== "report" && onSelect) onSelect(r.id);
  } catch (e) {
    toast(t("Refused: {why}", { why: e.message }), true);
  } finally {
    sending = false;
    panel.querySelector("#ct-submit").disabled = false;
  }
}

function reset() {
  panel.querySelector("#ct-form").reset();
  place = null; lastFix = null; matches = []; highlighted = -1;
  renderHistory(null);
  hideList();
  showWhere();
}
