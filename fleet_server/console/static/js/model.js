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

function latLon(r) {
  if (r.lat_udeg !== undefined || r.lon_udeg !== undefined) return [deg(r.lat_udeg), deg(r.lon_udeg)];
  const loc = r.location || r.position || r.last_position || r.fix || {};
  for (const src of [loc, r]) {
    if (src.lat_udeg !== undefined) return [deg(src.lat_udeg), deg(src.lon_udeg)];
    if (typeof src.lat === "number") {
      // Integer microdegrees travel as large integers; decimal degrees never exceed 180.
      return Math.abs(src.lat) > 1000 || Math.abs(src.lon) > 1000 ? [deg(src.lat), deg(src.lon)] : [src.lat, src.lon];
    }
  }
  return [null, null];
}

export function incident(r) {
  const [lat, lon] = latLon(r);
  const loc = r.location || {};
  const clocks = r.clocks || {};
  const at = (k) => r[k] ?? clocks[k] ?? null;
  const station = r.station && typeof r.station === "object" ? r.station : {};
  return {
    id: r.id, type: r.type || "emergency", state: r.state, category: r.category, agency: r.agency,
    priority: r.priority ?? 3, stationId: r.station_id ?? station.id ?? null,
    stationName: r.station_name ?? station.name ?? null, site: r.site ?? null,
    deviceId: r.origin_device_id ?? r.device_id ?? null, devices: r.devices || r.device_ids || [],
    lat, lon, locSource: r.loc_source ?? loc.source ?? "none", locAcc: r.loc_acc_m ?? loc.acc_m ?? loc.accuracy_m ?? null,
    locAge: r.loc_age_s ?? loc.age_s ?? null, presses: r.press_count ?? 1, alarmCount: r.alarm_count ?? 1,
    prankSuspect: !!(r.prank_suspect ?? r.prank_flagged), summary: r.summary ?? null,
    pressedAt: at("pressed_at"), receivedAt: at("received_at"), acknowledgedAt: at("acknowledged_at"),
    dispatchedAt: at("dispatched_at"), enrouteAt: at("enroute_at"), onsceneAt: at("onscene_at"),
    closedAt: at("closed_at"), closureReason: r.closure_reason ?? null,
    alarms: r.alarms || [], notes: r.notes || [], assignments: r.assignments || r.units || [],
    raw: r,
  };
}

export function device(r) {
  const [lat, lon] = latLon(r);
  const h = r.health || r;
  return {
    id: r.id ?? r.device_id, kind: r.kind, site: r.site || "", category: r.category, agency: r.agency,
    status: r.status || "unknown", batteryMv: h.battery_mv ?? null, batteryPct: h.battery_pct ?? null,
    rssi: h.rssi_dbm ?? null, tamper: !!h.tamper, stuck: !!h.stuck, firmware: h.firmware ?? null,
    lastSeen: r.last_seen ?? null, prankCount: r.prank_count ?? 0, prankFlagged: !!r.prank_flagged,
    outbox: h.outbox ?? null, lat, lon, active: r.active !== false, raw: r,
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

export function unit(r) {
  const [lat, lon] = latLon(r);
  const pos = r.position || {};
  return {
    id: r.id, callsign: r.callsign || r.id, agency: r.agency, type: r.type || "",
    status: r.status || "unknown", station: r.home_station ?? "", lat, lon,
    heading: pos.hdg ?? null, speed: pos.spd ?? null,
    fixAt: pos.ts ?? null,
    stale: r.stale ?? null, incidentId: r.incident_id ?? null, deviceId: r.device_id ?? null, raw: r,
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
