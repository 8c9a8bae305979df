"""End to end on real parts: a real Mosquitto (the `broker` fixture), the whole fleet server as a
subprocess, and a paho client standing in for a button (tests/dispatch and tests/firmware run the
real firmware against the same server)."""
import json
import time

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics
from tests.conftest import OBSERVER_PASS, OBSERVER_USER
from tests.support.mqtt import Recorder

BANDUNG = (-6_914_700, 107_609_800)


class Device:
    """A stand-in button: its own broker account, publishes on its own uplink topics."""

    def __init__(self, broker, dev_id: str):
        self.id = dev_id
        broker.add_account(dev_id, f"pw-{dev_id}")
        broker.reload()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=dev_id)
        self.client.username_pw_set(dev_id, f"pw-{dev_id}")
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()

    def alarm(self, seq: int, boot: int = 1, **over) -> dict:
        a = {"v": 1, "t": "alarm", "dev": self.id, "boot": boot, "seq": seq, "ts": int(time.time()), "cat": "medical",
             "trig": "button", "presses": 1, "lat": None, "lon": None, "src": "none", "acc": None, "age": None}
        a.update(over)
        return a

    def send(self, msg: dict | bytes, kind: str = "alarm") -> None:
        payload = msg if isinstance(msg, bytes) else codec_json.encode(msg)
        self.client.publish(topics.up(self.id, kind), payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def observer(broker):
    rec = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS)
    try:
        yield rec
    finally:
        rec.close()


@pytest.fixture
def devices(broker):
    made = []

    def make(dev_id):
        d = Device(broker, dev_id)
        made.append(d)
        return d
    try:
        yield make
    finally:
        for d in made:
            d.close()


def _register(srv, dev_id, **kw):
    body = {"id": dev_id, "kind": "button", "site": "Taman Lansia", "lat_udeg": BANDUNG[0], "lon_udeg": BANDUNG[1],
            "category": "medical"}
    body.update(kw)
    r = srv.api("POST", "/devices", json=body)
    assert r.status_code == 201, r.text


def _acks(observer, dev_id, count=1, timeout=10.0):
    got = observer.wait_for(lambda m: m.topic == topics.down(dev_id, "ack"), count=count, timeout=timeout)
    return [codec_json.decode(m.payload, m.topic) for m in got]


def _metric(srv, name, **labels) -> float:
    text = httpx.get(srv.base_url + "/metrics", timeout=10).text
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def _wait(pred, timeout=10.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return pred()


def test_given_a_button_when_it_sends_an_alarm_then_the_incident_is_committed_and_acked_and_its_led_follows(
        fleet_server, observer, devices):
    srv = fleet_server.start()
    _register(srv, "btn-taman")
    btn = devices("btn-taman")
    btn.send(btn.alarm(1))
    [ack] = _acks(observer, "btn-taman")
    assert (ack["boot"], ack["seq"]) == (1, 1)
    inc = srv.api("GET", f"/incidents/{ack['inc']}").json()  # committed before the ack was sent
    assert inc["state"] == "new" and inc["agency"] == "dinkes" and inc["location"]["source"] == "fixed"
    assert inc["clocks"]["received_at"] >= inc["clocks"]["pressed_at"] - 1
    btn.send(btn.alarm(1))  # the outbox resends: same incident, acked again
    assert [a["inc"] for a in _acks(observer, "btn-taman", count=2)] == [ack["inc"]] * 2
    assert len(srv.api("GET", "/incidents").json()) == 1
    for state in ("acknowledged", "dispatched", "onscene"):
        assert srv.api("POST", f"/incidents/{ack['inc']}/transition", json={"to_state": state}).status_code == 200
    cap = srv.api("GET", f"/incidents/{ack['inc']}/cap")
    assert cap.status_code == 200 and b"<msgType>Update</msgType>" in cap.content  # CAP 1.2 of a live incident
    cmds = observer.wait_for(lambda m: m.topic == topics.down("btn-taman", "cmd"), count=2)
    feedback = [codec_json.decode(m.payload, m.topic) for m in cmds]
    assert [(c["op"], c["state"], c["inc"]) for c in feedback] == [("feedback", "dispatched", ack["inc"]),
                                                                     ("feedback", "near", ack["inc"])]


def test_given_bad_messages_then_each_is_refused_counted_by_reason_and_the_ingest_keeps_going(
        fleet_server, observer, devices, broker):
    srv = fleet_server.start()
    _register(srv, "btn-good")
    good = devices("btn-good")
    stranger = devices("btn-stranger")  # has a broker account, but the server never registered it
    good.send(b"{not json")
    good.send(b"\xff\xfe")
    good.send(codec_json.encode(good.alarm(1, dev="btn-other")))           # payload speaks for another device
    good.send(codec_json.encode(good.alarm(2)).replace(b'"presses":1', b'"presses":-1'))
    stranger.send(stranger.alarm(1))
    good.send(good.alarm(3))
    [ack] = _acks(observer, "btn-good")
    assert ack["seq"] == 3  # the valid alarm after the garbage still went through
    assert _wait(lambda: _metric(srv, "siaga_ingest_rejected_total", reason="unknown_device") == 1)
    for reason in ("truncated", "not_utf8", "identity_mismatch", "out_of_range"):
        assert _metric(srv, "siaga_ingest_rejected_total", reason=reason) == 1, reason
    assert observer.matching(lambda m: m.topic == topics.down("btn-stranger", "ack")) == []
    log = srv.output()
    assert '"reason": "identity_mismatch"' in log and "topic device btn-good is not payload device btn-other" in log
    assert srv.running


def test_given_the_server_killed_after_commit_but_before_the_ack_then_after_restart_the_ack_comes_and_no_duplicate(
        fleet_server, observer, devices):
    srv = fleet_server
    srv.env["SIAGA_FAULT_DELAY_ACK_S"] = "30"   # commit, then wait: the kill lands in that gap
    srv.start()
    _register(srv, "btn-crash")
    btn = devices("btn-crash")
    btn.send(btn.alarm(1))
    assert _wait(lambda: srv.api("GET", "/incidents").json(), timeout=10)  # committed
    srv.kill()
    assert _acks(observer, "btn-crash", timeout=0.5) == []
    srv.restart(env={"SIAGA_FAULT_DELAY_ACK_S": "0"})
    # Nothing resent by the device: the broker redelivers the alarm the server never PUBACKed.
    [ack] = _acks(observer, "btn-crash", timeout=15)
    btn.send(btn.alarm(1))  # and the device's outbox resending changes nothing
    acks = _acks(observer, "btn-crash", count=2)
    incidents = srv.api("GET", "/incidents").json()
    assert len(incidents) == 1 and {a["inc"] for a in acks} == {incidents[0]["id"]}
    assert len(srv.api("GET", f"/incidents/{ack['inc']}").json()["alarms"]) == 1


def test_given_the_server_down_when_a_button_sends_then_the_alarm_waits_in_the_broker_and_is_acked_after_start(
        fleet_server, observer, devices):
    srv = fleet_server.start()
    _register(srv, "btn-wait")
    btn = devices("btn-wait")
    srv.kill()
    btn.send(btn.alarm(9))
    assert _acks(observer, "btn-wait", timeout=0.5) == []
    srv.restart()
    [ack] = _acks(observer, "btn-wait", timeout=15)
    assert ack["seq"] == 9 and srv.api("GET", f"/incidents/{ack['inc']}").status_code == 200


def test_given_alarms_waiting_through_a_restart_then_they_are_routed_by_the_areas_and_reach_the_live_parts(
        fleet_server, observer, devices):
    """The alarm lane starts before the HTTP app (fleet_server/core.py): the alarms handled then
    are still routed to their station, one incident each, and their events reach the app's
    listeners once it is up (dispatch opens each one)."""
    srv = fleet_server.start()
    gedung_sate = (-6_902_500, 107_618_800)   # inside Polsek Bandung Wetan's area
    for n in range(3):
        _register(srv, f"btn-early-{n}", category="police", lat_udeg=gedung_sate[0] - 20_000 * n,
                  lon_udeg=gedung_sate[1])
    btns = [devices(f"btn-early-{n}") for n in range(3)]
    srv.kill()
    for n, b in enumerate(btns):
        b.send(b.alarm(7, cat="police", lat=gedung_sate[0] - 20_000 * n, lon=gedung_sate[1], src="gps", acc=5, age=1))
    srv.restart()
    acks = [_acks(observer, b.id, timeout=15)[0] for b in btns]
    assert len({a["inc"] for a in acks}) == 3
    first = srv.api("GET", f"/incidents/{acks[0]['inc']}").json()
    assert first["station"]["id"] == "polsek-bandung-wetan", first["station"]
    assert "alarm ingest started ahead of the HTTP app" in srv.output()
    # Dispatch knows an incident only from the service's events: those held while the app started.
    for a in acks:
        assert _wait(lambda: srv.api("GET", f"/dispatch/incidents/{a['inc']}/recommendations").status_code == 200)


def test_given_the_server_status_then_birth_is_retained_the_will_says_offline_and_each_start_has_a_new_epoch(
        fleet_server, broker):
    srv = fleet_server.start()

    def status():
        rec = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS, topics=(topics.SERVER_STATUS,))
        try:
            got = rec.wait_for(lambda m: m.retain, timeout=5)
            return codec_json.decode_server_status(got[-1].payload) if got else None
        finally:
            rec.close()

    first = status()
    assert first["state"] == "online" and first["epoch"] == srv.api("GET", "/../../healthz").json()["epoch"]
    srv.kill()
    assert _wait(lambda: (status() or {}).get("state") == "offline", timeout=10)
    srv.restart()
    again = status()
    assert again["state"] == "online" and again["epoch"] != first["epoch"]


def test_given_heartbeats_then_a_silent_button_goes_offline_and_every_device_is_unknown_while_the_broker_is_down(
        fleet_server, devices, broker):
    srv = fleet_server
    srv.env.update({"SIAGA_BUTTON_HEARTBEAT_S": "1", "SIAGA_HEARTBEAT_MISSES_OFFLINE": "2"})
    srv.start()
    _register(srv, "btn-hb")
    btn = devices("btn-hb")
    health = {"v": 1, "t": "health", "dev": "btn-hb", "boot": 1, "seq": 1, "ts": int(time.time()), "batt": 3900,
              "pct": 80, "rssi": -71, "tamper": True, "stuck": False, "uptime": 55, "fw": "1.0.0"}
    btn.send({"v": 1, "t": "status", "dev": "btn-hb", "boot": 1, "seq": 0, "state": "online", "kind": "button",
              "fw": "1.0.0"}, kind="status")
    btn.send(health, kind="health")
    d = _wait(lambda: (lambda j: j if j["health"]["tamper"] else None)(srv.api("GET", "/devices/btn-hb").json()))
    assert d["status"] == "online" and d["health"]["battery_mv"] == 3900 and d["health"]["firmware"] == "1.0.0"
    assert any(a["action"] == "device_tamper" for a in d["audit"])
    assert _wait(lambda: srv.api("GET", "/devices/btn-hb").json()["status"] == "offline", timeout=10)
    broker.stop()
    try:
        assert _wait(lambda: srv.api("GET", "/devices").json()[0]["status"] == "unknown", timeout=10)
        assert _metric(srv, "siaga_broker_link_up") == 0
    finally:
        broker.start()
    assert _wait(lambda: _metric(srv, "siaga_broker_link_up") == 1, timeout=40)


def test_given_a_console_on_the_feed_then_incident_events_arrive_and_a_missing_token_is_refused(fleet_server, devices,
                                                                                                 observer):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    srv = fleet_server.start()
    ws_url = srv.base_url.replace("http", "ws") + "/api/v1/feed"
    with connect(ws_url, open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1008
    _register(srv, "btn-feed")
    btn = devices("btn-feed")
    with connect(f"{ws_url}?token={srv.token}", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        btn.send(btn.alarm(1))
        ev = json.loads(ws.recv(timeout=10))
        while ev["type"] != "incident":  # device events (online) may come first
            ev = json.loads(ws.recv(timeout=10))
    assert ev["event"] == "created" and ev["incident"]["origin_device_id"] == "btn-feed"
