"""A small client of the fleet server's REST API (/api/v1), for the simulators and the demo."""
from __future__ import annotations

import httpx


class ApiError(RuntimeError):
    pass


class FleetApi:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 10.0):
        self.base = base_url.rstrip("/")
        # Drop idle connections before uvicorn does (its keep-alive is 5 s): otherwise a request can
        # go out on a socket the server is closing that instant, and fail "connection reset".
        self.http = httpx.Client(base_url=self.base + "/api/v1", timeout=timeout,
                                 limits=httpx.Limits(keepalive_expiry=2.0))
        r = self.http.post("/auth/token", data={"username": username, "password": password})
        if r.status_code != 200:
            raise ApiError(f"login as {username} failed: {r.status_code} {r.text[:200]}")
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def _check(self, r: httpx.Response) -> dict | list:
        if r.status_code >= 400:
            raise ApiError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def register_device(self, **fields) -> dict:
        r = self.http.post("/devices", json=fields)
        if r.status_code == 409:
            return self.update_device(fields["id"], **{k: v for k, v in fields.items()
                                                      if k in ("site", "lat_udeg", "lon_udeg", "category", "agency", "active")})
        return self._check(r)

    def update_device(self, device_id: str, **fields) -> dict:
        return self._check(self.http.patch(f"/devices/{device_id}", json=fields))

    def register_unit(self, **fields) -> dict:
        """A unit (callsign, agency, type, home station, bound tracker): POST /units."""
        return self._check(self.http.post("/units", json=fields))

    def create_user(self, username: str, password: str, role: str, station_id: str | None = None) -> dict:
        body = {"username": username, "password": password, "role": role}
        if station_id is not None:
            body["station_id"] = station_id   # a user of role station works at this station area
        return self._check(self.http.post("/users", json=body))

    def device(self, device_id: str) -> dict:
        return self._check(self.http.get(f"/devices/{device_id}"))

    def incidents(self, **params) -> list[dict]:
        return self._check(self.http.get("/incidents", params={"limit": 1000, **params}))

    def incident(self, incident_id: int) -> dict:
        return self._check(self.http.get(f"/incidents/{incident_id}"))

    def transition(self, incident_id: int, to_state: str, reason: str | None = None) -> dict:
        return self._check(self.http.post(f"/incidents/{incident_id}/transition",
                                          json={"to_state": to_state, "reason": reason}))

    def close(self) -> None:
        self.http.close()
