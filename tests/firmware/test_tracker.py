"""The real tracker firmware (MicroPython unix binary, simulation port) against the real
Mosquitto, its GPS UART fed by simulators.gps on a pty, seen from the fleet server's side of the
wire (tests.support.firmware_center.CenterStandIn)."""
from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics
from protocols.rejection import Rejection

from simulators.gps import CaptureSource, NoFixSource, RouteSource
from simulators.gps.firmware_tracker import FirmwareTracker
from fleet_server.broker import session_user
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.support.firmware_center import CenterStandIn

TRK, TRK_PASS = "trk-amb-07", "pw-amb-07"
# Quick timings: behaviour, not real minutes.
FAST = dict(backoff_min_ms=100, backoff_max_ms=1000, keepalive_s=5, connect_timeout_ms=2000, sos_hold_ms=300)
# Bandung: RSHS hospital -> Jl. Pasteur -> Jl. Cipaganti (microdegrees)
ROUTE = [(-6896301, 107598230), (-6893000, 107598230), (-6893000, 107603000)]


@pytest.fixture
def center(broker):
    broker.add_account(TRK, TRK_PASS)
    broker.reload()
    c = CenterStandIn(broker.host, broker.port, SERVER_USER, SERVER_PASS)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def make_tracker(broker, tmp_path):
    made: list[FirmwareTracker] = []

    def make(name: str = "trk", **cfg) -> FirmwareTracker:
        opts = dict(FAST)
        opts.update(cfg)
        t = FirmwareTracker(tmp_path / name, TRK, TRK_PASS, broker.host, broker.port, **opts)
        made.append(t)
        return t

    try:
        yield make
    finally:
        for t in made:
            t.stop()


def _link_up(trk: FirmwareTracker) -> None:
    st = trk.wait_state(lambda s: s.get("link") == "up", 10)
    assert st.get("link") == "up", trk.output()[-2000:]


def _gpsd_fixes_by_time(path) -> list[dict]:
    """gpsd's decoded fixes (.chk TPV, mode >= 2, timed), one per distinct time, in order."""
    seen: dict[str, dict] = {}
    for line in path.with_name(path.name + ".chk").read_text().splitlines():
        if line.startswith('{"class":"TPV"'):
            tpv = json.loads(line)
            if tpv.get("mode", 0) >= 2 and "time" in tpv:
                seen.setdefault(tpv["time"], tpv)
    return [seen[t] for t in sorted(seen)]


def test_given_a_replayed_gpsd_capture_then_every_pos_on_the_wire_is_gpsds_fix_to_a_microdegree(
        center, make_tracker, shared_data):
    """triton400.log (with its unterminated GGA) replayed in real time, times rewritten to now
    (the wire refuses 2013): with report_s=1 every fix is reported, and each pos carries gpsd's
    own lat/lon for that epoch within 1e-6 degrees, in order."""
    capture = shared_data / "nmea" / "gpsd" / "triton400.log"
    gpsd = _gpsd_fixes_by_time(capture)
    trk = make_tracker(report_s=1, parked_s=1)
    trk.set_gps_source(CaptureSource(capture), speed=1, retime_to_now=True)
    t0 = int(time.time())
    trk.start()
    assert trk.gps.wait_done(15)
    pos = center.wait_uplinks("pos", len(gpsd), timeout=5)
    assert len(pos) == len(gpsd) == 5, (pos, trk.output()[-1500:])
    for p, g in zip(pos, gpsd):
        assert abs(p["lat"] / 1e6 - g["lat"]) <= 1e-6 and abs(p["lon"] / 1e6 - g["lon"]) <= 1e-6, (p, g)
    assert [p["seq"] for p in pos] == sorted(p["seq"] for p in pos)
    assert all(t0 <= p["ts"] <= int(time.time()) for p in pos)
    assert [p["ts"] for p in pos] == sorted(p["ts"] for p in pos)
    assert all(p["hdop"] == 15 and p["acc"] == 8 for p in pos if p["fixq"] is not None), "HDOP 1.5 x UERE 5 m"
    assert trk.state()["stats"]["nmea_rejected"] == 1, "the cut GGA, and only it"


def test_given_a_capture_replayed_five_times_faster_then_each_pos_is_one_of_gpsds_fixes_in_order(
        center, make_tracker, shared_data):
    """bu353s4.log (south-east hemisphere, a parked receiver) at 5x: the policy reports a subset
    (parked_s=1, so about every fifth fix); each one is gpsd's fix of some epoch, in capture order,
    the first fix first."""
    capture = shared_data / "nmea" / "gpsd" / "bu353s4.log"
    gpsd = [(round(g["lat"] * 1e6), round(g["lon"] * 1e6)) for g in _gpsd_fixes_by_time(capture)]
    trk = make_tracker(parked_s=1)
    trk.set_gps_source(CaptureSource(capture), speed=5, retime_to_now=True)
    trk.start()
    assert trk.gps.wait_done(15)
    time.sleep(0.6)
    pos = center.uplinks("pos")
    assert len(pos) >= 4 and (pos[0]["lat"], pos[0]["lon"]) == gpsd[0], pos
    i = 0
    for p in pos:
        while i < len(gpsd) and (abs(p["lat"] - gpsd[i][0]) > 1 or abs(p["lon"] - gpsd[i][1]) > 1):
            i += 1
        assert i < len(gpsd), f"pos {p} is not a later gpsd fix"
    assert all(p["lat"] < 0 and p["lon"] > 0 for p in pos)


def test_given_a_dispatch_order_when_the_crew_accepts_then_cmdres_accepted_carries_the_order_id(
        center, make_tracker):
    trk = make_tracker(report_s=2)
    trk.set_gps_source(RouteSource(ROUTE, 14), speed=1)
    trk.start()
    _link_up(trk)
    trk.crew("available")
    assert center.wait_uplinks("crew", 1, timeout=5)[0]["crew"] == "available"
    center.command(TRK, "dispatch", "ord-2026-0042", inc=42, lat=-6893500, lon=107601000, cat="medical",
                   note="Sesak napas, Jl. Cipaganti 12")
    assert trk.wait_orders(1, 5) == ["ord-2026-0042"]
    assert trk.wait_pattern("order", 2)
    buzzed = trk.wait_state(lambda s: s["buzzer"] == 1, 2)
    assert buzzed.get("buzzer") == 1, "the buzzer sounds while the order waits"
    assert center.uplinks("cmdres") == [], "no answer before the crew's: 'ok' would read as accepted"
    trk.accept()
    [res] = center.wait_uplinks("cmdres", 1, timeout=5)
    assert (res["id"], res["res"], res["dev"]) == ("ord-2026-0042", "accepted", TRK)
    crew = center.wait_uplinks("crew", 2, timeout=5)
    assert crew[-1]["crew"] == "enroute" and crew[-1]["seq"] > res["seq"]
    assert trk.wait_pattern("enroute", 3) and trk.pending_orders() == []
    assert trk.wait_state(lambda s: s["buzzer"] == 0, 2).get("buzzer") == 0


def test_given_an_order_nobody_accepts_then_it_expires_with_cmdres_expired_and_redelivery_is_not_a_new_order(
        center, make_tracker):
    trk = make_tracker()
    trk.set_gps_source(NoFixSource())
    trk.start()
    _link_up(trk)
    center.command(TRK, "dispatch", "ord-late", expires_in=2, inc=43, lat=-6893500, lon=107601000, cat="fire")
    center.command(TRK, "dispatch", "ord-late", expires_in=2, inc=43, lat=-6893500, lon=107601000, cat="fire")
    assert trk.wait_orders(1, 5) == ["ord-late"]
    time.sleep(0.3)
    assert trk.pending_orders() == ["ord-late"], "a QoS 1 redelivery is the same order"
    [res] = center.wait_uplinks("cmdres", 1, timeout=6)
    assert (res["id"], res["res"]) == ("ord-late", "expired") and res["why"]
    assert trk.pending_orders() == []
    trk.accept()   # too late: nothing to accept
    time.sleep(0.5)
    assert len(center.uplinks("cmdres")) == 1


def test_given_no_gps_fix_when_the_crew_holds_sos_then_the_alarm_still_arrives_with_src_none(center, make_tracker):
    trk = make_tracker(category="medical")
    trk.set_gps_source(NoFixSource())
    trk.start()
    _link_up(trk)
    assert trk.wait_pattern("no_fix", 3)
    trk.sos()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    assert (a["trig"], a["cat"], a["src"]) == ("crew", "medical", "none")
    assert (a["lat"], a["lon"], a["acc"], a["age"]) == (None, None, None, None)
    assert trk.state()["alarms"] == 1 and trk.pattern() == "sos", "kept on flash until the center's ack"
    center.ack(a)
    assert trk.wait_state(lambda s: s["alarms"] == 0, 5)["alarms"] == 0


def test_given_a_fix_when_the_crew_holds_sos_then_the_alarm_carries_the_gps_location_and_its_confidence(
        center, make_tracker):
    trk = make_tracker()
    trk.set_gps_source(RouteSource(ROUTE[:1], park_s=None), speed=1)
    trk.start()
    _link_up(trk)
    assert trk.wait_fix(5)
    trk.sos()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    assert (a["src"], a["lat"], a["lon"]) == ("gps", ROUTE[0][0], ROUTE[0][1])
    assert a["acc"] == 5 and 0 <= a["age"] <= 2, "HDOP 0.9 x 5 m, a fix of the last second or two"


def test_given_each_crew_key_and_the_ignition_then_crew_messages_follow_in_order_and_survive_a_restart(
        center, make_tracker):
    trk = make_tracker()
    trk.set_gps_source(NoFixSource())
    trk.start()
    _link_up(trk)
    for status in ("available", "enroute", "onscene", "returning", "oos"):
        trk.crew(status)
    trk.ignition(True)
    crew = center.wait_uplinks("crew", 6, timeout=5)
    assert [c["crew"] for c in crew] == ["available", "enroute", "onscene", "returning", "oos", "oos"]
    assert [c["ign"] for c in crew] == [False] * 5 + [True]
    assert trk.crew_on_flash() == "oos"
    trk.restart()
    assert trk.wait_state(lambda s: s.get("crew") == "oos", 5).get("crew") == "oos"


class PersistentInbox:
    """The fleet server's ingest as it runs in production: a persistent MQTT session (clean
    session off, QoS 1), so what devices send while it is reconnecting waits at the broker and
    reaches it only once it is back (`sessions` records the broker's session-present flag)."""

    def __init__(self, host: str, port: int):
        self.messages: list[tuple[str, dict]] = []
        self.sessions: list[bool] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="center-inbox", clean_session=False)
        # One of the server's session accounts (the broker binds the client id to it): the test's
        # CenterStandIn holds the main one.
        self.client.username_pw_set(session_user(SERVER_USER, "tracking"), SERVER_PASS)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=5)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, rc, props):
        self.sessions.append(bool(flags.session_present))
        client.subscribe(topics.subscription_up("+"), qos=1)

    def _on_message(self, client, userdata, msg):
        d = codec_json.decode(msg.payload, msg.topic)
        assert not isinstance(d, Rejection), d
        with self._cond:
            self.messages.append((msg.topic.rsplit("/", 1)[-1], d))
            self._cond.notify_all()

    def wait_for(self, wanted: set[tuple[str, int]], timeout: float) -> dict[tuple[str, int], dict]:
        """Wait (bounded) until every (type, seq) in `wanted` has arrived; returns all by (type, seq)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = {(k, d["seq"]): d for k, d in self.messages}
                left = deadline - time.monotonic()
                if wanted <= set(got) or left <= 0:
                    return got
                self._cond.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_given_the_broker_is_down_while_driving_then_positions_wait_on_flash_and_crew_status_arrives_first(
        broker, center, make_tracker):
    """Store-and-forward: the broker goes away for a few seconds of driving; positions pile up
    in the flash backlog (pos_max 4: the oldest are thinned), a crew key press meanwhile is kept
    whole; when the broker is back everything left is delivered, crew status before positions."""
    inbox = PersistentInbox(broker.host, broker.port)
    try:
        trk = make_tracker(report_s=1, pos_max=4)
        trk.set_gps_source(RouteSource(ROUTE, 14), speed=1)
        trk.start()
        _link_up(trk)
        assert center.wait_uplinks("pos", 1, timeout=5)
        time.sleep(0.5)
        before = len(inbox.messages)
        broker.stop()
        time.sleep(1.0)
        trk.crew("returning")
        time.sleep(4.0)
        waiting = trk.backlog()
        assert [n for n in waiting if n.startswith("c-")] and len([n for n in waiting if n.startswith("p-")]) <= 4
        assert trk.state()["thinned"] > 0, "five or more fixes while offline, only four kept"
        trk.unplug_gps()   # no new fixes: what is left to deliver is the outage's backlog
        broker.start()
        deadline = time.monotonic() + 10
        while (trk.backlog() or not any(k == "crew" for k, _ in inbox.messages[before:])) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert trk.backlog() == [], "every record left the flash after its PUBACK"
        after = [(k, d) for k, d in inbox.messages[before:] if k in ("crew", "pos")]
        assert after and after[0][0] == "crew" and after[0][1]["crew"] == "returning", after
        offline_pos = [d for k, d in after if k == "pos" and d["seq"] < after[0][1]["seq"]]
        assert 1 <= len(offline_pos) <= 4, "the thinned backlog of the outage followed the crew status"
    finally:
        inbox.close()


def test_given_no_fix_at_boot_when_the_gps_gets_a_fix_and_later_loses_it_then_reports_start_and_an_sos_says_src_none(
        center, make_tracker):
    """The GPS is swapped while the firmware runs (as on a real drive): first
    no fix, then a drive (positions start), then the antenna cable is cut. Once the last fix is
    older than fix_fresh_s the LED says no_fix and a crew SOS no longer vouches for a location."""
    trk = make_tracker(report_s=1, fix_fresh_s=2)
    trk.set_gps_source(NoFixSource())
    trk.start()
    _link_up(trk)
    assert trk.wait_pattern("no_fix", 3) and center.uplinks("pos") == []
    trk.set_gps_source(RouteSource(ROUTE, 14), speed=1)
    pos = center.wait_uplinks("pos", 2, timeout=5)
    assert len(pos) == 2 and pos[0]["lat"] == ROUTE[0][0] and pos[1]["lat"] > pos[0]["lat"], "driving north"
    assert trk.wait_pattern("idle", 3)
    trk.unplug_gps()
    assert trk.wait_pattern("no_fix", 5)
    trk.sos()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    assert (a["src"], a["lat"], a["age"]) == ("none", None, None)


def test_given_positions_and_crew_status_waiting_on_flash_when_the_power_is_cut_then_the_next_boot_delivers_them(
        broker, center, make_tracker):
    """The backlog is on flash, not in RAM: SIGKILL while the broker is away loses nothing that
    was queued; the next boot (a new boot number) sends the old records byte for byte."""
    inbox = PersistentInbox(broker.host, broker.port)
    try:
        trk = make_tracker(report_s=1)
        trk.set_gps_source(RouteSource(ROUTE, 14), speed=1)
        trk.start()
        _link_up(trk)
        time.sleep(0.5)
        broker.stop()
        trk.crew("onscene")
        time.sleep(2.0)
        waiting = trk.backlog()
        assert any(n.endswith("-crew") for n in waiting) and any(n.endswith("-pos") for n in waiting)
        trk.kill()
        broker.start()
        trk.start()
        deadline = time.monotonic() + 10
        while set(waiting) & set(trk.backlog()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not set(waiting) & set(trk.backlog()), trk.output()[-1500:]
        # Off the tracker's flash means PUBACKed by the broker, not yet at the center: the broker
        # holds them in the center's persistent session until its client is back from the outage
        # (paho's reconnect backoff, often after the tracker has drained).
        wanted = {(name.split("-")[2], int(name.split("-")[1])) for name in waiting}
        got = inbox.wait_for(wanted, timeout=10)
        assert inbox.sessions[-1] is True, "the broker kept the center's session across its restart"
        for name in waiting:
            lane, seq, kind = name.split("-")
            assert (kind, int(seq)) in got, f"{name} was not delivered after the power cut"
            assert got[(kind, int(seq))]["boot"] == 1, "sent as written in boot 1"
        assert trk.state()["boot"] == 2
    finally:
        inbox.close()


def test_given_config_commands_then_reporting_settings_change_and_persist_and_unknown_ones_are_refused(
        center, make_tracker):
    trk = make_tracker()
    trk.set_gps_source(NoFixSource())
    trk.start()
    _link_up(trk)
    center.command(TRK, "config", "cfg-1", cfg={"report_s": 5, "move_m": 50})
    center.command(TRK, "config", "cfg-2", cfg={"hold_ms": 100})
    center.command(TRK, "feedback", "fb-1", state="near")
    res = {r["id"]: r for r in center.wait_uplinks("cmdres", 3, timeout=5)}
    assert res["cfg-1"]["res"] == "ok"
    assert res["cfg-2"]["res"] == "rejected" and "hold_ms" in res["cfg-2"]["why"]
    assert res["fb-1"]["res"] == "rejected" and "feedback" in res["fb-1"]["why"]
    overrides = json.loads((trk.flash / "overrides.json").read_text())
    assert overrides == {"report_s": 5, "move_m": 50}
