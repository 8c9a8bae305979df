// The live map. With no tile URL the city is drawn from the station-area polygons themselves (the
// console must work with no internet); incidents, units and buttons are layers over it.
import { state, on } from "./store.js";
import * as model from "./model.js";

const L = window.L;
let map, layers, onSelect;
const markers = { incidents: new Map(), units: new Map(), devices: new Map() };
let selectedId = null;

export function initMap(el, { select }) {
  onSelect = select;
  const cfg = state.config;
  map = L.map(el, { zoomControl: true, attributionControl: !!cfg.tile_url, preferCanvas: false, zoomSnap: 0.25 })
    .setView(cfg.map_center || [-6.911, 107.6097], cfg.map_zoom || 13);
  if (cfg.tile_url) L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 19 }).addTo(map);
  layers = {
    areas: {},
    incidents: L.layerGroup().addTo(map),
    units: L.layerGroup().addTo(map),
    devices: L.layerGroup().addTo(map),
  };
  drawAreas();
  const overlays = { "Incidents": layers.incidents, "Units": layers.units, "Buttons": layers.devices };
  for (const [agency, layer] of Object.entries(layers.areas)) overlays[`Areas: ${agency}`] = layer;
  L.control.layers(null, overlays, { collapsed: true, position: "topright" }).addTo(map);
  legend().addTo(map);
  on("incidents", drawIncidents);
  on("units", drawUnits);
  on("devices", drawDevices);
  drawIncidents(); drawUnits(); drawDevices();
  setInterval(() => { drawIncidents(); drawUnits(); }, 2000);  // colours follow age: waiting incidents, stale fixes
  return map;
}

export function invalidate() { if (map) map.invalidateSize(); }

function drawAreas() {
  const byAgency = {};
  for (const f of state.areas?.features || []) {
    const key = f.properties.site ? "city" : f.properties.agency;
    (byAgency[key] ||= []).push(f);
  }
  let bounds = null;
  for (const [agency, features] of Object.entries(byAgency)) {
    const colour = model.COLOURS[agency] || "#55697d";
    const layer = L.geoJSON({ type: "FeatureCollection", features }, {
      style: (f) => agency === "city"
        ? { color: "#8fa3b8", weight: 2, fill: true, fillColor: "#1a2430", fillOpacity: 1 }
        : { color: colour, weight: f.properties.depth ? 1 : 2, opacity: 0.55, fillOpacity: 0.03, dashArray: f.properties.depth ? "3 4" : null },
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#ff4d4d", weight: 2, fillOpacity: 0.2 }),
      onEachFeature: (f, lyr) => {
        if (agency === "city") return;
        lyr.bindTooltip(f.properties.name, { sticky: true });
      },
      interactive: agency !== "city",
    });
    layers.areas[agency] = layer;
    // The city and the police stations (the finest grid) show by default; others are one click away.
    if (agency === "city" || agency === "police") layer.addTo(map);
    if (agency === "city") bounds = layer.getBounds();
  }
  if (layers.areas.city) layers.areas.city.bringToBack();
  if (bounds && bounds.isValid() && !state.config.tile_url) map.fitBounds(bounds, { padding: [10, 10] });
}

function legend() {
  const c = L.control({ position: "bottomleft" });
  c.onAdd = () => {
    const div = L.DomUtil.create("div", "map-legend");
    div.style.cssText = "background:rgba(17,22,29,.85);padding:6px 8px;border-radius:4px;font-size:12px;line-height:1.5";
    div.innerHTML = Object.entries(model.AGENCY_NAMES).map(([code, name]) =>
      `<span class="agency" style="background:${model.agencyColour(code)}"></span>${name}`).join("<br>") +
      `<br><span style="color:#6b7785">■</span> unit: stale fix / out of service<br>buttons: ` +
      ["online", "low battery", "tamper", "prank-flagged", "offline"].map((h) =>
        `<span style="color:${HEALTH_COLOUR[h]}">●</span>&nbsp;${h}`).join(" ");
    return div;
  };
  return c;
}

export function select(id) {
  selectedId = id;
  drawIncidents();
  const inc = state.incidents.get(id);
  // Pan only when the incident is off screen: the city view stays put while J/K walks the queue.
  if (inc && inc.lat !== null && !map.getBounds().pad(-0.05).contains([inc.lat, inc.lon])) map.panTo([inc.lat, inc.lon], { animate: true });
}

function drawIncidents() {
  if (!map) return;
  const t = model.now();
  const seen = new Set();
  for (const inc of state.incidents.values()) {
    if (inc.lat === null) continue;
    seen.add(inc.id);
    const wait = model.waiting(inc, t);
    const u = model.urgency(wait, state.config);
    const fill = u === "red" ? "#ff4d4d" : u === "amber" ? "#ffb020" : model.agencyColour(inc.agency);
    const size = inc.priority <= 1 ? 30 : 24;
    const cls = `inc-icon p${inc.priority}${inc.id === selectedId ? " selected" : ""}`;
    const key = `${cls}|${fill}|${size}`;
    let m = markers.incidents.get(inc.id);
    const icon = () => L.divIcon({ className: "", iconSize: [size, size],
      html: `<div class="${cls}" data-incident="${inc.id}" style="width:${size}px;height:${size}px;background:${fill}">${inc.priority}</div>` });
    if (!m) {
      m = L.marker([inc.lat, inc.lon], { icon: icon(), zIndexOffset: 1000 - inc.priority * 100, keyboard: false })
        .on("click", () => onSelect(inc.id)).addTo(layers.incidents);
      m._key = key;
      markers.incidents.set(inc.id, m);
    } else {
      m.setLatLng([inc.lat, inc.lon]);
      if (m._key !== key) { m.setIcon(icon()); m._key = key; }
    }
    m.bindTooltip(`#${inc.id} ${model.label(inc.category)} — ${model.label(inc.state)}<br>${model.escape(inc.site || inc.deviceId || "")}` +
      `<br>waiting ${model.duration(wait)}; location ${inc.locSource}${inc.locAcc !== null ? " ±" + inc.locAcc + " m" : ""}`);
    // Location confidence drawn as a circle of the reported accuracy.
    if (inc.locAcc) {
      if (!m._acc) m._acc = L.circle([inc.lat, inc.lon], { radius: inc.locAcc, color: fill, weight: 1, fillOpacity: 0.08, interactive: false }).addTo(layers.incidents);
      else m._acc.setLatLng([inc.lat, inc.lon]).setRadius(inc.locAcc);
    }
  }
  for (const [id, m] of markers.incidents) {
    if (!seen.has(id)) { layers.incidents.removeLayer(m); if (m._acc) layers.incidents.removeLayer(m._acc); markers.incidents.delete(id); }
  }
}

function unitSvg(colour, heading, stale) {
  const rot = heading === null || heading === undefined ? null : heading;
  const arrow = rot === null ? "" : `<path d="M0,-15 L5,-7 L-5,-7 Z" fill="${colour}" transform="rotate(${rot})"/>`;
  return `<svg width="30" height="30" viewBox="-15 -15 30 30">${arrow}<rect x="-7" y="-7" width="14" height="14" rx="3"
    fill="${colour}" stroke="#000" stroke-width="1.5" opacity="${stale ? 0.6 : 1}"/></svg>`;
}

function drawUnits() {
  if (!map) return;
  const t = model.now();
  const seen = new Set();
  for (const u of state.units.values()) {
    if (u.lat === null) continue;
    seen.add(u.id);
    const stale = model.unitIsStale(u, state.config.stale_fix_s, t);
    const colour = stale || u.status === "oos" ? "#6b7785" : model.agencyColour(u.agency);
    const icon = L.divIcon({ className: `unit-icon${stale ? " stale" : ""}`, iconSize: [30, 30],
      html: `<div data-unit="${model.escape(u.id)}">${unitSvg(colour, u.heading, stale)}</div>` });
    let m = markers.units.get(u.id);
    if (!m) { m = L.marker([u.lat, u.lon], { icon, keyboard: false }).addTo(layers.units); markers.units.set(u.id, m); }
    else { m.setLatLng([u.lat, u.lon]); m.setIcon(icon); }
    m.bindTooltip(`${model.escape(u.callsign)} (${model.agencyName(u.agency)}) — ${model.label(u.status)}${stale ? " — stale fix" : ""}`);
  }
  for (const [id, m] of markers.units) if (!seen.has(id)) { layers.units.removeLayer(m); markers.units.delete(id); }
}

const HEALTH_COLOUR = { online: "#3ecf6e", offline: "#6b7785", "low battery": "#ffb020", tamper: "#ff4d4d",
  "prank-flagged": "#d35cff", stuck: "#ffb020", unknown: "#9aa8b6" };

function drawDevices() {
  if (!map) return;
  const seen = new Set();
  for (const d of state.devices.values()) {
    if (d.lat === null || d.kind === "tracker") continue;
    seen.add(d.id);
    const health = model.deviceHealth(d);
    const colour = HEALTH_COLOUR[health] || "#9aa8b6";
    let m = markers.devices.get(d.id);
    const cls = `device-marker health-${health.replace(/ /g, "-")}`;
    if (m && m._cls !== cls) { layers.devices.removeLayer(m); m = null; }  // Leaflet cannot change a path's class
    if (!m) {
      m = L.circleMarker([d.lat, d.lon], { radius: health === "online" ? 4 : 6, weight: 1, color: "#000", fillOpacity: 0.9,
        fillColor: colour, className: cls }).addTo(layers.devices);
      m._cls = cls;
      markers.devices.set(d.id, m);
    }
    m.bindTooltip(`Button ${model.escape(d.id)} — ${health}<br>${model.escape(d.site)}` +
      (d.prankCount ? `<br>pranks: ${d.prankCount}` : ""));
  }
  for (const [id, m] of markers.devices) if (!seen.has(id)) { layers.devices.removeLayer(m); markers.devices.delete(id); }
}
