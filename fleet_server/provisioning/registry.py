"""The fleet server's device registry, over its HTTP API (role technician). The server is the
source of truth for which devices exist and which broker credential hash each one has."""
from __future__ import annotations

import httpx

from fleet_server.i18n import N_, Message
from fleet_server.provisioning.errors import ServerError


class DeviceRegistry:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        if not base_url:
            raise ServerError(N_("no fleet server URL"), N_("pass --server http://host:8112 or set SIAGA_SERVER_URL"))
        if not token:
            raise ServerError(N_("no access token"),
                              N_("pass --user (a technician; asks for the password), or --token "
                                 "(POST /api/v1/auth/token as a technician) or set SIAGA_TOKEN"))
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/api/v1", timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def login(cls, base_url: str, username: str, password: str, timeout: float = 10.0) -> "DeviceRegistry":
        """Log in as a user (the OAuth2 password flow of /api/v1/auth/token)."""
        url = base_url.rstrip("/") + "/api/v1/auth/token"
        try:
            r = httpx.post(url, data={"username": username, "password": password}, timeout=timeout)
        except httpx.HTTPError as e:
            raise ServerError(N_("fleet server at {url} did not answer: {error}"),
                              N_("is the server (or `siaga demo`) running, and is the URL right?"),
                              url=base_url, error=e) from None
        if r.status_code != 200:
            raise ServerError(N_("login as {username} refused: {status}"), N_("the user name and password"),
                              username=username, status=r.status_code)
        return cls(base_url, r.json()["access_token"], timeout)

    def close(self) -> None:
        self._http.close()

    def require_role(self, needed: str) -> dict:
        """The token's user, if its role is at least `needed`: checked before anything changes."""
        from fleet_server.api.security import role_at_least

        r = self._call("GET", "/auth/me")
        if r.status_code != 200:
            raise self._refused(r, Message(N_("checking the account")))
        me = r.json()
        if not role_at_least(me["role"], needed):
            raise ServerError(N_("the account {username} is a {role}; this needs a {needed}"),
                              N_("log in as a {needed} (an admin creates one: siaga admin create-user NAME "
                                 "--role {needed})"), username=me["username"], role=me["role"], needed=needed)
        return me

    def unit(self, unit_id: str) -> dict | None:
        """A unit of the fleet (GET /units/{id}); None when it is not registered."""
        r = self._call("GET", f"/units/{unit_id}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(r, Message(N_("looking up unit {unit_id}"), unit_id=unit_id))
        return r.json()

    def unit_of(self, device_id: str) -> dict | None:
        """The unit this tracker is bound to (GET /units), None when it moves no unit."""
        r = self._call("GET", "/units")
        if r.status_code != 200:
            raise self._refused(r, Message(N_("listing units")))
        return next((u for u in r.json() if u.get("device_id") == device_id), None)

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ServerError(N_("fleet server at {url} did not answer: {error}"),
                              N_("is `siaga serve` running, and is the URL right?"),
                              url=self.base_url, error=e) from None

    @staticmethod
    def _refused(r: httpx.Response, what: Message) -> ServerError:
        try:
            detail = r.json().get("reason", r.text)
        except ValueError:
            detail = r.text
        hint = {401: N_("the token is missing or expired: log in again"),
                403: N_("the account needs the technician role")}.get(r.status_code, "")
        return ServerError(N_("{what}: server answered {status}: {detail}"), hint, what=what, status=r.status_code,
                           detail=str(detail)[:300])

    def get(self, device_id: str) -> dict | None:
        r = self._call("GET", f"/devices/{device_id}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(r, Message(N_("looking up {device_id}"), device_id=device_id))
        return r.json()

    def listing(self, kind: str | None = None) -> list[dict]:
        r = self._call("GET", "/devices", params={"limit": 5000, **({"kind": kind} if kind else {})})
        if r.status_code != 200:
            raise self._refused(r, Message(N_("listing devices")))
        return r.json()

    def register(self, device_id: str, kind: str, **fields) -> dict:
        r = self._call("POST", "/devices", json={"id": device_id, "kind": kind, **fields})
        if r.status_code != 201:
            raise self._refused(r, Message(N_("registering {device_id}"), device_id=device_id))
        return r.json()

    def update(self, device_id: str, changes: dict) -> dict:
        r = self._call("PATCH", f"/devices/{device_id}", json=changes)
        if r.status_code != 200:
            raise self._refused(r, Message(N_("updating {device_id}"), device_id=device_id))
        return r.json()

    def bind_unit(self, unit_id: str, device_id: str) -> dict:
        """Make device_id the unit's tracker (re-registering the unit keeps the rest of it)."""
        r = self._call("GET", f"/units/{unit_id}")
        if r.status_code != 200:
            raise self._refused(r, Message(N_("looking up unit {unit_id}"), unit_id=unit_id))
        u = r.json()
        body = {k: u[k] for k in ("id", "callsign", "agency", "type", "home_station", "home_lat", "home_lon",
                                  "capabilities") if u.get(k) is not None}
        r = self._call("POST", "/units", json={**body, "device_id": device_id})
        if r.status_code != 201:
            raise self._refused(r, Message(N_("binding {device_id} to unit {unit_id}"), device_id=device_id,
                                             unit_id=unit_id))
        return r.json()
