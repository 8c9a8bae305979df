"""A unit position another worker accepted arrives as its feed event (fleet_server/cluster/notify.py):
this worker's unit and the recommender's index follow it, an older fix does not overwrite a newer
one, and nothing is stored or fed again."""
from __future__ import annotations

import time

from fleet_server.domain.fleet import Fleet
from fleet_server.domain.position_feed import position_event
from fleet_server.domain.recommend import IncidentSite
from fleet_server.domain.units import Position, Unit

BANDUNG = (-6_914_700, 107_609_800)


def _event(unit: Unit, lat: int, ts: float, status: str = "available") -> dict:
    u = Unit(id=unit.id, callsign=unit.callsign, agency=unit.agency, type=unit.type, status=status)
    return position_event(u, Position(lat=lat, lon=BANDUNG[1], ts=ts, received_at=ts, acc=5))


def test_given_a_position_another_worker_heard_when_applied_then_the_unit_and_recommendations_follow_once():
    fed, stored = [], []
    fleet = Fleet(lambda *a: None)
    fleet.feed.subscribe(fed.append)
    fleet.tracking.on_position(lambda u, p: stored.append(p))
    amb = fleet.register(Unit(id="AMB-01", callsign="AMB 1", agency="medical", type="ambulance",
                              device_id="trk-01"))
    now = time.time()
    assert fleet.apply_remote_position(_event(amb, BANDUNG[0], now - 5))
    assert fleet.tracking.get("AMB-01").position.lat == BANDUNG[0]
    site = IncidentSite(id=1, lat=BANDUNG[0], lon=BANDUNG[1], category="medical")
    assert [p.unit for p in fleet.recommender.recommend(site, now=now).picks] == ["AMB-01"]
    # An older fix arriving late does not move the unit back; the crew's status follows a newer one.
    assert not fleet.apply_remote_position(_event(amb, BANDUNG[0] + 50_000, now - 10))
    assert fleet.apply_remote_position(_event(amb, BANDUNG[0] + 100, now - 1, status="enroute"))
    unit = fleet.tracking.get("AMB-01")
    assert (unit.position.lat, unit.status) == (BANDUNG[0] + 100, "enroute")
    # The worker that heard it stored and fed it: nothing here is stored or fed again.
    assert stored == [] and fed == []
    assert not fleet.apply_remote_position({"type": "unit.position", "unit": "NOPE", "lat": 1, "lon": 1, "ts": now})
