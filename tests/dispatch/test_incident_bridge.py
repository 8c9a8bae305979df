"""Dispatch joined to the core's incidents (real IncidentService on a real SQLite database with
the core's migrations): a located emergency opens for dispatch by itself, the order, the
acceptance and the arrival walk the incident to dispatched, enroute and on scene with the
audit actor "dispatch", and closing the incident frees the unit's open order."""
from __future__ import annotations

import time

from protocols import codec_json
from fleet_server.app import open_fleet
from fleet_server.domain.assignments import AssignmentConfig
from fleet_server.domain.fleet import FleetConfig
from fleet_server.domain.incident_bridge import IncidentBridge
from fleet_server.domain.service import IncidentService, Rules
from fleet_server.domain.units import Unit
from fleet_server.storage import incidents as incident_repo
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.dispatch.conftest import INCIDENT, north_of
from tests.units.conftest import pos_msg


def alarm(dev: str, seq: int, ts: float) -> dict:
    msg = {"v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": seq, "ts": int(ts), "cat": "medical", "trig": "button",
           "presses": 1, "lat": INCIDENT[0], "lon": INCIDENT[1], "src": "fixed", "acc": 5, "age": 0}
    out = codec_json.decode(codec_json.encode(msg))
    assert isinstance(out, dict), out
    return out


def cmdres(dev: str, order: str, res: str) -> dict:
    out = codec_json.decode(codec_json.encode({"v": 1, "t": "cmdres", "dev": dev, "boot": 1, "seq": 5,
                                               "ts": int(time.time()), "id": order, "res": res}))
    assert isinstance(out, dict), out
    return out


def state_of(db: Database, incident_id: int) -> str:
    with db.read() as s:
        return incident_repo.get(s, incident_id).state


def test_given_a_located_alarm_when_a_unit_is_ordered_accepts_and_arrives_then_the_incident_follows(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules())
    sent: list[tuple[str, bytes, int]] = []
    seen: list[dict] = []
    fleet = open_fleet(db.engine, lambda t, p, q: sent.append((t, p, q)),
                       FleetConfig(assignments=AssignmentConfig(button_feedback=False)))
    bridge = IncidentBridge(fleet, service, forward=seen.append)
    fleet.dispatch.on_event = bridge.on_dispatch_event
    service.listeners.append(bridge.on_service_event)
    try:
        service.register_device("btn-sate", "button", "test", category="medical", lat_udeg=INCIDENT[0], lon_udeg=INCIDENT[1])
        fleet.register(Unit(id="AMB-01", callsign="Ambulans 1", agency="medical", type="ambulance", device_id="trk-amb-01"))
        now = time.time()
        fleet.handle("pos", pos_msg("trk-amb-01", now - 100, *north_of(1000), acc=5), now)

        result = service.ingest_alarm(alarm("btn-sate", 1, now), "mqtt", now)
        inc = result.incident_id
        rec = fleet.dispatch.recommend(inc)
        assert [p.unit for p in rec.picks] == ["AMB-01"], "the bridge opened the incident for dispatch"
        assert state_of(db, inc) == "new"

        order = fleet.dispatch.assign(inc, "AMB-01", by="rina")
        assert state_of(db, inc) == "dispatched"
        fleet.handle("cmdres", cmdres("trk-amb-01", order.id, "accepted"), time.time())
        assert state_of(db, inc) == "enroute"
        fleet.handle("pos", pos_msg("trk-amb-01", now - 80, *north_of(500), acc=5), now)
        fleet.handle("pos", pos_msg("trk-amb-01", now - 60, *north_of(40), acc=5), now)
        assert state_of(db, inc) == "onscene"
        with db.read() as s:
            row = incident_repo.get(s, inc)
            assert row.onscene_at == float(int(now - 60)) and row.dispatched_at is not None
        assert [e["state"] for e in seen if e["type"] == "incident.progress"] == ["dispatched", "enroute", "onscene"]
        assert not any(t.endswith("btn-sate/down/cmd") for t, _, _ in sent), "feedback left to the core here"
    finally:
        fleet.close()
        db.dispose()


def test_given_an_open_order_when_the_incident_is_closed_then_the_order_is_cancelled(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules())
    fleet = open_fleet(db.engine, lambda *a: None)
    bridge = IncidentBridge(fleet, service)
    fleet.dispatch.on_event = bridge.on_dispatch_event
    service.listeners.append(bridge.on_service_event)
    try:
        service.register_device("btn-sate", "button", "test", category="medical", lat_udeg=INCIDENT[0], lon_udeg=INCIDENT[1])
        fleet.register(Unit(id="AMB-01", callsign="Ambulans 1", agency="medical", type="ambulance", device_id="trk-amb-01"))
        now = time.time()
        fleet.handle("pos", pos_msg("trk-amb-01", now - 10, *north_of(1000), acc=5), now)
        inc = service.ingest_alarm(alarm("btn-sate", 1, now), "mqtt", now).incident_id
        order = fleet.dispatch.assign(inc, "AMB-01", by="rina")
        service.transition(inc, "false_alarm", actor="rina", reason="kids pressing it")
        assert fleet.dispatch.get(order.id).state == "cancelled"
        assert fleet.dispatch.recommend(inc).code == "bad_value"   # forgotten by dispatch
    finally:
        fleet.close()
        db.dispose()
