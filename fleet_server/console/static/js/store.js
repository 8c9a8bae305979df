// What the console knows: open incidents, devices, units. Filled from the REST API at start and after
// every feed (re)connect, then kept current by feed events. Views subscribe to changes.
import * as api from "./api.js";
import * as model from "./model.js";

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

export async function loadIncidents() {
  const data = await api.get(api.paths.incidents, { open: true, limit: 1000 });
  const fresh = new Map();
  for (const r of api.items(data, "incidents")) {
    const inc = model.incident(r);
    if (model.OPEN_STATES.includes(inc.state)) fresh.set(inc.id, inc);
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
    const data = await api.get(api.paths.units);
    state.units = new Map(api.items(data, "units").map((r) => { const u = model.unit(r); return [u.id, u]; }));
    state.unitsAvailable = true;
  } catch (e) {
    // The units API belongs to the trackers issue; the console works without it.
    if (e.status !== 404) throw e;
    state.unitsAvailable = false;
  }
  emit("units", { reset: true });
}

export async function loadAll() {
  const results = await Promise.allSettled([loadIncidents(), loadDevices(), loadUnits()]);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) throw failed[0].reason;
}

export async function fetchIncident(id) {
  const inc = model.incident(await api.get(api.paths.incident(id)));
  upsertIncident(inc, false);
  return inc;
}

function upsertIncident(inc, fromFeed) {
  const known = state.incidents.get(inc.id);
  if (model.OPEN_STATES.includes(inc.state)) state.incidents.set(inc.id, inc);
  else state.incidents.delete(inc.id);
  emit("incidents", { id: inc.id, incident: inc });
  // A new SOS is one we never saw before, still new, raised by a person (priority 1-2).
  if (fromFeed && !known && inc.state === "new") emit("sos", inc);
}

// Feed events: {type: "incident"|"device"|"unit"|..., <type>: {...}} (see docs/console.md); any
// event we cannot read whole is treated as "something about id X changed" and fetched again.
const refetching = new Set();
async function refetchIncident(id, fromFeed) {
  if (refetching.has(id)) return;
  refetching.add(id);
  try {
    const known = state.incidents.has(id);
    const inc = model.incident(await api.get(api.paths.incident(id)));
    upsertIncident(inc, fromFeed && !known);
  } catch (e) { console.warn("incident refetch failed", id, e); }
  finally { refetching.delete(id); }
}

const throttled = {};
function throttle(name, fn, ms = 1000) {
  if (throttled[name]) return;
  throttled[name] = setTimeout(() => { throttled[name] = null; fn().catch((e) => console.warn(name, e)); }, ms);
}

export function handleEvent(ev) {
  const kind = String(ev.type || ev.kind || ev.event || "");
  const body = ev.incident || ev.device || ev.unit || ev.data || ev.payload || null;
  if (kind.startsWith("incident")) {
    const id = body?.id ?? ev.note?.incident_id ?? ev.incident_id ?? ev.id;
    if (id === undefined || id === null) return;
    if (body && body.state && body.clocks) upsertIncident(model.incident(body), true);
    else refetchIncident(id, true);
    emit("incident-event", { id, ev });
    // A closure as prank or false alarm counts against the devices: their counts changed.
    if (ev.event === "transition" && ["prank", "false_alarm"].includes(body?.state)) throttle("devices", loadDevices, 200);
  } else if (kind.startsWith("device")) {
    const id = body?.id ?? ev.device_id ?? ev.id;
    const known = state.devices.get(id);
    // A status event carries only the new status; anything else (health, pranks) is fetched again.
    const change = body || (ev.event === "status" && ev.status ? { status: ev.status } : null);
    if (known && change) {
      const merged = model.device({ ...known.raw, ...change });
      state.devices.set(id, merged);
      emit("devices", { id });
      if (!body) throttle("devices", loadDevices);
    } else {
      throttle("devices", loadDevices);
    }
  } else if (kind.startsWith("unit") || kind.startsWith("position") || kind.startsWith("assignment")) {
    const id = body?.id ?? body?.unit_id ?? ev.unit_id ?? ev.id;
    const known = state.units.get(id);
    if (known && body) {
      state.units.set(id, model.unit({ ...known.raw, ...body, id }));
      emit("units", { id });
    } else {
      throttle("units", loadUnits);
    }
    if (body?.incident_id) refetchIncident(body.incident_id, false);
  }
}

export function sortedQueue(filter) {
  return [...state.incidents.values()]
    .filter((i) => (!filter.agency || i.agency === filter.agency) && (!filter.station || i.stationId === filter.station))
    .sort(model.compareQueue);
}
