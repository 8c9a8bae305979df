"""The fleet server's device registry, over its HTTP API (role technician). The server is the
source of truth for which devices exist and which broker credential hash each one has."""
from __future__ import annotations

import httpx

from fleet_server.provisioning.errors import ServerError


class DeviceRegistry:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        if not base_url:
            raise ServerError("no fleet server URL", "pass --server http://host:8112 or set SIAGA_SERVER_URL")
        if not token:
            raise ServerError("no access token", "pass --token (POST /api/v1/auth/token as a technician) "
                                                   "or set SIAGA_TOKEN")
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/api/v1", timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ServerError(f"fleet server at {self.base_url} did not answer: {e}",
                              "is `siaga serve` running, and is the URL right?") from None

    @staticmethod
    def _refused(r: httpx.Response, what: str) -> ServerError:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        hint = {401: "the token is missing or expired: log in again",
                403: "the account needs the technician role"}.get(r.status_code, "")
        return ServerError(f"{what}: server answered {r.status_code}: {str(detail)[:300]}", hint)

    def get(self, device_id: str) -> dict | None:
        r = self._call("GET", f"/devices/{device_id}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(r, f"looking up {device_id}")
        return r.json()

    def listing(self, kind: str | None = None) -> list[dict]:
        r = self._call("GET", "/devices", params={"limit": 5000, **({"kind": kind} if kind else {})})
        if r.status_code != 200:
            raise self._refused(r, "listing devices")
        return r.json()

    def register(self, device_id: str, kind: str, **fields) -> dict:
        r = self._call("POST", "/devices", json={"id": device_id, "kind": kind, **fields})
        if r.status_code != 201:
            raise self._refused(r, f"registering {device_id}")
        return r.json()

    def update(self, device_id: str, changes: dict) -> dict:
        r = self._call("PATCH", f"/devices/{device_id}", json=changes)
        if r.status_code != 200:
            raise self._refused(r, f"updating {device_id}")
        return r.json()
