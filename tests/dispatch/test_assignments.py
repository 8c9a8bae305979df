"""Assignments end to end on a real Mosquitto: the order reaches the unit's tracker on its
downlink (QoS 1, with expiry), the tracker's answer comes back on its uplink, a silent or
declining unit makes way for the next one with an alert, arrival sets "on scene" and the
citizen's button hears "dispatched" and "unit near"."""
from __future__ import annotations

import time

import pytest

from fleet_server.domain.assignments import AssignmentConfig
from fleet_server.domain.fleet import Fleet, FleetConfig
from fleet_server.domain.recommend import IncidentSite
from fleet_server.domain.units import Unit
from fleet_server.ingest.tracker_link import TrackerLink
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.dispatch.conftest import INCIDENT, north_of
from tests.dispatch.scripted import ScriptedDevice, wait_until

INC = 7
SITE = IncidentSite(INC, INCIDENT[0], INCIDENT[1], "medical")


class Center:
    """The units side of the server against the test's broker, with its events recorded."""

    def __init__(self, broker, **assignment_cfg):
        self.events: list[dict] = []
        holder = {}
        cfg = FleetConfig(assignments=AssignmentConfig(**{"ack_timeout_s": 30.0, "tick_s": 0.05, **assignment_cfg}))
        self.fleet = Fleet(publish=lambda t, p, q: holder["link"].publish(t, p, q), config=cfg,
                           on_event=self.events.append)
        self.link = holder["link"] = TrackerLink(self.fleet, broker.host, broker.port, SERVER_USER, SERVER_PASS,
                                                 client_id="test-tracking").start()
        self.fleet.start()

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def close(self) -> None:
        self.fleet.close()
        self.link.stop()


@pytest.fixture
def center(broker):
    made = []

    def make(**cfg):
        c = Center(broker, **cfg)
        made.append(c)
        return c
    try:
        yield make
    finally:
        for c in made:
            c.close()


@pytest.fixture
def devices(broker):
    made: dict[str, ScriptedDevice] = {}

    def make(dev):
        made[dev] = ScriptedDevice(broker, dev)
        return made[dev]
    try:
        yield make
    finally:
        for d in made.values():
            d.close()


def ambulance(c: Center, n: int) -> Unit:
    return c.fleet.register(Unit(id=f"AMB-{n:02d}", callsign=f"Ambulans {n}", agency="medical", type="ambulance",
                                 device_id=f"trk-amb-{n:02d}"))


def test_given_a_pressed_button_when_the_nearest_ambulance_is_ordered_and_drives_there_then_every_step_follows(center, devices):
    c = center()
    t0 = time.time()
    btn = devices("btn-gedung-sate")
    trackers = {n: devices(f"trk-amb-{n:02d}") for n in (0, 1, 2, 9)}
    for n in trackers:
        ambulance(c, n)
    # AMB-00 is nearest but its crew pressed "out of service"; AMB-09's last fix is 10 min old.
    trackers[0].report(*north_of(200), ts=t0 - 100)
    trackers[0].send("crew", ts=int(t0 - 99), crew="oos")
    trackers[9].report(*north_of(300), ts=t0 - 600)
    trackers[1].report(*north_of(1000), ts=t0 - 100)
    trackers[2].report(*north_of(3000), ts=t0 - 100)
    assert wait_until(lambda: all(c.fleet.tracking.get(f"AMB-{n:02d}").position for n in (0, 1, 2, 9))
                      and c.fleet.tracking.get("AMB-00").status == "oos")

    rec = c.fleet.dispatch.open_incident(SITE, buttons=(btn.dev,))
    assert [p.unit for p in rec.picks] == ["AMB-01", "AMB-02"]
    assert {e["unit"]: e["code"] for e in rec.excluded} == {"AMB-00": "out_of_service", "AMB-09": "stale_fix"}

    a = c.fleet.dispatch.assign(INC, "AMB-01", by="rina")
    order = trackers[1].wait_command(lambda m: m["op"] == "dispatch")
    assert order is not None, "the order never reached the tracker"
    assert (order["id"], order["inc"], order["lat"], order["lon"], order["cat"]) == (a.id, INC, INCIDENT[0], INCIDENT[1], "medical")
    assert order["exp"] - order["ts"] == c.fleet.config.assignments.order_ttl_s
    assert trackers[2].wait_command(lambda m: True, timeout=0.3) is None   # nobody else got it

    trackers[1].answer(a.id, "accepted")
    assert wait_until(lambda: c.fleet.dispatch.get(a.id).state == "accepted")
    assert c.fleet.tracking.get("AMB-01").status == "enroute"
    assert btn.wait_command(lambda m: m["op"] == "feedback" and m["state"] == "dispatched") is not None

    # The drive (fix times 15 s apart: 50-100 km/h, plausible for the filter).
    for metres, dt in ((600, -85), (400, -70)):
        trackers[1].report(*north_of(metres), ts=t0 + dt, spd=1500)
    assert btn.wait_command(lambda m: m["op"] == "feedback" and m["state"] == "near") is not None
    assert c.fleet.dispatch.get(a.id).state == "accepted"          # near, not yet there
    trackers[1].report(*north_of(50), ts=t0 - 55, spd=300)
    assert wait_until(lambda: c.fleet.dispatch.get(a.id).state == "onscene")
    assert c.fleet.tracking.get("AMB-01").status == "onscene"
    # The bridge tells the incident on its own thread: wait for the event, do not race it.
    assert wait_until(lambda: [e["state"] for e in c.of("incident.progress")] == ["dispatched", "enroute", "onscene"]), \
        [e["state"] for e in c.of("incident.progress")]
    assert [h[1] for h in c.fleet.dispatch.get(a.id).history] == ["ordered", "accepted", "onscene"]


def test_given_auto_dispatch_when_the_first_unit_never_answers_then_the_next_is_ordered_and_the_dispatcher_alerted(center, devices):
    c = center(ack_timeout_s=0.5, auto_dispatch=frozenset({"medical"}))
    t0 = time.time()
    trk1, trk2 = devices("trk-amb-01"), devices("trk-amb-02")
    ambulance(c, 1), ambulance(c, 2)
    trk1.report(*north_of(1000), ts=t0 - 5)
    trk2.report(*north_of(2000), ts=t0 - 5)
    assert wait_until(lambda: c.fleet.tracking.get("AMB-02").position)

    c.fleet.dispatch.open_incident(SITE)
    first = trk1.wait_command(lambda m: m["op"] == "dispatch")
    assert first is not None and first["id"] == f"d{INC}-1"
    # trk1 stays silent. After the ack timeout the next unit gets the order, by itself.
    second = trk2.wait_command(lambda m: m["op"] == "dispatch", timeout=5)
    assert second is not None and second["id"] == f"d{INC}-2"
    alert = c.of("dispatch.unanswered")
    assert alert and alert[0]["unit"] == "AMB-01" and alert[0]["alert"] is True and alert[0]["after_s"] >= 0.5
    assert c.of("dispatch.proposed")[0]["unit"] == "AMB-02"
    trk2.answer(second["id"], "accepted")
    assert wait_until(lambda: c.fleet.dispatch.get(second["id"]).state == "accepted")
    # trk1 wakes up and accepts late: refused (someone else is going), with a reason.
    trk1.answer(first["id"], "accepted")
    assert wait_until(lambda: c.link.rejected["bad_value"] == 1)
    assert c.fleet.dispatch.get(first["id"]).state == "unanswered"
    assert c.fleet.tracking.get("AMB-01").status == "available"


def test_given_a_declining_unit_when_it_answers_then_the_next_is_proposed_to_the_dispatcher(center, devices):
    c = center()
    t0 = time.time()
    trk1, trk2 = devices("trk-amb-01"), devices("trk-amb-02")
    ambulance(c, 1), ambulance(c, 2)
    trk1.report(*north_of(1000), ts=t0 - 5)
    trk2.report(*north_of(2000), ts=t0 - 5)
    assert wait_until(lambda: c.fleet.tracking.get("AMB-02").position)
    c.fleet.dispatch.open_incident(SITE)
    a = c.fleet.dispatch.assign(INC, "AMB-01", by="rina")
    assert trk1.wait_command(lambda m: m["op"] == "dispatch") is not None
    # While the order is open, AMB-01 is not offered to anyone else.
    assert c.fleet.dispatch.assign(INC, "AMB-01", by="rina").code == "bad_value"
    trk1.answer(a.id, "declined", why="flat tyre")
    assert wait_until(lambda: c.of("dispatch.proposed"))
    assert c.fleet.dispatch.get(a.id).state == "declined" and c.fleet.dispatch.get(a.id).why == "flat tyre"
    assert c.of("dispatch.declined")[0]["alert"] is True
    assert c.of("dispatch.proposed")[0]["unit"] == "AMB-02"
    # Not auto-dispatched: the dispatcher decides; nothing reached trk2.
    assert trk2.wait_command(lambda m: True, timeout=0.3) is None
    rec = c.fleet.dispatch.recommend(INC)
    assert [p.unit for p in rec.picks] == ["AMB-02"] and "declined" in rec.excluded[0]["reason"]


def test_given_an_order_for_one_tracker_when_another_tracker_answers_it_then_it_is_refused(center, devices):
    c = center()
    t0 = time.time()
    trk1, trk2 = devices("trk-amb-01"), devices("trk-amb-02")
    ambulance(c, 1), ambulance(c, 2)
    trk1.report(*north_of(1000), ts=t0 - 5)
    assert wait_until(lambda: c.fleet.tracking.get("AMB-01").position)
    c.fleet.dispatch.open_incident(SITE)
    a = c.fleet.dispatch.assign(INC, "AMB-01", by="rina")
    trk2.answer(a.id, "accepted")   # on its own topic (the ACL allows no other), naming trk1's order
    assert wait_until(lambda: c.link.rejected["identity_mismatch"] == 1)
    assert c.fleet.dispatch.get(a.id).state == "ordered"
