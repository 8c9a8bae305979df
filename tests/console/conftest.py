"""Fixtures of the console tests: per test a real Mosquitto (the `broker` fixture), the real fleet
server with the console, users of each role, and panic buttons that publish real alarms through
protocols.codec_json as registered devices. The one headless Chromium is tests/conftest.py's."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics
from protocols.rejection import Rejection
from tests.support.mqtt import Recorder
from tests.support.server import FleetServer

AREAS = Path(__file__).resolve().parents[2] / "fleet_server" / "data" / "bandung"
USERS = {"viewer": "viewer-pw-1", "operator": "operator-pw-1", "dispatcher": "dispatcher-pw-1",
         "technician": "technician-pw-1"}
# Accelerated colour thresholds so a test sees amber and red in seconds, not minutes.
FAST_CLOCKS = {"SIAGA_CONSOLE_AMBER_AFTER_S": "3", "SIAGA_CONSOLE_RED_AFTER_S": "6"}


def start_server(tmp_path, broker, env: dict | None = None) -> FleetServer:
    srv = FleetServer(tmp_path / "srv", broker, env={"SIAGA_JURISDICTION_FILE": str(AREAS), **(env or {})})
    srv.start()
    try:
        for role, pw in USERS.items():
            r = srv.api("POST", "/users", json={"username": role, "password": pw, "role": role})
            assert r.status_code == 201, r.text
    except BaseException:
        srv.stop()
        raise
    return srv


# Every marker wholly inside the map pane (nothing pushed off its edge) and the topmost thing at its
# own centre (nothing covers it).
MARKERS_SHOWN = """map => {
  const m = map.getBoundingClientRect(), bad = [];
  for (const el of map.querySelectorAll('.inc-icon, .unit-mk svg')) {
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    const inside = r.left >= m.left && r.right <= m.right && r.top >= m.top && r.bottom <= m.bottom;
    const name = el.dataset.incident ? '#' + el.dataset.incident : el.parentElement.dataset.unit;
    if (!inside) bad.push(name + ' outside the map');
    else if (!hit || !(hit === el || el.contains(hit))) bad.push(name + ' covered');
  }
  return bad;
}"""


@pytest.fixture
def server(tmp_path, broker):
    srv = start_server(tmp_path, broker, env=FAST_CLOCKS)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def console(chromium):
    """Opens console pages; each is closed after the test."""
    pages = []

    def open_page():
        p = chromium.page()
        pages.append(p)
        return p

    try:
        yield open_page
    finally:
        for p in pages:
            p.close()


class Button:
    """A registered panic button: its broker account, its registry entry, and a paho client that
    publishes alarms the way the firmware does (app-level, QoS 1)."""

    def __init__(self, server, broker, device_id: str, site: str, lat: int, lon: int, category: str = "medical"):
        self.id, self.lat, self.lon, self.category = device_id, lat, lon, category
        self.seq = 0
        password = f"pw-{device_id}"
        broker.add_account(device_id, password)
        broker.reload()
        r = server.api("POST", "/devices", json={"id": device_id, "kind": "button", "site": site,
                                                  "lat_udeg": lat, "lon_udeg": lon, "category": category})
        assert r.status_code == 201, r.text
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        self.client.username_pw_set(device_id, password)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        # The ingest learns of new devices on its next registry refresh and rejects messages before
        # that ("unknown_device"); a real button re-sends from its outbox. Here the button announces
        # itself online, again, until the server shows it online: then its alarms are accepted.
        def known():
            self.status("online")
            return wait_until(lambda: server.api("GET", f"/devices/{device_id}").json()["status"] == "online", timeout=0.5)
        assert wait_until(known, timeout=10), f"the server never accepted {device_id}"

    def press(self, presses: int = 1) -> None:
        msg = {**self._next("alarm"), "ts": int(time.time()), "cat": self.category, "trig": "button", "presses": presses, "lat": self.lat, "lon": self.lon,
               "src": "fixed", "acc": 15, "age": 0}
        self.client.publish(topics.up(self.id, "alarm"), codec_json.encode(msg), qos=1).wait_for_publish(5)

    def _next(self, kind: str) -> dict:
        self.seq += 1
        return {"v": 1, "t": kind, "dev": self.id, "boot": 1, "seq": self.seq}

    def health(self, pct: int = 90, tamper: bool = False, stuck: bool = False) -> None:
        msg = {**self._next("health"), "ts": int(time.time()), "batt": 3300 + pct * 9, "pct": pct, "rssi": -71,
               "temp": 291, "tamper": tamper, "stuck": stuck, "uptime": 86400, "fw": "1.2.0", "heap": 81000, "outbox": 0}
        self.client.publish(topics.up(self.id, "health"), codec_json.encode(msg), qos=1).wait_for_publish(5)

    def status(self, state: str) -> None:
        msg = {**self._next("status"), "state": state, "kind": "button", "fw": "1.2.0"}
        self.client.publish(topics.up(self.id, "status"), codec_json.encode(msg), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def make_button(server, broker):
    with buttons_on(server, broker) as make:
        yield make


@contextmanager
def buttons_on(server, broker):
    made: list[Button] = []

    def make(device_id: str, site: str = "Taman Alun-alun Bandung", lat: int = -6921700, lon: int = 107607000,
             category: str = "medical") -> Button:
        b = Button(server, broker, device_id, site, lat, lon, category)
        made.append(b)
        return b

    try:
        yield make
    finally:
        for b in made:
            b.close()


def wait_until(predicate, timeout: float = 10.0, every: float = 0.1):
    """Poll a condition with a deadline; returns the last value (truthy on success)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = predicate()
    return value


class Tracker:
    """A unit's tracker as the protocol sees it: its own broker account, reporting a fix through
    protocols.codec_json, recording the commands the server sends it."""

    def __init__(self, server, broker, device_id: str, unit_id: str, callsign: str, lat: int, lon: int):
        self.id, self.seq = device_id, 0
        broker.add_account(device_id, f"pw-{device_id}")
        broker.reload()
        r = server.api("POST", "/devices", json={"id": device_id, "kind": "tracker", "category": "medical"})
        assert r.status_code == 201, r.text
        r = server.api("POST", "/units", json={"id": unit_id, "callsign": callsign, "agency": "medical",
                                               "type": "ambulance", "home_station": "PSC 119", "device_id": device_id})
        assert r.status_code == 201, r.text
        self.inbox = Recorder(broker.host, broker.port, device_id, f"pw-{device_id}",
                              topics=(topics.subscription_down(device_id),), client_id=device_id)
        # The ingest learns of new devices on its next registry refresh and rejects a message
        # before that ("unknown_device"), so the first fix is repeated until the unit has it.
        def placed():
            self.report(lat, lon)
            return wait_until(lambda: server.api("GET", f"/units/{unit_id}").json()["position"], timeout=0.5)
        assert wait_until(placed, timeout=10), f"{unit_id} never got a position"

    def report(self, lat: int, lon: int, hdg: int = 90) -> None:
        self.seq += 1
        msg = {"v": 1, "t": "pos", "dev": self.id, "boot": 1, "seq": self.seq, "ts": int(time.time()),
               "lat": lat, "lon": lon, "acc": 8, "spd": 0, "hdg": hdg, "fixq": 1, "sats": 9, "hdop": 9}
        self.inbox.publish(topics.up(self.id, "pos"), codec_json.encode(msg))

    def answer(self, order: dict, result: str = "accepted") -> None:
        self.seq += 1
        msg = {"v": 1, "t": "cmdres", "dev": self.id, "boot": 1, "seq": self.seq, "ts": int(time.time()),
               "id": order["id"], "res": result}
        self.inbox.publish(topics.up(self.id, "cmdres"), codec_json.encode(msg))

    def orders(self) -> list[dict]:
        out = []
        for m in self.inbox.matching(lambda m: m.topic == topics.down(self.id, "cmd")):
            cmd = codec_json.decode(m.payload, m.topic)
            assert not isinstance(cmd, Rejection), cmd
            if cmd["op"] == "dispatch":
                out.append(cmd)
        return out

    def close(self) -> None:
        self.inbox.close()


@pytest.fixture
def trackers(server, broker):
    made: list[Tracker] = []

    def make(*args) -> Tracker:
        t = Tracker(server, broker, *args)
        made.append(t)
        return t

    try:
        yield make
    finally:
        for t in made:
            t.close()
