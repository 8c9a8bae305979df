"""Call-taking's rules (fleet_server/domain/calltaking.py through IncidentService) on every
incident store: the in-memory reference, SQLite and PostgreSQL through Alembic. An emergency taken
on the phone is routed like any other (Polri: the Polsek, its Polres the parent), audited with the
call-taker and the caller; the caller's history joins phone, SMS and AML reports from one number
however it was written (the SMS ones through the gateway's real sink), with outcomes, prank ledger
entries and the last AML fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from fleet_server.domain import center
from fleet_server.domain.jurisdiction import Jurisdiction
from fleet_server.domain.memory import MemoryIncidentStore
from fleet_server.domain.service import IncidentService, Refused, Rules
from fleet_server.sms.incident_sink import IncidentSink
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.server.conftest import FakeClock, postgres  # noqa: F401  (a fixture)

AREAS = Path(__file__).resolve().parents[2] / "fleet_server" / "data" / "bandung"
ALUN_ALUN = (-6_921_800, 107_607_100)
NUMBER = "+6281298765432"
AML = {"has_location": True, "lat": -6_914_740, "lon": 107_609_810, "method": "gnss", "radius_m": 50,
       "confidence_pct": 68}


@pytest.fixture(scope="module")
def jurisdiction():
    return Jurisdiction.load(AREAS)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def svc(request, tmp_path, jurisdiction):
    db = None
    if request.param == "memory":
        store = MemoryIncidentStore()
    else:
        url = f"sqlite:///{tmp_path / 'siaga.db'}" if request.param == "sqlite" \
            else request.getfixturevalue("postgres").new_database()
        db = Database(url)
        store = SqlIncidentStore(db)
    s = IncidentService(store, Rules(prank_flag_threshold=2), jurisdiction, clock=FakeClock())
    s.events = []
    s.listeners.append(s.events.append)
    yield s
    if db is not None:
        db.dispose()


def test_given_an_emergency_call_at_a_known_site_then_it_is_routed_to_the_polsek_under_its_polres_and_audited(svc, jurisdiction):
    inc_id = svc.phone_report("police", "  copet di alun-alun  ", "op-ani", caller_number="0812 9876 5432",
                              caller_name="Budi", located_by="site", lat_udeg=ALUN_ALUN[0], lon_udeg=ALUN_ALUN[1],
                              site="Alun-Alun Bandung")
    polsek = jurisdiction.locate(*ALUN_ALUN, "police")
    with svc.store.read() as tx:
        inc = tx.incidents.get(inc_id)
        assert (inc.type, inc.channel, inc.agency, inc.priority, inc.state) == ("emergency", "phone", "polri", 1, "new")
        assert (inc.station_id, inc.station_parent) == (polsek["id"], polsek["parent"]["id"])
        assert (inc.reporter, inc.caller_number, inc.site, inc.summary) == ("Budi", NUMBER, "Alun-Alun Bandung",
                                                                            "copet di alun-alun")
        [row] = tx.audit.actions("incident", inc_id, "phone_report")
    assert row["actor"] == "op-ani"
    assert row["detail"] == "police; taken by op-ani; caller Budi; located at known site Alun-Alun Bandung"
    assert svc.events[-1]["event"] == "created" and svc.events[-1]["incident"]["type"] == "emergency"


def test_given_a_place_not_in_the_list_then_the_call_keeps_it_as_told_and_the_command_center_routes_it(svc):
    inc_id = svc.phone_report("fire", "asap dari gudang", "op", located_by="none", lat_udeg=1, lon_udeg=2,
                              site="gudang belakang pasar, Jl. Sukamulya")
    with svc.store.read() as tx:
        inc = tx.incidents.get(inc_id)
        assert (inc.site, inc.lat_udeg, inc.loc_source, inc.station_id) == (
            "gudang belakang pasar, Jl. Sukamulya", None, "none", "112")
        [row] = tx.audit.actions("incident", inc_id, "phone_report")
    assert row["detail"].endswith("location as told: gudang belakang pasar, Jl. Sukamulya (not placed)")


@pytest.mark.parametrize("change,code", [
    (dict(category="weather"), "bad_category"),
    (dict(summary=" "), "text_needed"),
    (dict(located_by="map", lat_udeg=None), "location_needed"),
    (dict(site=""), "site_needed"),
    (dict(located_by="gps"), "bad_location"),
    (dict(caller_number="call me"), "bad_number"),
    (dict(located_by="aml"), "no_aml_fix"),
])
def test_given_a_bad_call_then_it_is_refused_with_its_reason_and_nothing_is_stored(svc, change, code):
    call = dict(category="police", summary="x", actor="op", caller_number=NUMBER, located_by="site",
                lat_udeg=ALUN_ALUN[0], lon_udeg=ALUN_ALUN[1], site="Alun-Alun Bandung")
    call.update(change)
    with pytest.raises(Refused) as e:
        svc.phone_report(**call)
    assert e.value.code == code
    assert svc.caller_history(NUMBER)["reports"] == []


def test_given_sms_aml_and_phone_reports_from_one_number_in_three_forms_then_the_history_is_one_caller(svc, jurisdiction):
    sink = IncidentSink(svc, clock=svc.clock)
    sink.on_aml(AML, sender="6281298765432", sender_masked="+62812*****432", received_at=100)
    sink.on_text_report("ada kebakaran di rumah tetangga", sender="+6281298765432", sender_masked="x", received_at=200)
    desk = svc.report("traffic", "lampu lalu lintas mati", "op", caller_number="0812-9876-5432", received_at=300.0)
    with svc.store.transaction() as tx:   # a row an earlier server stored without the plus
        legacy = tx.incidents.create_incident(
            type="report", category="unknown", agency="triage", priority=4, caller_number="6281298765432",
            channel="sms", state="new", press_count=0, alarm_count=0, received_at=50.0, last_pressed_at=50.0,
            summary="older text").id
    other = svc.report("unknown", "another caller", "op", caller_number="081200000000")
    h = svc.caller_history("62 812 9876 5432")
    assert h["number"] == NUMBER
    assert [(r["channel"], r["type"]) for r in h["reports"]] == [("phone", "report"), ("sms", "report"),
                                                               ("aml", "emergency"), ("sms", "report")]
    assert h["reports"][-1]["id"] == legacy and other not in [r["id"] for r in h["reports"]]
    assert h["last_fix"]["lat_udeg"] == AML["lat"] and (h["last_fix"]["source"], h["last_fix"]["acc_m"]) == ("gps", 50)
    assert h["reports"][0]["id"] == desk

    # Two pranks flag the number: the history says why; the next call still arrives, marked.
    sms_id, aml_id = h["reports"][1]["id"], h["reports"][2]["id"]
    svc.transition(sms_id, "prank", "op", "no fire there")
    svc.clock.advance(60)
    svc.transition(aml_id, "false_alarm", "op", "pocket dial")
    h = svc.caller_history("081298765432")
    assert h["flag"]["flagged"] is True and h["flag"]["count"] == 2
    assert [(w["incident"], w["kind"]) for w in h["flag"]["why"]] == [(sms_id, "prank"), (aml_id, "false_alarm")]
    assert {r["id"]: (r["outcome"], r["prank"]) for r in h["reports"]}[sms_id] == ("prank", True)
    handed = svc.hand_off(desk, "agency_desk", "op")
    latest = svc.caller_history(NUMBER)["reports"][0]
    assert (latest["outcome"], latest["closure_reason"]) == ("handed_off", handed["incident"]["closure_reason"])

    inc_id = svc.phone_report("medical", "ayah saya pingsan", "op-budi", caller_number=NUMBER, located_by="aml")
    medical = jurisdiction.locate(AML["lat"], AML["lon"], "medical")
    with svc.store.read() as tx:
        inc = tx.incidents.get(inc_id)
        assert (inc.lat_udeg, inc.lon_udeg, inc.loc_source, inc.loc_acc_m) == (AML["lat"], AML["lon"], "gps", 50)
        assert inc.station_id == medical["id"] and inc.prank_suspect and inc.priority == 2
        [row] = tx.audit.actions("incident", inc_id, "phone_report")
    assert f"located by the caller's AML fix (incident {aml_id}, ±50 m)" in row["detail"]
    assert "number flagged: 2 pranks/false alarms" in row["detail"]


@pytest.mark.parametrize("raw,stored", [
    ("6281298765432", NUMBER), ("62 812-9876-5432", NUMBER), ("+62 812 9876 5432", NUMBER),
    ("0812 9876 5432", NUMBER), ("0062812987654320", "+62812987654320"), ("112", "112"), ("62110", "62110"),
])
def test_given_indonesian_numbers_written_any_way_then_they_are_stored_one_way(raw, stored):
    assert center.normalize_number(raw) == stored
