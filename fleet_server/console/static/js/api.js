// The server's /api/v1 as the console uses it: every endpoint path lives here and nowhere else, so
// a change in the server's contract is a one-line change. Docs: docs/server.md, docs/dispatch.md.
import { t } from "./i18n.js";
import { refusalText } from "./refusals.js";

const TOKEN_KEY = "siaga.console.token";
export const ROLES = ["viewer", "station", "operator", "dispatcher", "technician", "admin"];

export const paths = {
  token: "/api/v1/auth/token",
  me: "/api/v1/auth/me",
  incidents: "/api/v1/incidents",
  incident: (id) => `/api/v1/incidents/${id}`,
  transition: (id) => `/api/v1/incidents/${id}/transition`,
  notes: (id) => `/api/v1/incidents/${id}/notes`,
  recommendations: (id) => `/api/v1/dispatch/incidents/${id}/recommendations`,
  assignments: "/api/v1/dispatch/assignments",
  audit: "/api/v1/audit",
  devices: "/api/v1/devices",
  units: "/api/v1/units",
  stats: "/api/v1/stats",
  feed: "/api/v1/feed",
  config: "/console/api/config",
  areas: "/console/api/areas",
  runCards: "/api/v1/center/run-cards",
};

// message: the refusal in the user's language (refusals.js); code: the server's refusal code.
export class ApiError extends Error {
  constructor(status, message, code = null) { super(message); this.status = status; this.code = code; }
}

let session = load();
const listeners = new Set();

function load() {
  try { return JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null"); } catch { return null; }
}

export function currentSession() { return session; }
export function onSessionChange(fn) { listeners.add(fn); }

function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s)); else sessionStorage.removeItem(TOKEN_KEY);
  for (const fn of listeners) fn(s);
}

export function logout() { setSession(null); }

// Role from the token's claims: the server signs it, the console only reads it to hide buttons the
// server would refuse anyway (the server enforces every role).
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - part.length % 4) % 4)));
  } catch { return {}; }
}

export function can(minRole) {
  if (!session) return false;
  return ROLES.indexOf(session.role) >= ROLES.indexOf(minRole);
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password, grant_type: "password" });
  const res = await fetch(paths.token, { method: "POST", body });
  if (!res.ok) {
    const why = await refusal(res);
    throw new ApiError(res.status, res.status === 401 || res.status === 400 ? t("Wrong user name or password.") : why.text, why.code);
  }
  const data = await res.json();
  const c = claims(data.access_token);
  let role = data.role || c.role;
  let user = data.username || c.sub || username;
  if (!role) {
    const me = await fetch(paths.me, { headers: { Authorization: `Bearer ${data.access_token}` } });
    if (me.ok) { const m = await me.json(); role = m.role; user = m.username || user; }
  }
  setSession({ token: data.access_token, role: role || "viewer", user, exp: c.exp || null });
  return session;
}

// A refusal's {code, text}: the text said by its code in the user's language, else the server's.
export async function refusal(res) {
  try {
    const d = await res.json();
    if (typeof d.reason === "string") return { code: d.code || null, text: refusalText(d.code, d.reason) };
    return { code: null, text: JSON.stringify(d).slice(0, 200) };
  } catch { return { code: null, text: `${res.status} ${res.statusText}` }; }
}

export async function request(method, path, body) {
  const headers = {};
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && session) { setSession(null); throw new ApiError(401, t("Session expired: log in again.")); }
  if (!res.ok) { const why = await refusal(res); throw new ApiError(res.status, why.text, why.code); }
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path, query) => {
  const q = query ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
  return request("GET", path + q);
};
export const post = (path, body) => request("POST", path, body ?? {});
export const patch = (path, body) => request("PATCH", path, body ?? {});

// Lists may come bare or wrapped ({items: [...]}); the console accepts both.
export function items(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of ["items", "results", "data", ...keys]) if (data && Array.isArray(data[k])) return data[k];
  return [];
}

export function feedUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  // Browsers cannot set headers on a WebSocket: the token travels as a query parameter.
  return `${proto}//${location.host}${paths.feed}?token=${encodeURIComponent(session ? session.token : "")}`;
}
