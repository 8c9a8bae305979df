"""`siaga device register-tracker` against the running server: the device is registered under its
derived id and bound to its unit, the unit keeping everything else it had."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.support.paths import REPO
from tests.support.server import FleetServer


def _siaga(args: list[str], data_dir) -> subprocess.CompletedProcess:
    """The `siaga` command as the technician runs it (its own process: it sets up its own logging)."""
    env = dict(os.environ, SIAGA_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)


def test_register_tracker_registers_and_binds_to_the_unit(broker, tmp_path):
    srv = FleetServer(tmp_path / "srv", broker).start()
    try:
        r = srv.api("POST", "/units", json={"id": "AMB-09", "callsign": "Ambulans 9", "agency": "medical",
                                            "type": "ambulance", "home_station": "RSHS", "home_lat": -6902481,
                                            "home_lon": 107618767, "capabilities": ["als"]})
        assert r.status_code == 201, r.text
        args = ["device", "register-tracker", "--protocol", "gt06", "--identifier", "864717003283581",
                "--unit", "AMB-09", "--server", srv.base_url, "--token", srv.token]
        out = _siaga(args, tmp_path / "tech")
        assert out.returncode == 0, out.stdout + out.stderr
        assert srv.api("GET", "/devices/gt06-864717003283581").json()["kind"] == "tracker"
        unit = srv.api("GET", "/units/AMB-09").json()
        assert unit["device_id"] == "gt06-864717003283581"
        assert (unit["home_lat"], unit["home_lon"], unit["capabilities"]) == (-6902481, 107618767, ["als"])
        again = _siaga(args, tmp_path / "tech")
        assert again.returncode == 0 and "already registered" in again.stdout
        no_unit = _siaga(["device", "register-tracker", "--protocol", "osmand", "--identifier", "48241179",
                          "--unit", "AMB-77", "--server", srv.base_url, "--token", srv.token], tmp_path / "tech")
        assert no_unit.returncode == 1 and "unit AMB-77 is not registered" in no_unit.stdout
        assert srv.api("GET", "/devices/osmand-48241179").status_code == 404   # nothing half-done
        bad = _siaga(["device", "register-tracker", "--protocol", "owntracks", "--identifier", "jane/has spaces",
                      "--server", srv.base_url, "--token", srv.token], tmp_path / "tech")
        assert bad.returncode == 2 and "does not make a device id" in bad.stdout
    finally:
        srv.stop()


def test_the_api_registers_a_tracker_by_protocol_and_identifier_and_binds_its_unit(broker, tmp_path):
    srv = FleetServer(tmp_path / "srv", broker).start()
    try:
        r = srv.api("POST", "/units", json={"id": "POL-05", "callsign": "Patroli 5", "agency": "police",
                                            "type": "police_car", "home_station": "Polsek Coblong"})
        assert r.status_code == 201, r.text
        body = {"kind": "tracker", "protocol": "owntracks", "identifier": "jane/nokia", "unit": "POL-05"}
        r = srv.api("POST", "/trackers", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["device"]["id"] == "owntracks-jane-nokia" and r.json()["unit"]["device_id"] == "owntracks-jane-nokia"
        assert srv.api("GET", "/devices/owntracks-jane-nokia").json()["kind"] == "tracker"
        unit = srv.api("GET", "/units/POL-05").json()
        assert (unit["device_id"], unit["home_station"]) == ("owntracks-jane-nokia", "Polsek Coblong")
        again = srv.api("POST", "/trackers", json=body)
        assert again.status_code == 200 and again.json()["created"] is False
        for bad, code, status in (({"protocol": "gt06", "identifier": "8647 1700"}, "bad_value", 422),
                                  ({"protocol": "gt06", "identifier": "864717003283581", "kind": "button"},
                                   "bad_value", 422),
                                  ({"protocol": "gt06", "identifier": "864717003283581", "unit": "NOPE"},
                                   "not_found", 404)):
            r = srv.api("POST", "/trackers", json=bad)
            assert r.status_code == status and r.json()["code"] == code and r.json()["reason"], r.text
        assert srv.api("GET", "/devices/gt06-864717003283581").status_code == 404   # nothing half-done
        viewer = srv.api("POST", "/users", json={"username": "v", "password": "password-123", "role": "viewer"})
        assert viewer.status_code == 201
        r = srv.api("POST", "/trackers", token=srv.login("v", "password-123"), json=body)
        assert r.status_code == 403
    finally:
        srv.stop()
