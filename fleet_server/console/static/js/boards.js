// The units status board (per agency) and the device health list (for technicians).
import { state, on } from "./store.js";
import * as model from "./model.js";
import { t, N_ } from "./i18n.js";

export function initBoards() {
  on("units", renderUnits);
  on("devices", renderDevices);
  setInterval(() => { if (!document.getElementById("page-units").hidden) renderUnits(); }, 1000);
}

const UNIT_ORDER = ["available", "dispatched", "enroute", "onscene", "returning", "oos", "unknown"];

export function renderUnits() {
  const el = document.getElementById("units-board");
  if (!state.unitsAvailable) { el.innerHTML = `<p class="muted">${model.escape(t("This server does not track units yet."))}</p>`; return; }
  const now = model.now();
  const byAgency = {};
  for (const u of state.units.values()) (byAgency[u.agency] ||= []).push(u);
  const agencies = Object.keys(byAgency).sort();
  if (!agencies.length) { el.innerHTML = `<p class="muted">${model.escape(t("No units registered."))}</p>`; return; }
  el.innerHTML = `<div class="board">${agencies.map((a) => {
    const units = byAgency[a].sort((x, y) => UNIT_ORDER.indexOf(x.status) - UNIT_ORDER.indexOf(y.status) || String(x.callsign).localeCompare(String(y.callsign)));
    const counts = UNIT_ORDER.map((s) => [s, units.filter((u) => u.status === s).length]).filter(([, n]) => n);
    return `<section data-agency="${model.escape(a)}"><h2><span class="agency" data-style="background:${model.agencyColour(a)}"></span>${model.escape(model.agencyName(a))}
      <span class="muted">${counts.map(([s, n]) => `${n} ${model.label(s)}`).join(" · ")}</span></h2>
      <table class="list"><tr><th>${t("Unit")}</th><th>${t("Status")}</th><th>${t("Fix")}</th><th>${t("Incident")}</th></tr>
      ${units.map((u) => {
        const stale = model.unitIsStale(u, state.config.stale_fix_s, now);
        return `<tr data-unit="${model.escape(u.id)}"><td>${model.escape(u.callsign)} <span class="muted">${model.escape(model.label(u.type))}</span></td>
          <td class="status-${model.escape(u.status)}">${model.escape(model.label(u.status))}</td>
          <td class="${stale ? "stale" : ""}">${u.fixAt ? t("{d} ago", { d: model.duration(now - u.fixAt) }) : t("no fix")}${stale ? ` ${t("(stale)")}` : ""}</td>
          <td>${u.incidentId ? `#${model.escape(u.incidentId)} <span class="muted">${model.escape(model.label(u.orderState || ""))}</span>` : ""}</td></tr>`;
      }).join("")}</table></section>`;
  }).join("")}</div>`;
}

const HEALTH_ORDER = ["tamper", "offline", "prank-flagged", "stuck", "low battery", "unknown", "online"];

export function renderDevices() {
  const el = document.getElementById("devices-list");
  const now = model.now();
  const devices = [...state.devices.values()].sort((a, b) =>
    HEALTH_ORDER.indexOf(model.deviceHealth(a)) - HEALTH_ORDER.indexOf(model.deviceHealth(b)) || String(a.id).localeCompare(String(b.id)));
  const bad = devices.filter((d) => model.deviceHealth(d) !== "online").length;
  el.innerHTML = `<h2>${t("Devices")} <span class="muted">${model.escape(t("{n} registered, {bad} need attention", { n: devices.length, bad }))}</span></h2>
    <table class="list" id="devices-table"><tr>${[N_("Device"), N_("Kind"), N_("Site"), N_("Health"), N_("Battery"), N_("Signal"), N_("Firmware"), N_("Last seen"),
      N_("Outbox"), N_("Pranks")].map((h) => `<th>${model.escape(t(h))}</th>`).join("")}</tr>
    ${devices.map((d) => {
      const h = model.deviceHealth(d);
      return `<tr data-device="${model.escape(d.id)}" class="${h === "online" ? "" : "bad"}"><td class="mono">${model.escape(d.id)}</td><td>${model.escape(model.label(d.kind))}</td>
        <td>${model.escape(d.site)}</td><td class="status-${model.escape(d.status)}">${model.escape(model.label(h))}${d.tamper && h !== "tamper" ? `, ${model.escape(model.label("tamper"))}` : ""}</td>
        <td>${d.batteryPct !== null ? d.batteryPct + " %" : ""}${d.batteryMv !== null ? ` <span class="muted">${(d.batteryMv / 1000).toFixed(2)} V</span>` : ""}</td>
        <td>${d.rssi !== null ? d.rssi + " dBm" : ""}</td><td>${model.escape(d.firmware || "")}</td>
        <td>${d.lastSeen ? model.escape(t("{d} ago", { d: model.duration(now - d.lastSeen) })) : model.escape(t("never"))}</td><td>${d.outbox ?? ""}</td>
        <td class="prank-count">${d.prankCount}${d.prankFlagged ? " ⚑" : ""}</td></tr>`;
    }).join("")}</table>`;
}
