// What the console knows: open incidents, devices, units. Filled from the REST API at start and after
// every feed (re)connect, then kept current by feed events. Views subscribe to changes.
import * as api from "./api.js";
import * as model from "./model.js";
import { t } from "./i18n.js";

export const state = {
  config: { promise_s: 300, amber_after_s: 120, red_after_s: 240, stale_fix_s: 120, tile_url: "", sound: true },
  incidents: new Map(),
  devices: new Map(),
  units: new Map(),
  areas: null,
  unitsAvailable: true,
};

const subscribers = new Map();  // topic -> Set(fn)
export function on(topic, fn) {
  if (!subscribers.has(topic)) subscribers.set(topic, new Set());
  subscribers.get(topic).add(fn);
}
function emit(topic, detail) {
  for (const fn of subscribers.get(topic) || []) {
    try { fn(detail); } catch (e) { console.error(`view for ${topic} failed`, e); }
  }
}

export async function loadStatic() {
  const [cfg, areas] = await Promise.all([api.get(api.paths.config), api.get(api.paths.areas)]);
  Object.assign(state.config, cfg);
  state.areas = areas;
}

// A station's name by its id, from the station areas the map draws; the command center (incidents
// no station area holds) and the supervisor (the top of every forward chain) by their role.
export function stationName(id) {
  if (id === "112") return t("the command center");
  if (id === "supervisor") return t("the supervisor");
  for (const f of state.areas?.features || []) if (f.properties.id === id && !f.properties.site) return f.properties.name;
  return null;
}

// Every run card by id (the timeline names a ticked step by its text); fetched once, again after a failure.
let cards = null;
export function runCards() {
  cards ||= api.get(api.paths.runCards)
    .then((list) => new Map(list.map((c) => [c.id, c])))
    .catch((e) => { console.warn("run cards", e); cards = null; return new Map(); });
  return cards;
}

// Feed events are counted per incident, so an answer fetched while an event arrived is known to be
// possibly older than that event: it is fetched again rather than laid over the newer state (an
// acknowledge and the assignment a second later must never leave the queue at "acknowledged").
let feedSeq = 0;
const lastEvent = new Map();   // incident id -> feedSeq of the last event about it
const seqOf = (id) => lastEvent.get(id) || 0;
function noteEvent(id) { feedSeq += 1; lastEvent.set(id, feedSeq); }

export async function loadIncidents() {
  const since = feedSeq;
  const data = await api.get(api.paths.incidents, { open: true, limit: 1000 });
  const fresh = new Map();
  for (const r of api.items(data, "incidents")) {
    const inc = model.incident(r);
    if (model.OPEN_STATES.includes(inc.state)) fresh.set(inc.id, inc);
  }
  // What the feed changed while the list was on its way may be newer than the list: the console
  // keeps its own copy of those and reads each once more.
  for (const [id, seq] of lastEvent) {
    if (seq <= since) continue;
    const mine = state.incidents.get(id);
    if (mine) fresh.set(id, mine); else fresh.delete(id);
    refetchIncident(id, false);
  }
  state.incidents = fresh;
  emit("incidents", { reset: true });
}

export async function loadDevices() {
  const data = await api.get(api.paths.devices, { limit: 5000 });
  state.devices = new Map(api.items(data, "devices").map((r) => { const d = model.device(r); return [d.id, d]; }));
  emit("devices", { reset: true });
}

export async function loadUnits() {
  try {
    // Open orders (ordered, accepted) come in one request; an order whose unit reached the scene is
    // no longer "open" for dispatch, so those come per incident the console knows is on scene.
    const onScene = [...state.incidents.values()].filter((i) => i.state === "onscene").map((i) => i.id);
    const [data, ...orders] = await Promise.all([api.get(api.paths.units), api.get(api.paths.assignments, { open_only: true }),
      ...onScene.map((id) => api.get(api.paths.assignments, { incident: id }))]);
    state.units = new Map(api.items(data, "units").map((r) => { const u = model.unit(r); return [u.id, u]; }));
    // Which incident each unit works on: the board shows it beside the unit.
    for (const a of orders.flatMap((o) => api.items(o, "assignments"))) {
      const u = state.units.get(a.unit);
      if (u && model.ORDER_ACTIVE.includes(a.state) && state.incidents.has(a.incident)) { u.incidentId = a.incident; u.orderState = a.state; }
    }
    state.unitsAvailable = true;
  } catch (e) {
    // A server without unit tracking: the console works without it.
    if (e.status !== 404 && e.status !== 503) throw e;
    state.unitsAvailable = false;
  }
  emit("units", { reset: true });
}

export async function loadAll() {
  // Units after incidents: which unit is on scene where is read from the open incidents.
  const results = await Promise.allSettled([loadIncidents().finally(loadUnits), loadDevices()]);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) throw failed[0].reason;
}

export async function fetchIncident(id) {
  const since = seqOf(id);
  const inc = model.incident(await api.get(api.paths.incident(id)));
  if (seqOf(id) === since) upsertIncident(inc, false);
  else refetchIncident(id, false);   // the feed moved it meanwhile: this answer may be the older one
  return inc;
}

function upsertIncident(inc, fromFeed) {
  const known = state.incidents.get(inc.id);
  // Non-emergency reports are worked on their own desk (center.js): on the map, never in the queue.
  if (inc.type === "report") emit("reports", { id: inc.id });
  if (model.OPEN_STATES.includes(inc.state)) state.incidents.set(inc.id, inc);
  else state.incidents.delete(inc.id);
  emit("incidents", { id: inc.id, incident: inc });
  // A unit reached the scene: its order left the open ones, so the units are read again.
  if (inc.state === "onscene" && known?.state !== "onscene") throttle("units", loadUnits, 300);
  // A new SOS is one we never saw before, still new, raised by a person (priority 1-2).
  if (fromFeed && !known && inc.state === "new" && inc.type !== "report") emit("sos", inc);
}

// Feed events (docs/console.md): the core's {type: "incident"|"device", event, incident|device...},
// dispatch's {type: "dispatch.*"|"incident.progress", incident: <id>, unit: <id>} and the units'
// {type: "unit.position", unit: <id>, lat, lon, ts, hdg, status}. Whatever an event does not carry
// whole is fetched again, so an event we cannot read costs a request, never a wrong screen.
// One read in flight per incident; an event that arrives meanwhile makes it read again, because the
// answer on its way may have been written before that event's change.
const refetching = new Set();
const REFETCH_TRIES = 20;
async function refetchIncident(id, fromFeed) {
  if (refetching.has(id)) return;
  refetching.add(id);
  try {
    const known = state.incidents.has(id);
    for (let tries = 1; ; tries++) {
      const since = seqOf(id);
      const inc = model.incident(await api.get(api.paths.incident(id)));
      if (seqOf(id) === since) { upsertIncident(inc, fromFeed && !known); break; }
      if (tries >= REFETCH_TRIES) {
        // Events about it keep coming faster than it can be read: try again after a breath.
        console.warn("incident keeps changing while read", id);
        setTimeout(() => refetchIncident(id, false), 1000);
        break;
      }
    }
  } catch (e) { console.warn("incident refetch failed", id, e); }
  finally { refetching.delete(id); }
}

const throttled = {};
function throttle(name, fn, ms = 1000) {
  if (throttled[name]) return;
  throttled[name] = setTimeout(() => { throttled[name] = null; fn().catch((e) => console.warn(name, e)); }, ms);
}

const object = (v) => (v && typeof v === "object" ? v : null);

export function handleEvent(ev) {
  const kind = String(ev.type || "");
  if (kind === "incident" || kind.startsWith("incident.") || kind.startsWith("dispatch.")) {
    const body = object(ev.incident);
    const id = body?.id ?? (typeof ev.incident === "number" ? ev.incident : null) ?? ev.note?.incident_id ?? ev.incident_id;
    if (id === undefined || id === null) return;
    noteEvent(id);
    if (body && body.state && body.clocks) upsertIncident(model.incident(body), true);
    else refetchIncident(id, kind === "incident");
    emit("incident-event", { id, ev });
    // A closure as prank or false alarm counts against the devices: their counts changed.
    if (ev.event === "transition" && ["prank", "false_alarm"].includes(body?.state)) throttle("devices", loadDevices, 200);
    if (kind.startsWith("dispatch.") || kind === "incident.progress") throttle("units", loadUnits, 300);
  } else if (kind === "device" || kind.startsWith("device.")) {
    const body = object(ev.device);
    const id = body?.id ?? ev.device_id;
    const known = state.devices.get(id);
    // A status event carries only the new status; anything else (health, pranks) is fetched again.
    const change = body || (ev.event === "status" && ev.status ? { status: ev.status } : null);
    if (known && change) {
      state.devices.set(id, model.device({ ...known.raw, ...change }));
      emit("devices", { id });
    }
    if (!known || !body) throttle("devices", loadDevices);
  } else if (kind === "unit.position") {
    const known = state.units.get(ev.unit);
    if (!known) { throttle("units", loadUnits); return; }
    const position = { lat: ev.lat, lon: ev.lon, ts: ev.ts, acc: ev.acc, spd: ev.spd, hdg: ev.hdg };
    const moved = model.unit({ ...known.raw, status: ev.status ?? known.raw.status, position, stale: null });
    moved.incidentId = known.incidentId;
    moved.orderState = known.orderState;
    state.units.set(ev.unit, moved);
    emit("units", { id: ev.unit });
  } else if (kind.startsWith("unit")) {
    throttle("units", loadUnits);
  } else if (kind === "ota.alert" || kind === "ota.campaign") {
    emit("ota", ev);
  }
}

export function sortedQueue(filter) {
  return [...state.incidents.values()]
    .filter((i) => i.type !== "report")  // the emergency queue: non-emergencies are on the desk
    .filter((i) => (!filter.agency || i.agency === filter.agency) && (!filter.station || i.stationId === filter.station))
    .sort(model.compareQueue);
}
