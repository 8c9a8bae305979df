"""The center's rules (fleet_server/domain/center.py through IncidentService) on both incident
stores, the in-memory reference and SQLite through Alembic: reclassifying a triage incident moves
its station, handing off a non-emergency closes it with a reference, and pranks count per caller's
number, which is stored in full and shown masked."""
from __future__ import annotations

from pathlib import Path

import pytest

from fleet_server.domain import center
from fleet_server.domain.jurisdiction import Jurisdiction
from fleet_server.domain.memory import MemoryIncidentStore
from fleet_server.domain.service import IncidentService, Refused, Rules
from fleet_server.storage import incidents as incident_repo
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.server.conftest import FakeClock, alarm

AREAS = Path(__file__).resolve().parents[2] / "fleet_server" / "data" / "bandung"
GEDUNG_SATE = (-6_902_500, 107_618_800)
NUMBER = "+6281234567890"


@pytest.fixture(scope="module")
def jurisdiction():
    return Jurisdiction.load(AREAS)


@pytest.fixture(params=["memory", "sqlite"])
def svc(request, tmp_path, jurisdiction):
    db = None
    if request.param == "memory":
        store = MemoryIncidentStore()
    else:
        db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
        store = SqlIncidentStore(db)
    s = IncidentService(store, Rules(prank_flag_threshold=2), jurisdiction, clock=FakeClock())
    s.events = []
    s.listeners.append(s.events.append)
    yield s
    if db is not None:
        db.dispose()


def _audit(svc, incident_id):
    with svc.store.read() as tx:
        if isinstance(svc.store, MemoryIncidentStore):
            return [(a.actor, a.action, a.from_value, a.to_value, a.detail)
                    for a in svc.store.audit_trail("incident", incident_id)]
        from fleet_server.storage import audit as audit_repo
        return [(a.actor, a.action, a.from_value, a.to_value, a.detail)
                for a in audit_repo.listing(tx.session, entity="incident", entity_id=str(incident_id))]


def test_given_an_untyped_button_in_triage_when_reclassified_to_police_then_station_and_class_follow_audited(svc, jurisdiction):
    svc.register_device("btn-1", "button", "tech", site="Gedung Sate", lat_udeg=GEDUNG_SATE[0],
                        lon_udeg=GEDUNG_SATE[1], category="unknown")
    r = svc.ingest_alarm(alarm("btn-1", 1, cat="unknown", lat=GEDUNG_SATE[0], lon=GEDUNG_SATE[1], src="gps"),
                         "mqtt", 1.0)
    with svc.store.read() as tx:
        inc = tx.incidents.get(r.incident_id)
        assert (inc.category, inc.agency, inc.station_id) == ("unknown", "triage", "112")
    expected = jurisdiction.locate(*GEDUNG_SATE, "police")["id"]
    view = svc.reclassify(r.incident_id, "police", 1, "caller reports a robbery in progress", "op-ani")
    assert (view["category"], view["agency"], view["priority"]) == ("police", "polri", 1)
    assert view["station"]["id"] == expected and expected.startswith("polsek-")
    assert ("op-ani", "reclassified", "unknown/triage/P2", "police/polri/P1",
            f"caller reports a robbery in progress (station {expected})") in _audit(svc, r.incident_id)
    assert svc.events[-1]["event"] == "reclassified" and svc.events[-1]["incident"]["agency"] == "polri"


@pytest.mark.parametrize("change,code", [
    (dict(category="weather", priority=1, reason="x"), "bad_category"),
    (dict(category="fire", priority=0, reason="x"), "bad_priority"),
    (dict(category="fire", priority=1, reason="  "), "reason_needed"),
    (dict(category="fire", priority=1, reason="x", agency="army"), "bad_agency"),
])
def test_given_a_bad_reclassification_then_it_is_refused_with_its_reason_and_nothing_changes(svc, change, code):
    inc_id = svc.caller_location(*GEDUNG_SATE, "gnss", 12, "AML", "sms:aml")
    with pytest.raises(Refused) as e:
        svc.reclassify(inc_id, actor="op", **change)
    assert e.value.code == code
    with svc.store.read() as tx:
        assert tx.incidents.get(inc_id).category == "unknown"


def test_given_a_closed_incident_when_reclassified_then_refused(svc):
    inc_id = svc.caller_location(*GEDUNG_SATE, "gnss", 12, "AML", "sms:aml")
    svc.transition(inc_id, "cancelled", "op", "caller hung up, nothing wrong")
    with pytest.raises(Refused) as e:
        svc.reclassify(inc_id, "fire", 1, "late", "op")
    assert e.value.code == "closed"


def test_given_a_non_emergency_when_handed_off_then_closed_with_reference_audited_and_never_open(svc):
    inc_id = svc.report("unknown", "street light out on Jl. Dago", "op-budi", caller_number="0812 3456 7890")
    out = svc.hand_off(inc_id, "complaints", "op-budi", reference="LAPOR-77812")
    assert out["reference"] == "LAPOR-77812" and out["incident"]["state"] == "handed_off"
    assert out["incident"]["clocks"]["closed_at"] is not None
    assert ("op-budi", "handed_off", "new", "complaints",
            "Public complaints service (LAPOR!), reference LAPOR-77812") in _audit(svc, inc_id)
    with pytest.raises(Refused) as e:
        svc.hand_off(inc_id, "complaints", "op-budi")
    assert e.value.code == "closed"
    with pytest.raises(Refused) as e:
        svc.transition(inc_id, "acknowledged", "op-budi")
    assert e.value.code == "illegal_transition"
    second = svc.report("unknown", "pothole", "op-budi")
    assert svc.hand_off(second, "agency_desk", "op-budi")["reference"] == f"112-AGENCY_DESK-{second:06d}"


def test_given_an_emergency_or_an_unknown_channel_when_handed_off_then_refused(svc):
    emergency = svc.caller_location(*GEDUNG_SATE, "gnss", 12, "AML", "sms:aml")
    with pytest.raises(Refused) as e:
        svc.hand_off(emergency, "complaints", "op")
    assert e.value.code == "not_a_report"
    report = svc.report("unknown", "noise", "op")
    with pytest.raises(Refused) as e:
        svc.hand_off(report, "facebook", "op")
    assert e.value.code == "unknown_channel" and "complaints" in e.value.reason


def test_given_pranks_from_one_number_over_sms_and_aml_then_the_number_is_flagged_and_its_next_report_arrives_marked(svc):
    first = svc.caller_location(*GEDUNG_SATE, "gnss", 12, "AML", "sms:aml", caller_number=NUMBER)
    svc.transition(first, "prank", "op", "laughing, hung up")
    assert svc.caller_flag(first)["flag"]["flagged"] is False
    second = svc.report("unknown", "fire at my neighbour (not true)", "sms", caller_number="081234567890")
    svc.transition(second, "false_alarm", "op", "nothing there")
    flag = svc.caller_flag(second)
    assert flag["number"] == "+62812*****890"
    assert flag["flag"] == {"count": 2, "last_prank_at": svc.clock(), "flagged": True, "threshold": 2}
    third = svc.caller_location(*GEDUNG_SATE, "gnss", 12, "AML", "sms:aml", caller_number=NUMBER)
    with svc.store.read() as tx:
        inc = tx.incidents.get(third)
        assert inc.prank_suspect and inc.priority == 3 and inc.caller_number == NUMBER  # in full, stored
    assert svc.events[-1]["incident"]["caller"] == NUMBER      # in full: the API and feed mask by role
    other = svc.caller_location(*GEDUNG_SATE, "gnss", 12, "AML", "sms:aml", caller_number="+6285700000001")
    with svc.store.read() as tx:
        assert not tx.incidents.get(other).prank_suspect


def test_given_a_number_that_is_not_one_then_the_operator_is_told_and_sms_senders_never_lose_the_report(svc):
    with pytest.raises(Refused) as e:
        svc.report("unknown", "x", "op", caller_number="call me")
    assert e.value.code == "bad_number"
    assert center.usable_number("TELKOMSEL") is None
    assert center.normalize_number("0812-3456-7890") == NUMBER


def test_given_the_channel_list_setting_then_bad_entries_are_refused_by_name():
    assert center.parse_channels("desk=Agency desk, lapor=LAPOR!") == {"desk": "Agency desk", "lapor": "LAPOR!"}
    assert "complaints" in center.parse_channels("")
    with pytest.raises(center.RuleError) as e:
        center.parse_channels("desk=Agency desk,Bad Code")
    assert "Bad Code" in e.value.reason


def test_given_a_broken_channel_setting_when_handing_off_then_refused_with_the_bad_entry_and_the_report_stays_open():
    svc = IncidentService(MemoryIncidentStore(), Rules(handoff_channels="desk=Desk,oops"), clock=FakeClock())
    inc_id = svc.report("unknown", "pothole", "op")
    with pytest.raises(Refused) as e:
        svc.hand_off(inc_id, "desk", "op")
    assert e.value.code == "bad_channel_list" and "oops" in e.value.reason
    with svc.store.read() as tx:
        assert tx.incidents.get(inc_id).state == "new"


def test_given_the_sql_store_then_the_full_number_is_in_the_database(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        svc = IncidentService(SqlIncidentStore(db), Rules(), clock=FakeClock())
        inc_id = svc.report("unknown", "x", "op", caller_number=NUMBER)
        with db.read() as s:
            assert incident_repo.get(s, inc_id).caller_number == NUMBER
    finally:
        db.dispose()
