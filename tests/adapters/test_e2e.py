"""End to end: the fleet server process with its GT06 listener, HTTP endpoints and OwnTracks link,
on a real Mosquitto. A GT06 SOS becomes exactly one incident (sent twice, still one) and its unit
moves; an OsmAnd phone and an OwnTracks phone move their units."""
from __future__ import annotations

import json
import socket
import time

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.adapters import binding
from fleet_server.adapters.gt06 import framing
from fleet_server.broker.mosquitto import free_port
from tests.adapters.test_transports import IMEI, _gps_frame, _login, _sos_frame

UNITS = [("gt06", "AMB-01", IMEI), ("osmand", "AMB-02", "48241179"), ("owntracks", "POL-03", "jane/nokia"),
         ("owntracks", "POL-04", "bob/pixel")]


@pytest.fixture
def center_with_adapters(broker, tmp_path):
    from tests.support.center import Center
    gt06_port = free_port()
    c = Center(broker, tmp_path / "center", env={"SIAGA_ADAPTERS_GT06_PORT": str(gt06_port),
                                                 "SIAGA_ADAPTERS_OWNTRACKS_MQTT": "true"})
    c.server.start()
    try:
        for proto, unit, ident in UNITS:
            dev = binding.device_id(proto, ident)
            r = c.server.api("POST", "/devices", json={"id": dev, "kind": "tracker"})
            assert r.status_code == 201, r.text
            agency, type_ = ("police", "police_car") if unit.startswith("POL") else ("medical", "ambulance")
            r = c.server.api("POST", "/units", json={"id": unit, "callsign": unit, "agency": agency, "type": type_,
                                                     "device_id": dev})
            assert r.status_code == 201, r.text
        broker.add_account("jane", "jane-phone-secret")
        broker.reload()
        c.gt06_port = gt06_port
        yield c
    finally:
        c.server.stop()


def _unit_lat(c, unit_id):
    r = c.server.api("GET", f"/units/{unit_id}")
    assert r.status_code == 200, r.text
    p = r.json()["position"]
    return None if p is None else p["lat"]


def _wait(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return fn()


def _send(port, frames, answers_wanted, timeout=10.0):
    out = []
    reader = framing.FrameReader()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for f in frames:
            s.sendall(f)
        deadline = time.monotonic() + timeout
        while len(out) < answers_wanted and time.monotonic() < deadline:
            data = s.recv(1024)
            if not data:
                break
            out += reader.feed(data)
    return out


VIEWER = ("viewer", "viewer-pw-1")
UNIT_MARKER = "#map .unit-icon:has([data-unit='AMB-01'])"


def _marker_y(page) -> float:
    """The unit marker's place in the map's layer (Leaflet's translate3d), independent of panning."""
    return page.eval_on_selector(UNIT_MARKER, "el => new DOMMatrixReadOnly(getComputedStyle(el).transform).m42")


def _metric(c, line: str) -> bool:
    return line in httpx.get(c.server.base_url + "/metrics", timeout=10).text


def test_gt06_sos_is_one_incident_and_moves_its_unit_on_the_console(center_with_adapters, chromium):
    c = center_with_adapters
    assert c.server.api("POST", "/users", json={"username": VIEWER[0], "password": VIEWER[1],
                                                 "role": "viewer"}).status_code == 201
    page = chromium.page()
    try:
        page.login(c.server.base_url, *VIEWER)
        now = time.time()
        acks = _send(c.gt06_port, [_login(), _gps_frame(2, now - 120, -6.91, 107.60)], 2)
        assert [a.type for a in acks] == [0x01, 0x12]
        page.page.wait_for_selector(UNIT_MARKER, state="attached")
        y0 = _marker_y(page.page)
        # The SOS, 1.1 km further south, sent twice (a tracker that missed the first answer).
        sos = _sos_frame(77, now - 2, -6.9202, 107.6001)
        acks = _send(c.gt06_port, [_login(3), sos], 2)
        assert [a.type for a in acks] == [0x01, 0x16] and acks[1].serial == 77 and acks[1].crc_ok
        # Answered only after commit: the incident is there the moment the answer is.
        assert len(c.incidents()) == 1
        again = _send(c.gt06_port, [_login(9), sos], 2)
        assert [a.type for a in again] == [0x01, 0x16]
        assert len(c.incidents()) == 1
        assert _wait(lambda: _unit_lat(c, "AMB-01") == -6920200)
        # South is down the screen: the marker moved on the dispatcher's map, and the SOS is queued.
        page.page.wait_for_function(
            "([sel, y0]) => { const el = document.querySelector(sel);"
            " return el && new DOMMatrixReadOnly(getComputedStyle(el).transform).m42 > y0 + 20; }",
            arg=[UNIT_MARKER, y0], timeout=10_000)
        page.page.wait_for_selector("#queue [data-incident]")
        assert page.page.locator("#queue [data-incident]").count() == 1
        assert page.errors == [] and page.outside_requests == []
    finally:
        page.close()
    assert _metric(c, 'siaga_adapter_reports_total{kind="alarm",protocol="gt06",result="ok"} 2')
    assert _metric(c, "siaga_gt06_connections")


def test_refusals_are_counted_by_reason_on_metrics(center_with_adapters):
    c = center_with_adapters
    stranger = framing.build(0x01, 1, bytes.fromhex("0359339075005244") + b"\x00\x00")
    assert _send(c.gt06_port, [stranger], 1, timeout=3) == []          # not registered: closed unanswered
    bad_crc = bytearray(_gps_frame(4, time.time(), -6.9, 107.6))
    bad_crc[-4] ^= 0xFF
    assert [a.type for a in _send(c.gt06_port, [_login(), bytes(bad_crc), _gps_frame(5, time.time(), -6.9, 107.6)],
                                  2)] == [0x01, 0x12]                  # the bad frame unanswered, the next one taken
    base = c.server.base_url
    assert httpx.get(base + "/adapters/osmand", params={"id": "99999", "lat": "1", "lon": "2"}, timeout=10).status_code == 400
    assert httpx.get(base + "/adapters/osmand", params={"lat": "1", "lon": "2"}, timeout=10).status_code == 400
    enc = httpx.post(base + "/adapters/owntracks", headers={"X-Limit-U": "jane", "X-Limit-D": "nokia"},
                     json={"_type": "encrypted", "data": "AAAA"}, timeout=10)
    assert enc.status_code == 400 and enc.json()["code"] == "encrypted" and "key" in enc.json()["reason"]
    for line in ('{kind="frame",protocol="gt06",result="unknown_device"} 1',
                 '{kind="frame",protocol="gt06",result="bad_checksum"} 1',
                 '{kind="request",protocol="osmand",result="unknown_device"} 1',
                 '{kind="request",protocol="osmand",result="no_identity"} 1',
                 '{kind="request",protocol="owntracks",result="encrypted"} 1'):
        assert _metric(c, "siaga_adapter_reports_total" + line), line


def test_osmand_and_owntracks_phones_move_their_units(center_with_adapters, broker):
    c = center_with_adapters
    now = int(time.time())
    r = httpx.get(c.server.base_url + "/adapters/osmand",
                  params={"id": "48241179", "lat": "-6.9175", "lon": "107.6191", "timestamp": str(now - 1)}, timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert _wait(lambda: _unit_lat(c, "AMB-02") == -6917500)
    # The phone was heard: the supervisor's batched last-seen update records it.
    dev = binding.device_id("osmand", "48241179")
    assert _wait(lambda: (c.server.api("GET", f"/devices/{dev}").json().get("last_seen") or 0) >= now - 10)

    phone = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="owntracks-jane-nokia")
    phone.username_pw_set("jane", "jane-phone-secret")
    phone.connect(broker.host, broker.port)
    phone.loop_start()
    try:
        msg = {"_type": "location", "tid": "j1", "tst": now, "lat": -6.9034, "lon": 107.6183, "acc": 8, "vel": 20}
        phone.publish("owntracks/jane/nokia", json.dumps(msg), qos=1).wait_for_publish(10)
        assert _wait(lambda: _unit_lat(c, "POL-03") == -6903400)
        # Jane's phone cannot speak for Bob's: the broker's ACL drops it, Bob's unit stays unplaced.
        phone.publish("owntracks/bob/pixel", json.dumps(dict(msg, tst=now + 1)), qos=1).wait_for_publish(10)
        phone.publish("owntracks/jane/nokia", json.dumps(dict(msg, lat=-6.9035, tst=now + 2)), qos=1).wait_for_publish(10)
        assert _wait(lambda: _unit_lat(c, "POL-03") == -6903500)
        assert _unit_lat(c, "POL-04") is None
        # A region transition on .../event (its fix moves the unit), and an encrypted payload with
        # no key configured: refused with its reason, counted.
        transition = {"_type": "transition", "event": "enter", "tid": "j1", "tst": now + 3, "lat": -6.9036,
                      "lon": 107.6183, "acc": 10, "desc": "Pos Damkar Sukajadi", "wtst": now - 999}
        phone.publish("owntracks/jane/nokia/event", json.dumps(transition), qos=1).wait_for_publish(10)
        assert _wait(lambda: _unit_lat(c, "POL-03") == -6903600)
        phone.publish("owntracks/jane/nokia", json.dumps({"_type": "encrypted", "data": "AAAA"}), qos=1).wait_for_publish(10)
        assert _wait(lambda: _metric(c, 'siaga_adapter_reports_total{kind="message",protocol="owntracks",'
                                        'result="encrypted"} 1'))
        assert _metric(c, 'siaga_adapter_reports_total{kind="event",protocol="owntracks",result="ok"} 1')
    finally:
        phone.loop_stop()
        phone.disconnect()
    # The app's last will, published by the broker when the phone drops off the network unannounced.
    dev = binding.device_id("owntracks", "jane/nokia")
    lost = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="owntracks-jane-nokia-2")
    lost.username_pw_set("jane", "jane-phone-secret")
    lost.will_set("owntracks/jane/nokia", json.dumps({"_type": "lwt", "tst": now}), qos=1)
    lost.connect(broker.host, broker.port, keepalive=30)
    lost.loop_start()
    try:
        assert _wait(lambda: lost.is_connected())
        lost.socket().shutdown(socket.SHUT_RDWR)      # no DISCONNECT: the broker sends the will
    finally:
        lost.loop_stop()
    assert _wait(lambda: c.server.api("GET", f"/devices/{dev}").json()["status"] == "offline")
    back = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="owntracks-jane-nokia-3")
    back.username_pw_set("jane", "jane-phone-secret")
    back.connect(broker.host, broker.port)
    back.loop_start()
    try:
        msg = {"_type": "location", "tid": "j1", "tst": now + 9, "lat": -6.9040, "lon": 107.6183}
        back.publish("owntracks/jane/nokia", json.dumps(msg), qos=1).wait_for_publish(10)
        assert _wait(lambda: c.server.api("GET", f"/devices/{dev}").json()["status"] == "online")
        assert _unit_lat(c, "POL-03") == -6904000
    finally:
        back.loop_stop()
        back.disconnect()
