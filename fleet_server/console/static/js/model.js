// Normalises the server's records into what the views draw, and formats clocks. Coordinates on the
// wire and in the store are integer microdegrees; the map wants degrees.
export const OPEN_STATES = ["new", "acknowledged", "dispatched", "enroute", "onscene"];
export const CLOSURES = ["false_alarm", "prank", "duplicate", "cancelled"];
// Incidents carry the core's agency codes (polri, ...); units and station areas carry the category
// that agency answers (police, ...). Both name the same five services behind 112.
export const AGENCY_NAMES = { polri: "Polri 110", damkar: "Damkar 113", basarnas: "Basarnas 115",
  bpbd: "BPBD 117", dinkes: "Ambulans 119", triage: "112 triage" };
const CATEGORY_AGENCY = { police: "polri", fire: "damkar", sar: "basarnas", disaster: "bpbd", medical: "dinkes" };
// Agency code (incidents, units) -> area agency (GeoJSON) -> colour.
export const AGENCY_AREA = { polri: "police", damkar: "fire", basarnas: "sar", bpbd: "disaster", dinkes: "medical", triage: "triage" };
export const COLOURS = { police: "#4e8cff", fire: "#ff6a3d", medical: "#f0f0f0", sar: "#ff9f1c", disaster: "#b57bff", triage: "#e0e060" };
export const agencyColour = (agency) => COLOURS[AGENCY_AREA[agency] || agency] || "#9aa8b6";
export const agencyCode = (agency) => CATEGORY_AGENCY[agency] || agency;
export const agencyName = (agency) => AGENCY_NAMES[agencyCode(agency)] || agency || "—";

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
    escalatedAt: r.escalated_at ?? null,
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

export function urgency(seconds, cfg) {
  if (seconds >= cfg.red_after_s) return "red";
  if (seconds >= cfg.amber_after_s) return "amber";
  return "";
}

export function compareQueue(a, b) {
  return (a.priority - b.priority) || ((a.receivedAt || 0) - (b.receivedAt || 0)) || (a.id - b.id);
}

export function label(s) { return (s || "").replace(/_/g, " "); }

export function escape(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
