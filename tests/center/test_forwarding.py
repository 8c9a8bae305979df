"""Forwarding with acceptance and accountability (fleet_server/domain/forwarding.py and forwards.py
through IncidentService, on the in-memory store and the Bandung station areas): the Polres gets a
Polri report first and hands it down to its Polsek; a forward left unaccepted escalates Polsek ->
Polres -> the center's supervisor, each step audited with who held it and for how long; the
accountability report counts per station and per person; the memory store, SQLite and PostgreSQL
agree."""
from __future__ import annotations

import pytest

from fleet_server.domain import forwarding as fw
from fleet_server.domain.forwards import Forwarding
from fleet_server.domain.jurisdiction import Jurisdiction
from fleet_server.domain.memory import MemoryIncidentStore
from fleet_server.domain.service import IncidentService, Refused, Rules
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from fleet_server.storage import users as user_repo
from tests.console.conftest import AREAS
from tests.server.conftest import T0, FakeClock, database_url, postgres  # noqa: F401  (fixtures: SQLite and PostgreSQL)

ANDIR = (-6_914_500, 107_576_000)        # inside Polsek Andir, under Polrestabes Bandung
POLRES, POLSEK = "polrestabes-bandung", "polsek-andir"
JURISDICTION = Jurisdiction.load(AREAS)


def _forwarding(store, rules=None):
    svc = IncidentService(store, Rules(), JURISDICTION, clock=FakeClock())
    svc.forwarding = Forwarding(svc, rules or fw.ForwardRules(accept_s=60, accept_by_agency="dinkes=30"))
    svc.events = []
    svc.listeners.append(svc.events.append)
    return svc


@pytest.fixture
def svc():
    store = MemoryIncidentStore()
    store.add_user("polres-1", POLRES)
    store.add_user("polsek-1", POLSEK)
    store.add_user("polsek-2", POLSEK)
    store.add_user("gone", POLSEK, active=False)
    return _forwarding(store)


def _report(svc, category="police", at=T0, where=ANDIR) -> int:
    return svc.report(category, "perampasan tas", "op-1", lat_udeg=where[0], lon_udeg=where[1], received_at=at)


def _trail(svc, inc, prefix="forward"):
    return [(a.action, a.actor, a.from_value, a.to_value, a.detail) for a in svc.store.audit_trail("incident", inc)
            if a.action.startswith(prefix)]


def test_the_chain_is_polres_then_polsek_for_polri_and_the_station_itself_for_the_others():
    assert fw.chain("police", POLSEK, POLRES) == [POLRES, POLSEK]
    assert fw.chain("medical", "rs-al-islam", "psc-119-bandung") == ["rs-al-islam"]
    assert fw.chain("fire", "112", None) == []
    with pytest.raises(fw.ForwardError, match="command center keeps it"):
        fw.first_target("police", "112", None)
    assert fw.ForwardRules(accept_s=60, accept_by_agency="polri=30").accept_after_s("polri") == 30
    with pytest.raises(fw.ForwardError, match="not agency=seconds"):
        fw.ForwardRules(accept_by_agency="polri=soon").check()


def test_given_a_polri_report_when_forwarded_then_the_polres_accepts_and_hands_it_to_its_polsek_all_audited(svc):
    inc = _report(svc)
    first = svc.forwarding.forward(inc, "op-1", at=T0 + 5)
    assert (first["station"], first["state"], first["holders"]) == (POLRES, "pending", ["polres-1"])
    with pytest.raises(Refused, match="already forwarded to Polrestabes Bandung"):
        svc.forwarding.forward(inc, "op-1", at=T0 + 6)
    with pytest.raises(Refused, match="you are at polsek-andir"):
        svc.forwarding.accept(first["forward"], "polsek-1", POLSEK, False, at=T0 + 7)
    acc = svc.forwarding.accept(first["forward"], "polres-1", POLRES, False, at=T0 + 25)
    assert (acc["state"], acc["accepted_by"], acc["unaccepted_s"]) == ("accepted", "polres-1", 20.0)
    down = svc.forwarding.hand_down(first["forward"], "polres-1", POLRES, False, at=T0 + 30)
    assert (down["station"], down["parent"], down["holders"]) == (POLSEK, first["forward"], ["polsek-1", "polsek-2"])
    svc.forwarding.accept(down["forward"], "polsek-2", POLSEK, False, at=T0 + 40)
    with pytest.raises(Refused, match="last station of this incident's chain"):
        svc.forwarding.hand_down(down["forward"], "polsek-2", POLSEK, False, at=T0 + 41)
    closed = svc.forwarding.close(down["forward"], "polsek-2", POLSEK, False, action_taken=True, note="pelaku diamankan",
                                  at=T0 + 300)
    assert (closed["state"], closed["outcome"]) == ("closed", "done")
    assert [(a, who, to) for a, who, _f, to, _d in _trail(svc, inc, "")[1:]] == [
        ("forwarded", "op-1", POLRES), ("forward_accepted", "polres-1", POLRES),
        ("forward_handed_down", "polres-1", POLSEK), ("forwarded", "polres-1", POLSEK),
        ("forward_accepted", "polsek-2", POLSEK), ("forward_closed", "polsek-2", "done")]
    assert [e["event"] for e in svc.events if e["event"].startswith("forward")] == [
        "forwarded", "forward_accepted", "forward_handed_down", "forwarded", "forward_accepted", "forward_closed"]


def test_given_nobody_accepts_then_it_climbs_polsek_polres_supervisor_audited_with_who_held_it_and_how_long(svc):
    inc = _report(svc)
    f = svc.forwarding.forward(inc, "op-1", station_id=POLSEK, at=T0)
    assert svc.forwarding.escalate_due(T0 + 59.9) == []
    assert svc.forwarding.escalate_due(T0 + 60) == [f["forward"]]
    [up] = [x for x in svc.forwarding.of_incident(inc)["forwards"] if x["state"] == "pending"]
    assert (up["station"], up["parent"], up["sent_by"]) == (POLRES, f["forward"], "system")
    assert svc.forwarding.escalate_due(T0 + 100) == []
    assert svc.forwarding.escalate_due(T0 + 120) == [up["forward"]]
    assert svc.forwarding.of_incident(inc)["forwards"][-1]["outcome"] == "supervisor"
    details = [(frm, to, d) for a, _w, frm, to, d in _trail(svc, inc) if a == "forward_escalated"]
    assert [(frm, to) for frm, to, _ in details] == [(POLSEK, POLRES), (POLRES, "supervisor")]
    assert details[0][2].startswith("forward 1 unaccepted at Polsek Andir for 60 s (limit 60 s; held by polsek-1, polsek-2)")
    assert details[1][2].endswith("to the center's supervisor (dispatcher)")
    report = svc.forwarding.report(T0 - 1, T0 + 1000, now=T0 + 200)
    people = {p["user"]: p for p in report["people"]}
    assert (people["polsek-1"]["received"], people["polsek-1"]["left_unaccepted"], people["polsek-1"]["held_unaccepted_s"]) == (1, 1, 60.0)
    assert (people["polres-1"]["left_unaccepted"], people["polres-1"]["held_unaccepted_s"]) == (1, 60.0)
    assert "gone" not in people
    stations = {s["station"]: s for s in report["stations"]}
    assert stations[POLSEK]["left_unaccepted"] == stations[POLRES]["left_unaccepted"] == 1


def test_the_report_counts_accepted_with_p50_and_max_returned_and_closed_without_action_per_station_and_person(svc):
    times = []
    for n, wait in enumerate((10, 20, 40)):
        inc = _report(svc, at=T0 + n)
        f = svc.forwarding.forward(inc, "op-1", station_id=POLSEK, at=T0 + n)
        svc.forwarding.accept(f["forward"], "polsek-1" if n < 2 else "polsek-2", POLSEK, False, at=T0 + n + wait)
        times.append(f["forward"])
    svc.forwarding.close(times[0], "polsek-1", POLSEK, False, action_taken=False, note="tidak ditemukan", at=T0 + 90)
    inc = _report(svc, at=T0 + 5)
    f = svc.forwarding.forward(inc, "op-1", station_id=POLSEK, at=T0 + 5)
    with pytest.raises(Refused, match="needs a reason"):
        svc.forwarding.return_(f["forward"], "polsek-2", POLSEK, False, " ")
    # The center records a return the Polsek phoned in: audited as done for the station.
    back = svc.forwarding.return_(f["forward"], "op-1", None, True, "bukan wilayah kami", at=T0 + 15)
    assert back["state"] == "returned"
    assert _trail(svc, inc)[-1][4].endswith("(recorded by the center for Polsek Andir)")
    r = svc.forwarding.report(T0 - 1, T0 + 1000, now=T0 + 100)
    [st] = r["stations"]
    assert (st["received"], st["accepted"], st["accept_p50_s"], st["accept_max_s"], st["closed_without_action"],
            st["left_unaccepted"]) == (4, 3, 20.0, 40.0, 1, 0)
    people = {p["user"]: p for p in r["people"]}
    assert (people["polsek-1"]["accepted"], people["polsek-1"]["accept_max_s"]) == (2, 20.0)
    assert (people["polsek-2"]["accepted"], people["polsek-2"]["accept_p50_s"]) == (1, 40.0)
    assert people["polsek-1"]["received"] == 4 and people["polsek-1"]["closed_without_action"] == 1


def test_given_automatic_forwarding_and_a_closed_incident_then_it_is_forwarded_once_and_its_pending_forward_closes(svc):
    svc.forwarding = Forwarding(svc, fw.ForwardRules(accept_s=60, auto_agencies="polri"))
    svc.register_device("btn-1", "button", "tech", site="Andir", lat_udeg=ANDIR[0], lon_udeg=ANDIR[1], category="police")
    from tests.server.conftest import alarm
    inc = svc.ingest_alarm(alarm("btn-1", 1, cat="police", ts=T0, lat=ANDIR[0], lon=ANDIR[1]), "mqtt", T0).incident_id
    medical = _report(svc, "medical")   # a non-emergency of another agency: never forwarded by the system
    assert len(svc.forwarding.auto_forward_due(T0 + 1)) == 1
    assert svc.forwarding.auto_forward_due(T0 + 2) == []
    assert svc.forwarding.of_incident(medical)["forwards"] == []
    [f] = svc.forwarding.of_incident(inc)["forwards"]
    assert (f["station"], f["sent_by"]) == (POLRES, "system")
    svc.transition(inc, "false_alarm", "op-1", reason="anak bermain", at=T0 + 10)
    assert svc.forwarding.close_finished(T0 + 11) == [f["forward"]]
    [f] = svc.forwarding.of_incident(inc)["forwards"]
    assert (f["state"], f["outcome"], f["ended_by"]) == ("closed", "no_action", "system")
    assert svc.forwarding.report(T0 - 1, T0 + 100, now=T0 + 20)["stations"][0]["closed_without_action"] == 1


def _day(svc) -> list:
    out = []
    a = _report(svc)
    b = _report(svc, "medical", at=T0 + 1, where=(-6_940_800, 107_665_300))   # RS Al Islam
    out.append(svc.forwarding.forward(a, "op-1", at=T0 + 2))
    out.append(svc.forwarding.forward(b, "op-1", at=T0 + 3))
    out.append(svc.forwarding.accept(out[0]["forward"], "polres-1", POLRES, False, at=T0 + 10))
    out.append(svc.forwarding.hand_down(out[0]["forward"], "polres-1", POLRES, False, at=T0 + 12))
    out.append(svc.forwarding.tick(T0 + 40))      # the hospital's 30 s (dinkes) passed: up to PSC 119
    out.append(svc.forwarding.tick(T0 + 80))      # the Polsek's 60 s and PSC 119's 30 s passed
    out.append(svc.forwarding.at_station(POLRES))
    out.append(svc.forwarding.current())
    out.append(svc.forwarding.report(T0, T0 + 1000, now=T0 + 100))
    return out


def test_given_the_same_forwarding_day_on_the_memory_store_and_on_sql_then_both_answer_the_same(database_url):
    memory = MemoryIncidentStore()
    db = Database(database_url)
    try:
        with db.session() as s:
            for name, station in (("polres-1", POLRES), ("polsek-1", POLSEK), ("polsek-2", POLSEK), ("gone", POLSEK)):
                memory.add_user(name, station, active=name != "gone")
                u = user_repo.create(s, name, "x", "station", T0, station)
                u.active = name != "gone"
        on_memory, on_sql = _day(_forwarding(memory)), _day(_forwarding(SqlIncidentStore(db)))
        assert on_memory == on_sql
        assert on_memory[4]["escalated"] == [2] and on_memory[5]["escalated"] == [3, 4]
        assert [f["station"] for f in on_memory[6]] == [POLRES]
    finally:
        db.dispose()
