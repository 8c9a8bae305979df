"""The units and dispatch API over real HTTP (uvicorn on a loopback port) with the core's real
database (its migrations) and real access tokens: list/get units, history as a GeoJSON
LineString, recommendations, assignments, and the role each route needs."""
from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI

from fleet_server.api import refusals
from fleet_server.api.routes.auth import create_user_record
from fleet_server.api.security import issue_token
from fleet_server.broker.mosquitto import free_port
from fleet_server.api.routes import units as units_api
from fleet_server.app import open_fleet
from fleet_server.storage.db import Database
from tests.units.conftest import CENTRE, ambulance, pos_msg

SECRET = "test-secret-for-the-units-api-0123456789"


@pytest.fixture
def server(tmp_path):
    """The units router on a real HTTP server, the way the app includes it (under /api/v1)."""
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    sent: list[tuple[str, bytes, int]] = []
    fleet = open_fleet(db.engine, lambda t, p, q: sent.append((t, p, q)), persist_batch=10, persist_delay_s=0.05)
    app = FastAPI()
    app.state.db, app.state.jwt_secret, app.state.fleet = db, SECRET, fleet
    api = APIRouter(prefix="/api/v1")
    api.include_router(units_api.router)
    app.include_router(api)
    refusals.install(app)
    tokens = {}
    for role in ("viewer", "dispatcher", "technician"):
        made = create_user_record(db, role, "pw-" + role, role, "test")
        tokens[role] = {"Authorization": "Bearer " + issue_token(SECRET, role, role, 600, user_id=made["id"])}
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.started, "uvicorn did not start"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=5) as http:
            yield http, tokens, fleet, sent
    finally:
        srv.should_exit = True
        th.join(10)
        fleet.close()
        db.dispose()


def test_given_a_technician_when_units_are_registered_then_everyone_on_shift_can_list_and_get_them(server):
    http, tok, fleet, _ = server
    body = {"id": "AMB-01", "callsign": "Ambulans 1", "agency": "medical", "type": "ambulance",
            "home_station": "RSHS", "capabilities": ["als"], "device_id": "trk-amb-01"}
    assert http.post("/units", json=body, headers=tok["viewer"]).status_code == 403
    assert http.post("/units", json=body).status_code == 401
    r = http.post("/units", json=body, headers=tok["technician"])
    assert r.status_code == 201 and r.json()["device_id"] == "trk-amb-01"
    bad = http.post("/units", json=body | {"id": "X-1", "agency": "navy"}, headers=tok["technician"])
    assert bad.status_code == 422 and "agency 'navy'" in bad.text
    taken = http.post("/units", json=body | {"id": "AMB-02"}, headers=tok["technician"])
    assert taken.status_code == 422 and "already bound" in taken.text
    units = http.get("/units", headers=tok["viewer"]).json()
    assert [u["id"] for u in units] == ["AMB-01"] and units[0]["stale"] is True  # no fix yet
    assert http.get("/units/AMB-01", headers=tok["viewer"]).json()["callsign"] == "Ambulans 1"
    assert http.get("/units/NOPE", headers=tok["viewer"]).status_code == 404
    assert http.get("/units", params={"agency": "fire"}, headers=tok["viewer"]).json() == []


def test_given_a_driven_track_when_history_is_asked_then_it_is_a_geojson_linestring(server):
    http, tok, fleet, _ = server
    fleet.register(ambulance(1))
    t0 = time.time() - 100
    for i in range(5):
        fleet.handle("pos", pos_msg("trk-amb-01", t0 + 10 * i, CENTRE[0] + 1000 * i, CENTRE[1], seq=i), t0 + 10 * i)
    feature = http.get("/units/AMB-01/history", headers=tok["viewer"]).json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    coords = feature["geometry"]["coordinates"]
    assert len(coords) == 5 and coords[0] == [CENTRE[1] / 1e6, CENTRE[0] / 1e6]     # [lon, lat]
    assert coords[-1][1] == pytest.approx((CENTRE[0] + 4000) / 1e6)
    assert feature["properties"]["times"] == [float(int(t0 + 10 * i)) for i in range(5)]
    since = http.get("/units/AMB-01/history", params={"since": int(t0) + 25}, headers=tok["viewer"]).json()
    assert since["properties"]["count"] == 2
    unit = http.get("/units/AMB-01", headers=tok["viewer"]).json()
    assert unit["stale"] is False and unit["position"]["lat"] == CENTRE[0] + 4000


def test_given_an_incident_when_a_dispatcher_assigns_the_recommended_unit_then_the_order_is_published(server):
    http, tok, fleet, sent = server
    fleet.register(ambulance(1))
    now = time.time()
    fleet.handle("pos", pos_msg("trk-amb-01", now - 5, CENTRE[0] + 9000, CENTRE[1], acc=5), now)
    site = {"id": 12, "lat": CENTRE[0], "lon": CENTRE[1], "category": "medical", "buttons": ["btn-01"]}
    assert http.post("/dispatch/incidents", json=site, headers=tok["viewer"]).status_code == 403
    assert http.post("/dispatch/incidents", json=site, headers=tok["dispatcher"]).status_code == 201
    rec = http.get("/dispatch/incidents/12/recommendations", headers=tok["viewer"]).json()
    assert [p["unit"] for p in rec["picks"]] == ["AMB-01"] and rec["picks"][0]["reasons"]
    assert http.get("/dispatch/incidents/99/recommendations", headers=tok["viewer"]).status_code == 404
    order = {"incident": 12, "unit": "AMB-01", "note": "lantai 2"}
    assert http.post("/dispatch/assignments", json=order, headers=tok["viewer"]).status_code == 403
    r = http.post("/dispatch/assignments", json=order, headers=tok["dispatcher"])
    assert r.status_code == 201 and r.json()["by"] == "dispatcher" and r.json()["state"] == "ordered"
    assert sent and sent[-1][0] == "siaga/v1/dev/trk-amb-01/down/cmd" and sent[-1][2] == 1
    again = http.post("/dispatch/assignments", json=order, headers=tok["dispatcher"])
    assert again.status_code == 409 and "already has order" in again.json()["reason"]
    listed = http.get("/dispatch/assignments", params={"incident": 12}, headers=tok["viewer"]).json()
    assert [a["id"] for a in listed] == [r.json()["id"]]
    cancelled = http.post(f"/dispatch/assignments/{r.json()['id']}/cancel", headers=tok["dispatcher"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
