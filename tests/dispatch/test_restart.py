"""Dispatch survives a restart of the server: the open incidents and every order are kept in the
database (real SQLite file), so after a restart the unit already on its way still arrives "on
scene", and the next order for the incident gets a new id."""
from __future__ import annotations

import time

from protocols import codec_json
from fleet_server.app import open_fleet
from fleet_server.domain.recommend import IncidentSite
from fleet_server.domain.units import Unit
from fleet_server.storage.db import make_engine, upgrade
from tests.dispatch.conftest import INCIDENT, north_of
from tests.units.conftest import pos_msg

SITE = IncidentSite(31, INCIDENT[0], INCIDENT[1], "fire")


def accepted(dev: str, order: str) -> dict:
    return codec_json.decode(codec_json.encode({"v": 1, "t": "cmdres", "dev": dev, "boot": 1, "seq": 9,
                                                "ts": int(time.time()), "id": order, "res": "accepted"}))


def test_given_a_unit_on_its_way_when_the_server_restarts_then_its_arrival_still_sets_on_scene(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'siaga.db'}")
    upgrade(engine)
    sent: list[tuple[str, bytes, int]] = []
    now = time.time()
    try:
        before = open_fleet(engine, lambda t, p, q: sent.append((t, p, q)))
        try:
            for n in (1, 2):
                before.register(Unit(id=f"DMK-0{n}", callsign=f"Damkar {n}", agency="fire", type="fire_truck",
                                     device_id=f"trk-dmk-0{n}"))
                before.handle("pos", pos_msg(f"trk-dmk-0{n}", now - 100, *north_of(1000 * n), acc=5), now)
            before.dispatch.open_incident(SITE, buttons=("btn-braga",))
            declined_first = before.dispatch.assign(SITE.id, "DMK-02", by="rina")
            before.dispatch.cancel(declined_first.id, by="rina")
            order = before.dispatch.assign(SITE.id, "DMK-01", by="rina")
            before.handle("cmdres", accepted("trk-dmk-01", order.id), now)
            before.handle("pos", pos_msg("trk-dmk-01", now - 80, *north_of(450), acc=5), now)   # near sent
            assert before.dispatch.get(order.id).near_sent
        finally:
            before.close()
        near_sent_before = sum(1 for t, p, _ in sent if b'"state":"near"' in p)

        after = open_fleet(engine, lambda t, p, q: sent.append((t, p, q)))
        try:
            a = after.dispatch.get(order.id)
            assert (a.state, a.unit, a.by, a.near_sent) == ("accepted", "DMK-01", "rina", True)
            assert [h[1] for h in a.history] == ["ordered", "accepted"]
            assert after.dispatch.get(declined_first.id).state == "cancelled"
            after.handle("pos", pos_msg("trk-dmk-01", now - 60, *north_of(30), acc=5), now)
            assert after.dispatch.get(order.id).state == "onscene"
            assert after.tracking.get("DMK-01").status == "onscene"
            # "near" is not sent twice across the restart; the next order continues the numbering.
            assert sum(1 for t, p, _ in sent if b'"state":"near"' in p) == near_sent_before == 1
            nxt = after.dispatch.assign(SITE.id, "DMK-02", by="rina")
            assert nxt.id == f"d{SITE.id}-3"
            # A closed incident is not restored.
            after.dispatch.close_incident(SITE.id, by="rina")
        finally:
            after.close()
        again = open_fleet(engine, lambda *a: None)
        try:
            assert again.dispatch.assignments() == [] and again.dispatch.recommend(SITE.id).code == "bad_value"
        finally:
            again.close()
    finally:
        engine.dispose()
