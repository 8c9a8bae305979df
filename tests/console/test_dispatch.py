"""Dispatch from the console: a dispatcher assigns the recommended unit by clicks (and by the D key),
and the unit's tracker — a registered tracker device on the real broker — receives the order."""
from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics
from protocols.rejection import Rejection
from tests.console.conftest import USERS, start_server, wait_until
from tests.support.mqtt import Recorder


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


def test_given_an_sos_and_two_ambulances_when_the_dispatcher_assigns_the_recommended_one_by_clicks_then_its_tracker_gets_the_order_and_the_incident_resolves_on_scene(server, console, make_button, trackers):
    near = trackers("trk-amb-01", "AMB-01", "Ambulans 01", -6920000, 107608000)   # about 0.2 km away
    far = trackers("trk-amb-02", "AMB-02", "Ambulans 02", -6950000, 107700000)    # about 10 km away
    btn = make_button("btn-alun-alun")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    p.page.keyboard.press("2")
    p.page.wait_for_selector("#units-board tr[data-unit='AMB-01']")
    p.page.keyboard.press("1")
    btn.press()
    p.page.click("#queue [data-incident]")
    p.page.click("button[data-act=acknowledge]")
    p.page.wait_for_selector("#inc-state:has-text('acknowledged')")
    p.page.wait_for_selector("#inc-recos .reco")
    # The nearest available ambulance comes first, with its ETA and the reasons.
    assert p.page.get_attribute("#inc-recos .reco", "data-unit") == "AMB-01"
    assert "ETA" in p.page.inner_text("#inc-recos .reco") and p.page.inner_text("#inc-recos .reco .why").strip()
    p.screenshot("incident")
    p.page.click("#inc-recos .reco[data-unit='AMB-01'] button[data-act=assign]")
    p.page.wait_for_selector("#confirm-dialog[open]")
    assert "Ambulans 01" in p.page.inner_text("#confirm-title")
    p.page.click("#confirm-ok")
    orders = wait_until(near.orders, timeout=10)
    inc_id = int(p.page.get_attribute("[data-incident-view]", "data-incident-view"))
    assert [(o["inc"], o["cat"]) for o in orders] == [(inc_id, "medical")]
    assert far.orders() == []
    p.page.wait_for_selector("#inc-assignments tr")
    assert wait_until(lambda: server.api("GET", f"/incidents/{inc_id}").json()["state"] == "dispatched")
    p.page.wait_for_selector("#inc-state:has-text('dispatched')")
    p.page.keyboard.press("2")
    p.page.wait_for_selector(f"#units-board tr[data-unit='AMB-01'] td:has-text('#{inc_id}')")
    p.screenshot("units")
    # The crew accepts and drives to the scene: dispatch sets "on scene", the clock stops, and the
    # operator can resolve with one click and a confirmation.
    near.answer(orders[0])
    p.page.keyboard.press("1")

    def arrived():
        # 0.2 km from its last fix: repeated each second until the filter finds the speed plausible.
        near.report(btn.lat, btn.lon)
        return wait_until(lambda: p.page.locator("#inc-state:has-text('onscene')").count() == 1, timeout=1)
    assert wait_until(arrived, timeout=15)
    scene = p.page.inner_text("#inc-clocks div:nth-child(3)")
    assert "running" not in scene
    p.page.click("button[data-act=resolved]")
    p.page.wait_for_selector("#confirm-dialog[open]")
    p.page.click("#confirm-ok")
    assert wait_until(lambda: server.api("GET", f"/incidents/{inc_id}").json()["state"] == "resolved")
    p.page.wait_for_selector("#queue [data-incident]", state="detached")
    assert p.errors == [] and p.outside_requests == []


def test_given_an_acknowledged_sos_when_the_dispatcher_presses_d_and_enter_then_the_top_unit_is_ordered(server, console, make_button, trackers):
    amb = trackers("trk-amb-03", "AMB-03", "Ambulans 03", -6915000, 107609000)
    btn = make_button("btn-keyboard")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    p.page.keyboard.press("j")
    p.page.wait_for_selector("[data-incident-view]")
    p.page.keyboard.press("a")
    p.page.wait_for_selector("#inc-recos .reco")
    p.page.keyboard.press("d")
    p.page.wait_for_selector("#confirm-dialog[open]")
    p.page.keyboard.press("Enter")
    assert wait_until(amb.orders, timeout=10)
    assert p.errors == []


def test_given_a_short_stale_limit_when_a_unit_stops_reporting_then_the_board_and_the_map_grey_it(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={"SIAGA_CONSOLE_STALE_FIX_S": "3"})
    tracker = None
    try:
        tracker = Tracker(srv, broker, "trk-amb-09", "AMB-09", "Ambulans 09", -6914000, 107629000)
        p = console().login(srv.base_url, "viewer", USERS["viewer"])
        p.page.wait_for_selector("#map .unit-icon:not(.stale) [data-unit='AMB-09']")
        p.page.keyboard.press("2")
        p.page.wait_for_selector("#units-board tr[data-unit='AMB-09'] td:has-text('stale')", timeout=8000)
        p.page.keyboard.press("1")
        p.page.wait_for_selector("#map .unit-icon.stale [data-unit='AMB-09']", timeout=5000)
        # A new fix brings it back.
        tracker.report(-6914100, 107629100)
        p.page.wait_for_selector("#map .unit-icon:not(.stale) [data-unit='AMB-09']", timeout=8000)
        assert p.errors == []
    finally:
        if tracker:
            tracker.close()
        srv.stop()
