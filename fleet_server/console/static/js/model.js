// Normalises the server's records into what the views draw, and formats clocks. Coordinates on the
// wire and in the store are integer microdegrees; the map wants degrees.
import { t, N_, currentLanguage } from "./i18n.js";

export const OPEN_STATES = ["new", "acknowledged", "dispatched", "enroute", "onscene"];
export const CLOSURES = ["false_alarm", "prank", "duplicate", "cancelled"];
// Dispatch orders that tie a unit to its incident (docs/dispatch.md): sent, accepted, arrived.
export const ORDER_ACTIVE = ["ordered", "accepted", "onscene"];
// Incidents carry the core's agency codes (polri, ...); units and station areas carry the category
// that agency answers (police, ...). Both name the same five services behind 112.
export const AGENCY_NAMES = { polri: N_("Polri 110"), damkar: N_("Damkar 113"), basarnas: N_("Basarnas 115"),
  bpbd: N_("BPBD 117"), dinkes: N_("Ambulans 119"), dishub: N_("Dishub"), triage: N_("112 triage") };
const CATEGORY_AGENCY = { police: "polri", fire: "damkar", sar: "basarnas", disaster: "bpbd", medical: "dinkes", traffic: "dishub" };
// Agency code (incidents, units) -> area agency (GeoJSON) -> colour.
export const AGENCY_AREA = { polri: "police", damkar: "fire", basarnas: "sar", bpbd: "disaster", dinkes: "medical", dishub: "traffic", triage: "triage" };
export const COLOURS = { police: "#4e8cff", fire: "#ff6a3d", medical: "#f0f0f0", sar: "#ff9f1c", disaster: "#b57bff", traffic: "#3ddc97", triage: "#e0e060" };
export const agencyColour = (agency) => COLOURS[AGENCY_AREA[agency] || agency] || "#9aa8b6";
export const agencyCode = (agency) => CATEGORY_AGENCY[agency] || agency;
export const agencyName = (agency) => t(AGENCY_NAMES[agencyCode(agency)] || agency || "—");

const deg = (udeg) => (udeg === null || udeg === undefined ? null : udeg / 1e6);

// GET /api/v1/incidents[/{id}] (fleet_server.domain.service.incident_view): location and clocks nested.
export function incident(r) {
  const loc = r.location || {};
  const clocks = r.clocks || {};
  const station = r.station || {};
  return {
    id: r.id, type: r.type, state: r.state, category: r.category, agency: r.agency, priority: r.priority,
    stationId: station.id ?? null, stationName: station.name ?? null, site: r.site ?? null,
    deviceId: r.origin_device_id ?? null, lat: deg(loc.lat_udeg), lon: deg(loc.lon_udeg),
    locSource: loc.source ?? "none", locAcc: loc.acc_m ?? null, locAge: loc.age_s ?? null,
    presses: r.press_count ?? 1, alarmCount: r.alarm_count ?? 1, prankSuspect: !!r.prank_suspect,
    escalatedAt: r.escalated_at ?? null, escalationLevel: r.escalation?.level ?? (r.escalated_at ? 1 : 0), summary: r.summary ?? null,
    pressedAt: clocks.pressed_at ?? null, receivedAt: clocks.received_at ?? null,
    acknowledgedAt: clocks.acknowledged_at ?? null, dispatchedAt: clocks.dispatched_at ?? null,
    enrouteAt: clocks.enroute_at ?? null, onsceneAt: clocks.onscene_at ?? null, closedAt: clocks.closed_at ?? null,
    closureReason: r.closure_reason ?? null, alarms: r.alarms || [], notes: r.notes || [], raw: r,
  };
}

// GET /api/v1/devices (device_view): fixed location on top, health nested.
export function device(r) {
  const h = r.health || {};
  return {
    id: r.id, kind: r.kind, site: r.site || "", category: r.category, agency: r.agency,
    status: r.status || "unknown", batteryMv: h.battery_mv ?? null, batteryPct: h.battery_pct ?? null,
    rssi: h.rssi_dbm ?? null, tamper: !!h.tamper, stuck: !!h.stuck, firmware: h.firmware ?? null,
    lastSeen: r.last_seen ?? null, prankCount: r.prank_count ?? 0, prankFlagged: !!r.prank_flagged,
    outbox: h.outbox ?? null, lat: deg(r.lat_udeg), lon: deg(r.lon_udeg), active: r.active !== false, raw: r,
  };
}

export const LOW_BATTERY_PCT = 20;
export function deviceHealth(d) {
  // Worst first: what a technician must go and fix.
  // The codes stay English (classes, sort order); label() shows them in the user's language.
  if (d.tamper) return "tamper";
  if (d.status === "offline") return "offline";
  if (d.prankFlagged) return "prank-flagged";
  if (d.stuck) return "stuck";
  if (d.batteryPct !== null && d.batteryPct < LOW_BATTERY_PCT) return "low battery";
  if (d.status === "online") return "online";
  return d.status || "unknown";
}

// GET /api/v1/units (fleet_server.units.model.Unit.public): the last fix nested, in microdegrees.
export function unit(r) {
  const pos = r.position || {};
  return {
    id: r.id, callsign: r.callsign || r.id, agency: r.agency, type: r.type || "", status: r.status || "unknown",
    station: r.home_station ?? "", lat: deg(pos.lat), lon: deg(pos.lon), heading: pos.hdg ?? null,
    fixAt: pos.ts ?? null, stale: r.stale ?? null, deviceId: r.device_id ?? null, incidentId: null, raw: r,
  };
}

// Stale is judged here, every redraw, from the fix time: a unit that stops reporting must turn grey
// without any event telling us so. Without a fix time the server's flag decides.
export function unitIsStale(u, staleS, now) {
  if (u.fixAt !== null && u.fixAt !== undefined) return now - u.fixAt > staleS;
  return u.stale === null || u.stale === undefined ? true : !!u.stale;
}

// --- time ---------------------------------------------------------------------------------------
export const now = () => Date.now() / 1000;

export function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "—";
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

export function clockTime(t) {
  if (!t) return "—";
  return new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

// The queue's clock: how long the caller has waited since the center received the alarm, until a
// unit is on scene (the 5-minute promise); its colour is the dispatcher's cue.
export function waiting(inc, t) {
  const end = inc.onsceneAt || inc.closedAt;
  return (end || t) - (inc.receivedAt || t);
}

// amber, red (both before the promise, so there is time to act), then "breached": the promise is
// broken, a state of its own and not a darker red.
export function urgency(seconds, cfg) {
  if (cfg.promise_s && seconds >= cfg.promise_s) return "breached";
  if (seconds >= cfg.red_after_s) return "red";
  if (seconds >= cfg.amber_after_s) return "amber";
  return "";
}

// A promise still being broken: the clock runs past it and no unit is on scene yet.
export const breachedNow = (inc, t, cfg) => !inc.onsceneAt && urgency(waiting(inc, t), cfg) === "breached";

// The queue's groups, in the order the dispatcher works them: what nobody has picked up, what has
// no unit yet, units on the way, units on scene; non-emergency reports after every emergency.
export const QUEUE_GROUPS = [
  ["new", N_("To acknowledge")], ["acknowledged", N_("To dispatch")], ["out", N_("Units on the way")],
  ["onscene", N_("On scene")], ["report", N_("Reports")]];
export function queueGroup(inc) {
  if (inc.type === "report") return "report";
  if (inc.state === "dispatched" || inc.state === "enroute") return "out";
  return inc.state;
}
const GROUP_RANK = Object.fromEntries(QUEUE_GROUPS.map(([g], i) => [g, i]));

// Group, then priority (1 most urgent), then newest first: the SOS that just beeped is the top row
// of its group, never below the fold behind older ones the dispatcher has already seen.
export function compareQueue(a, b) {
  return ((GROUP_RANK[queueGroup(a)] ?? 9) - (GROUP_RANK[queueGroup(b)] ?? 9)) || (a.priority - b.priority) ||
    ((b.receivedAt || 0) - (a.receivedAt || 0)) || (b.id - a.id);
}

// Where the incident is, in words: a button's site, else what the call-taker wrote, else the device.
export const place = (inc) => inc.site || inc.summary || inc.deviceId || t("unknown site");

// The server's codes (states, categories, unit statuses and types, audit actions, device health,
// location sources) in the user's language; a code without a label shows with spaces for "_".
const LABELS = {
  new: N_("new"), acknowledged: N_("acknowledged"), dispatched: N_("dispatched"), enroute: N_("en route"),
  onscene: N_("on scene"), resolved: N_("resolved"), false_alarm: N_("false alarm"), prank: N_("prank"),
  duplicate: N_("duplicate"), cancelled: N_("cancelled"), handed_off: N_("handed off"),
  police: N_("police"), fire: N_("fire"), medical: N_("medical"), sar: N_("search and rescue"), disaster: N_("disaster"),
  traffic: N_("traffic"), unknown: N_("unknown"),
  available: N_("available"), returning: N_("returning"), oos: N_("out of service"),
  ordered: N_("ordered"), accepted: N_("accepted"), declined: N_("declined"), unanswered: N_("unanswered"),
  ambulance: N_("ambulance"), fire_truck: N_("fire truck"), police_car: N_("police car"), motorbike: N_("motorbike"),
  sar_boat: N_("SAR boat"), rescue_truck: N_("rescue truck"),
  incident_created: N_("incident created"), report_created: N_("report recorded"), alarm_folded: N_("alarm folded"),
  transition: N_("state changed"), reclassified: N_("reclassified"), sop_step_ticked: N_("run card step ticked"),
  note_added: N_("note added"), escalated: N_("escalated"), promise_breached: N_("promise breached"),
  caller_revealed: N_("caller's number shown"), prank_flagged: N_("prank-flagged"), prank_flag: N_("prank flag set"),
  device_status: N_("device status"), device_registered: N_("device registered"), user_language: N_("language changed"),
  forwarded: N_("forwarded"), forward_accepted: N_("forward accepted"), forward_handed_down: N_("forward handed down"),
  forward_returned: N_("forward returned"), forward_closed: N_("forward closed"), forward_escalated: N_("forward escalated"),
  pending: N_("pending"), handed_down: N_("handed down"), returned: N_("returned"), done: N_("done"),
  no_action: N_("no action"), supervisor: N_("supervisor"),
  viewer: N_("viewer"), operator: N_("operator"), dispatcher: N_("dispatcher"), technician: N_("technician"), admin: N_("admin"),
  tamper: N_("tamper"), offline: N_("offline"), online: N_("online"), stuck: N_("stuck"),
  "prank-flagged": N_("prank-flagged"), "low battery": N_("low battery"),
  button: N_("button"), tracker: N_("tracker"), gsm: N_("GSM module"), phone: N_("phone"), device: N_("device"), system: N_("system"),
  gps: N_("GPS"), fixed: N_("fixed site"), aml: N_("AML"), none: N_("none"), manual: N_("entered by hand"), cell: N_("cell"),
};
// English shows the code itself, as it always has (onscene, oos): the tests and the center's habits
// read those words.
export function label(s) {
  return LABELS[s] && currentLanguage() !== "en" ? t(LABELS[s]) : (s || "").replace(/_/g, " ");
}

export function escape(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// Who wrote an audit entry or sent a forward: a user's name, "system", or "device:<id>".
export function actorName(actor) {
  if (currentLanguage() === "en" || !actor) return actor;
  if (actor === "system") return label("system");
  return actor.startsWith("device:") ? `${label("device")} ${actor.slice(7)}` : actor;
}
