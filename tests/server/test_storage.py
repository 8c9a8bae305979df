"""Storage and the IncidentService on both engines (SQLite WAL file, PostgreSQL): dedupe by the
database's unique key, folding, lifecycle with audit, prank ledger, escalation, supervision."""
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from fleet_server.domain.service import IncidentService, NotFound, Refused
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import incidents as incident_repo
from fleet_server.settings import REPO_ROOT
from fleet_server.storage.db import HEAD, Database, head_revision, upgrade
from fleet_server.storage.models import Alarm
from fleet_server.storage.repositories import SqlIncidentStore
from tests.server.conftest import T0, alarm, new_device_id

BANDUNG = (-6_914_700, 107_609_800)  # Gedung Sate


def _button(service, lat=BANDUNG[0], lon=BANDUNG[1], category="medical", site="Gedung Sate"):
    dev = new_device_id()
    service.register_device(dev, "button", "tech", site=site, lat_udeg=lat, lon_udeg=lon, category=category)
    return dev


def test_given_a_new_database_then_migrations_run_to_head_and_running_them_again_changes_nothing(db):
    with db.read() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    upgrade(db.engine)  # a restart runs upgrade head again
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    if db.dialect == "sqlite":
        with db.read() as s:
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_given_a_stored_alarm_when_the_same_device_boot_seq_is_inserted_again_then_the_database_refuses_it(db, service):
    dev = _button(service)
    service.ingest_alarm(alarm(dev, 1), "mqtt", T0)
    with pytest.raises(IntegrityError):
        with db.session() as s:
            s.add(Alarm(device_id=dev, boot=1, seq=1, via="sms", pressed_at=T0, received_at=T0, category="medical",
                        trigger="button", presses=1, loc_source="none", prank_flagged=False))


def test_given_the_audit_when_anyone_updates_or_deletes_a_row_then_the_database_refuses(db, service):
    _button(service)
    for stmt in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.session() as s:
                s.execute(text(stmt))
    with db.read() as s:
        assert all(a.actor == "tech" for a in audit_repo.listing(s))


def test_given_an_alarm_when_it_arrives_twice_by_mqtt_and_sms_then_one_incident_and_one_alarm(service, db):
    dev = _button(service)
    first = service.ingest_alarm(alarm(dev, 5), "mqtt", T0 + 1)
    again = service.ingest_alarm(alarm(dev, 5), "sms", T0 + 40)
    assert first.created_incident and not first.duplicate_alarm
    assert again.duplicate_alarm and again.incident_id == first.incident_id and not again.created_incident
    with db.read() as s:
        alarms = incident_repo.alarms_of(s, first.incident_id)
        inc = incident_repo.get(s, first.incident_id)
    assert [(a.via, a.seq) for a in alarms] == [("mqtt", 5)]
    assert inc.press_count == 1 and inc.received_at == T0 + 1 and inc.pressed_at == T0


def test_given_repeated_presses_and_a_nearby_button_then_they_fold_into_one_incident_with_a_count(service, db):
    a = _button(service)
    b = _button(service, lat=BANDUNG[0] - 900)            # 100 m south
    far = _button(service, lat=BANDUNG[0] - 9000)         # 1 km south
    r1 = service.ingest_alarm(alarm(a, 1, ts=T0, presses=1), "mqtt", T0 + 1)
    r2 = service.ingest_alarm(alarm(a, 2, ts=T0 + 20, presses=3), "mqtt", T0 + 21)
    r3 = service.ingest_alarm(alarm(b, 1, ts=T0 + 60), "mqtt", T0 + 61)
    r4 = service.ingest_alarm(alarm(far, 1, ts=T0 + 60), "mqtt", T0 + 61)
    r5 = service.ingest_alarm(alarm(a, 3, ts=T0 + 60 + 301 + 60), "mqtt", T0 + 500)  # past the window
    assert r1.created_incident and r2.incident_id == r1.incident_id == r3.incident_id
    assert r4.created_incident and r4.incident_id != r1.incident_id
    assert r5.created_incident and r5.incident_id not in (r1.incident_id, r4.incident_id)
    with db.read() as s:
        inc = incident_repo.get(s, r1.incident_id)
        assert (inc.press_count, inc.alarm_count) == (5, 3)
        assert incident_repo.devices_of(s, r1.incident_id) == sorted([a, b])


def test_given_a_button_without_a_fix_then_the_incident_has_its_mounted_location_marked_fixed(service, db):
    dev = _button(service, category="fire")
    r = service.ingest_alarm(alarm(dev, 1, cat="unknown"), "mqtt", T0)
    with db.read() as s:
        inc = incident_repo.get(s, r.incident_id)
    assert (inc.lat_udeg, inc.lon_udeg, inc.loc_source) == (BANDUNG[0], BANDUNG[1], "fixed")
    assert (inc.category, inc.agency, inc.priority) == ("fire", "damkar", 1)
    assert inc.station_id == "112"  # no station areas configured: the command center itself


def test_given_an_unregistered_or_inactive_device_then_its_alarm_is_refused_with_a_reason(service):
    with pytest.raises(Refused) as e:
        service.ingest_alarm(alarm("ghost", 1), "mqtt", T0)
    assert e.value.code == "unknown_device"
    dev = _button(service)
    service.update_device(dev, {"active": False}, "tech")
    with pytest.raises(Refused):
        service.ingest_alarm(alarm(dev, 1), "mqtt", T0)


def test_given_an_incident_when_it_moves_through_its_life_then_every_clock_and_audit_row_is_kept(service, db, clock):
    dev = _button(service)
    inc = service.ingest_alarm(alarm(dev, 1), "mqtt", T0 + 2).incident_id
    steps = [("acknowledged", 10), ("dispatched", 30), ("enroute", 40), ("onscene", 250), ("resolved", 900)]
    for state, at in steps:
        service.transition(inc, state, "op-ani", at=T0 + at)
    with pytest.raises(Refused, match="already closed"):
        service.transition(inc, "cancelled", "op-ani", "oops")
    with db.read() as s:
        i = incident_repo.get(s, inc)
        trail = [(a.action, a.from_value, a.to_value, a.actor) for a in audit_repo.listing(s, "incident", str(inc))]
    assert (i.acknowledged_at, i.dispatched_at, i.enroute_at, i.onscene_at, i.closed_at) == tuple(T0 + a for _, a in steps)
    assert trail[0][0] == "incident_created" and trail[0][3] == f"device:{dev}"
    assert trail[1:] == [("transition", a, b, "op-ani") for a, b in
                         zip(("new",) + tuple(s for s, _ in steps[:-1]), (s for s, _ in steps))]


def test_given_an_illegal_transition_then_it_is_refused_and_nothing_changes(service, db):
    inc = service.ingest_alarm(alarm(_button(service), 1), "mqtt", T0).incident_id
    with pytest.raises(Refused) as e:
        service.transition(inc, "onscene", "op")
    assert e.value.code == "illegal_transition" and "cannot go from new to onscene" in e.value.reason
    with pytest.raises(NotFound):
        service.transition(987654, "acknowledged", "op")
    with db.read() as s:
        assert incident_repo.get(s, inc).state == "new"


def test_given_pranks_past_the_threshold_then_the_device_is_flagged_and_its_alarms_still_arrive_marked(service, db):
    dev = _button(service, site="Terminal Leuwipanjang")
    for seq, closure in ((1, "prank"), (2, "false_alarm")):
        inc = service.ingest_alarm(alarm(dev, seq, ts=T0 + seq * 1000), "mqtt", T0 + seq * 1000).incident_id
        service.transition(inc, closure, "op", "nobody there")
    later = service.ingest_alarm(alarm(dev, 3, ts=T0 + 5000), "mqtt", T0 + 5000)
    assert later.created_incident and later.prank_flagged
    with db.read() as s:
        inc = incident_repo.get(s, later.incident_id)
        counts = incident_repo.prank_counts(s)
        flagged = [a for a in audit_repo.listing(s, "device", dev) if a.action == "prank_flagged"]
    assert inc.prank_suspect and inc.priority == 2
    assert counts["by_device"][dev] == 2 and counts["by_site"]["Terminal Leuwipanjang"] >= 2 and len(flagged) == 1
    service.update_device(dev, {"prank_flagged": False}, "tech")  # the technician visited
    assert not service.ingest_alarm(alarm(dev, 4, ts=T0 + 9000), "mqtt", T0 + 9000).prank_flagged


def test_given_an_unacknowledged_incident_then_it_climbs_each_rung_of_the_ladder_once_at_its_time(service, db, clock):
    inc = service.ingest_alarm(alarm(_button(service), 1), "mqtt", T0).incident_id
    assert service.escalate_due(T0 + 59) == []
    assert service.escalate_due(T0 + 60) == [inc]     # the supervisor's rung (60 s here)
    assert service.escalate_due(T0 + 119) == []
    assert service.escalate_due(T0 + 120) == [inc]    # the center head's rung (120 s here)
    assert service.escalate_due(T0 + 600) == []
    with db.read() as s:
        row = incident_repo.get(s, inc)
        assert row.escalated_at == T0 + 120 and row.escalation_level == 2
        first, second = [a for a in audit_repo.listing(s, "incident", inc) if a.action == "escalated"]
    # Already at the top priority: audited, but never as a change that did not happen ("1 -> 1").
    assert row.priority == 1
    assert (first.from_value, first.to_value) == (None, None) and "already at the top priority 1" in first.detail
    assert first.detail.startswith("to the supervisor (dispatcher): unacknowledged for 60 s")
    assert second.detail.startswith("to the center head (admin): unacknowledged for 120 s")


def test_given_a_report_then_it_has_its_own_type_and_queue_and_never_folds_with_emergencies(service, db):
    dev = _button(service)
    sos = service.ingest_alarm(alarm(dev, 1), "mqtt", T0).incident_id
    rep = service.report("disaster", "pohon tumbang di Jl. Dago", "op", reporter="warga", lat_udeg=BANDUNG[0],
                         lon_udeg=BANDUNG[1], received_at=T0 + 1)
    with db.read() as s:
        assert [i.id for i in incident_repo.listing(s, type="report")] == [rep]
        assert sos in [i.id for i in incident_repo.listing(s, type="emergency")]
        assert incident_repo.get(s, rep).priority == 4
    with pytest.raises(Refused):
        service.report("aliens", "?", "op")


def test_given_online_devices_when_one_misses_two_heartbeats_then_supervision_marks_it_offline(service, db):
    quiet, chatty = _button(service), _button(service)
    service.device_status(quiet, "online", T0)
    service.device_status(chatty, "online", T0)
    service.touch_devices({chatty: T0 + 550})
    assert service.supervise(T0 + 601) == [quiet]
    with db.read() as s:
        trail = audit_repo.listing(s, "device", quiet)
    assert [(a.from_value, a.to_value) for a in trail if a.action == "device_status"][-1] == ("online", "offline")


def test_given_two_server_processes_when_both_ingest_the_same_alarms_at_once_then_one_incident_each(database_url, db, service):
    """Two Database objects (two connection pools, as two processes would have) race on the same
    alarms: the unique key and the ingest lock keep exactly one alarm row and one incident."""
    devs = [_button(service, lat=BANDUNG[0] - 9000 * k) for k in range(4)]
    other = Database(database_url, migrate=False)
    try:
        twin = IncidentService(SqlIncidentStore(other), service.rules)
        results: list = []
        errors: list = []

        def run(svc):
            try:
                for seq in range(1, 6):
                    for d in devs:
                        results.append(svc.ingest_alarm(alarm(d, seq, ts=T0 + seq), "mqtt", T0 + seq))
            except Exception as e:  # the assertion below shows it
                errors.append(e)

        threads = [threading.Thread(target=run, args=(svc,)) for svc in (service, twin)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(results) == 40
        with db.read() as s:
            n_alarms = s.execute(text("SELECT count(*) FROM alarms")).scalar()
            incs = incident_repo.listing(s, limit=1000)
        assert n_alarms == 20 and len(incs) == 4  # one incident per device (each folds its presses)
        assert sum(1 for r in results if r.duplicate_alarm) == 20
    finally:
        other.dispose()


def test_given_bandungs_station_areas_then_the_incident_goes_to_the_station_holding_it_or_else_the_command_center(db):
    from fleet_server.domain.jurisdiction import Jurisdiction
    from fleet_server.domain.service import Rules
    svc = IncidentService(SqlIncidentStore(db), Rules(), Jurisdiction.load(REPO_ROOT / "fleet_server" / "data" / "bandung"))
    inside, jakarta, untriaged = (_button(svc, lat=-6_902_500, lon=107_618_800, category="police"),
                                  _button(svc, lat=-6_175_400, lon=106_827_200, category="police"),
                                  _button(svc, lat=-6_902_500, lon=107_618_800, category="unknown"))
    with db.read() as s:
        got = {}
        for k, dev in enumerate((inside, jakarta, untriaged)):  # hours apart: nothing folds
            inc = incident_repo.get(s, svc.ingest_alarm(alarm(dev, 1, ts=T0 + 3600 * k, cat="unknown"), "mqtt",
                                                        T0 + 3600 * k).incident_id)
            got[dev] = (inc.agency, inc.station_id, inc.station_parent)
    assert got[inside] == ("polri", "polsek-bandung-wetan", "polrestabes-bandung")
    assert got[jakarta] == ("polri", "112", None)        # outside every area: the command center itself
    assert got[untriaged] == ("triage", "112", None)     # triage first, then a station


def test_given_a_batch_with_an_unknown_device_then_only_that_alarm_is_refused_and_the_rest_are_committed(service, db):
    a, b = _button(service), _button(service, lat=BANDUNG[0] - 9000)
    out = service.ingest_alarms([(alarm(a, 1), "mqtt", T0), (alarm("ghost-9", 1), "mqtt", T0),
                                 (alarm(b, 1), "sms", T0), (alarm(a, 1), "sms", T0 + 5)])
    assert isinstance(out[1], Refused) and out[1].code == "unknown_device"
    assert out[0].created_incident and out[2].created_incident and out[3].duplicate_alarm
    assert out[3].incident_id == out[0].incident_id != out[2].incident_id
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM alarms")).scalar() == 2
        created = [e for e in audit_repo.listing(s, entity="incident") if e.action == "incident_created"]
    assert sorted(int(e.entity_id) for e in created) == sorted([out[0].incident_id, out[2].incident_id])


def test_given_many_chatty_devices_when_touched_in_bulk_then_last_seen_only_moves_forward(service, db):
    devs = [_button(service) for _ in range(50)]
    service.touch_devices({d: T0 + 100 for d in devs})
    service.touch_devices({d: (T0 + 50 if i % 2 else T0 + 200) for i, d in enumerate(devs)})
    from fleet_server.storage import devices as device_repo
    with db.read() as s:
        seen = {d: device_repo.get(s, d).last_seen for d in devs}
    assert all(seen[d] == (T0 + 100 if i % 2 else T0 + 200) for i, d in enumerate(devs))


def test_given_a_big_batch_then_every_alarm_row_is_linked_to_the_incident_its_result_names(service, db):
    # Alarms are written with one INSERT ... RETURNING: each returned id must land on its own row.
    devs = [_button(service, lat=BANDUNG[0] - 9000 * k) for k in range(12)]
    batch = [(alarm(dev, seq), "mqtt", T0 + seq) for seq in range(1, 6) for dev in devs]
    out = service.ingest_alarms(batch)
    assert sum(r.created_incident for r in out) == len(devs) and not any(r.duplicate_alarm for r in out)
    with db.read() as s:
        rows = {(d, q): i for d, q, i in s.execute(text(
            "SELECT a.device_id, a.seq, ia.incident_id FROM alarms a JOIN incident_alarms ia ON ia.alarm_id = a.id"))}
        counts = dict(s.execute(text("SELECT id, alarm_count FROM incidents")).all())
    assert rows == {(a["dev"], a["seq"]): r.incident_id for (a, _, _), r in zip(batch, out)}
    assert {counts[r.incident_id] for r in out} == {5}


def test_given_an_alarm_already_stored_when_a_batch_stages_it_again_then_the_unique_key_refuses_the_whole_batch(service, db):
    # The domain looks stored keys up first; the database's unique key stays the judge when that
    # lookup is bypassed (or raced by another process): nothing of the transaction is kept.
    dev = _button(service)
    service.ingest_alarm(alarm(dev, 1), "mqtt", T0)
    fields = dict(device_id=dev, boot=1, via="mqtt", pressed_at=T0, received_at=T0, category="medical",
                  trigger="button", presses=1, lat_udeg=None, lon_udeg=None, loc_source="none", loc_acc_m=None,
                  loc_age_s=None, prank_flagged=False)
    with pytest.raises(IntegrityError):
        with service.store.transaction() as tx:
            inc = tx.incidents.new_incident(type="emergency", category="medical", agency="dinkes", priority=1,
                                            state="new", last_pressed_at=T0, received_at=T0)
            tx.incidents.new_alarm(inc, seq=2, **fields)
            tx.incidents.new_alarm(inc, seq=1, **fields)
            tx.flush()
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM alarms")).scalar() == 1
        assert s.execute(text("SELECT count(*) FROM incidents")).scalar() == 1


def test_given_staged_alarms_without_an_explicit_flush_then_the_commit_still_writes_them(service, db):
    dev = _button(service)
    with service.store.transaction() as tx:
        inc = tx.incidents.new_incident(type="emergency", category="medical", agency="dinkes", priority=1,
                                        state="new", last_pressed_at=T0, received_at=T0)
        tx.incidents.new_alarm(inc, device_id=dev, boot=1, seq=7, via="sms", pressed_at=T0, received_at=T0,
                               category="medical", trigger="button", presses=1, lat_udeg=None, lon_udeg=None,
                               loc_source="none", loc_acc_m=None, loc_age_s=None, prank_flagged=False)
    with db.read() as s:
        assert s.execute(text("SELECT seq, incident_id FROM alarms JOIN incident_alarms ON alarm_id = alarms.id")
                         ).all() == [(7, inc.id)]


def test_given_the_migrations_then_the_head_the_server_trusts_at_start_is_alembics_head():
    assert HEAD == head_revision()


def test_given_a_database_at_head_when_a_server_opens_it_then_alembic_is_not_even_loaded(db, database_url):
    # A restart must ack quickly: a current database skips the migration machinery entirely.
    code = ("import sys; from fleet_server.storage.db import Database; d = Database(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", code, database_url], capture_output=True, text=True, timeout=120,
                         cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
