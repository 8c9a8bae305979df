"""The IncidentService on the in-memory incident store (fleet_server.domain.memory): the domain's
rules with no database under them, and the in-memory store held to the SQLAlchemy one by running
the same day of the command center on both and comparing everything they say and keep."""
from __future__ import annotations

import dataclasses

import pytest

from fleet_server.domain.memory import Conflict, MemoryIncidentStore
from fleet_server.domain.service import IncidentService, Refused, Rules, device_view, incident_view
from fleet_server.storage import audit as audit_repo
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.server.conftest import T0, FakeClock, alarm

BANDUNG = (-6_914_700, 107_609_800)  # Gedung Sate
RULES = dict(fold_radius_m=150, fold_window_s=300, escalate_after_s=60, escalate_head_after_s=120, prank_flag_threshold=2,
             heartbeat_misses_offline=2, button_heartbeat_s=300, tracker_heartbeat_s=60)


def _service(store) -> tuple[IncidentService, list, FakeClock]:
    clock = FakeClock()
    svc = IncidentService(store, Rules(**RULES), clock=clock)
    events: list = []
    svc.listeners.append(events.append)
    return svc, events, clock


@pytest.fixture
def memory():
    return _service(MemoryIncidentStore())


def _register(svc, dev, lat=BANDUNG[0], lon=BANDUNG[1], **kw):
    return svc.register_device(dev, "button", "tech", site=f"site of {dev}", lat_udeg=lat, lon_udeg=lon,
                               category=kw.pop("category", "medical"), **kw)


def _day(svc, clock) -> list:
    """A day at the command center through every entry point; returns what each call returned."""
    out = []
    _register(svc, "btn-a", sms_key="00" * 16)
    _register(svc, "btn-b", lat=BANDUNG[0] - 900)             # 100 m south: folds with btn-a
    _register(svc, "btn-far", lat=BANDUNG[0] - 9000)          # 1 km south: its own incident
    _register(svc, "btn-nofix", lat=None, lon=None, category="fire")
    out.append(svc.ingest_alarms([
        (alarm("btn-a", 1, lat=BANDUNG[0], lon=BANDUNG[1], src="gps"), "mqtt", T0 + 1),
        (alarm("btn-a", 1), "sms", T0 + 2),                   # the same alarm by SMS
        (alarm("btn-b", 1, ts=T0 + 20, presses=3), "mqtt", T0 + 21),
        (alarm("ghost", 1), "mqtt", T0 + 21),                 # unregistered: refused alone
        (alarm("btn-far", 1, ts=T0 + 30), "mqtt", T0 + 31),
        (alarm("btn-nofix", 1, ts=T0 + 30, cat="unknown"), "mqtt", T0 + 31)]))
    out.append(svc.ingest_alarm(alarm("btn-a", 2, ts=T0 + 40), "sms", T0 + 41))
    out.append(svc.ingest_alarm(alarm("btn-a", 2, ts=T0 + 40), "mqtt", T0 + 42))
    svc.device_status("btn-a", "online", T0 + 50, fw="1.4.0", boot=7)
    svc.device_health({"dev": "btn-b", "batt": 3700, "pct": 80, "rssi": -71, "temp": 281, "tamper": True,
                       "stuck": False, "fw": "1.4.0", "uptime": 600, "outbox": 0}, T0 + 55)
    out.append(sorted(svc.escalate_due(T0 + 100)))           # nobody acknowledged within 60 s (any order)
    first = out[0][0].incident_id
    out.append(svc.transition(first, "acknowledged", "op-ani", at=T0 + 110))
    out.append(svc.add_note(first, "op-ani", "  ambulance asked for  ", at=T0 + 111))
    far = out[0][4].incident_id
    out.append(svc.transition(far, "prank", "op-ani", "nobody there", at=T0 + 120))
    later = svc.ingest_alarm(alarm("btn-far", 2, ts=T0 + 2000), "mqtt", T0 + 2000).incident_id
    out.append(svc.transition(later, "false_alarm", "op-ani", "pressed by a child", at=T0 + 2100))
    out.append(svc.ingest_alarm(alarm("btn-far", 3, ts=T0 + 4000), "mqtt", T0 + 4000))  # flagged now
    out.append(svc.update_device("btn-far", {"prank_flagged": False, "site": "Jl. Asia Afrika"}, "tech"))
    out.append(svc.report("disaster", "pohon tumbang di Jl. Dago", "op", reporter="warga",
                          lat_udeg=BANDUNG[0], lon_udeg=BANDUNG[1], received_at=T0 + 4100))
    out.append(svc.caller_location(BANDUNG[0], BANDUNG[1], "gps", 12, "AML location", actor="sms:aml",
                                   reporter="+62812****89", received_at=T0 + 4200))
    svc.device_status("btn-b", "online", T0 + 4300)
    svc.touch_devices({"btn-b": T0 + 4800, "btn-a": T0 + 10})
    clock.t = T0 + 4901
    out.append(svc.supervise())                               # btn-a silent since T0 + 50
    for bad in (lambda: svc.transition(first, "onscene", "op"), lambda: svc.add_note(first, "op", "  "),
                lambda: svc.update_device("btn-a", {"kind": "tracker"}, "tech"),
                lambda: svc.register_device("btn-a", "button", "tech")):
        with pytest.raises(Refused) as e:
            bad()
        out.append(("refused", e.value.code))
    return out


def _kept(store, svc, n_incidents: int) -> dict:
    """Everything the store keeps, read through the port (and the audit trail)."""
    with store.read() as tx:
        incidents = [incident_view(tx.incidents.get(i)) for i in range(1, n_incidents + 1)]
        devices = [device_view(tx.devices.get(d)) for d in ("btn-a", "btn-b", "btn-far", "btn-nofix")]
        members = [tx.incidents.devices_of(i) for i in range(1, n_incidents + 1)]
        missing = tx.incidents.get(n_incidents + 1)
    return {"incidents": incidents, "devices": devices, "members": members, "missing": missing}


def _sweep_sorted(items: list, in_sweep, key) -> list:
    """Items as they came, except that one escalation sweep takes its incidents in no set order:
    each run of consecutive items of a sweep is sorted by incident."""
    out, run = [], []
    for x in items + [None]:
        if x is not None and in_sweep(x):
            run.append(x)
            continue
        out += sorted(run, key=key) + ([x] if x is not None else [])
        run = []
    return out


def _escalations_sorted(events: list) -> list:
    return _sweep_sorted(events, lambda e: e.get("event") == "escalated", lambda e: e["incident"]["id"])


def _trail_sorted(trail: list) -> list:
    return _sweep_sorted(trail, lambda a: a[2] == "escalated", lambda a: int(a[4]))


def _plain(results: list) -> list:
    return [[_plain_one(x) for x in r] if isinstance(r, list) else _plain_one(r) for r in results]


def _plain_one(r):
    if isinstance(r, Refused):
        return ("refused", r.code)
    return dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r


def test_given_the_same_day_on_the_memory_store_and_on_sqlite_then_both_return_emit_and_keep_the_same(tmp_path):
    mem_store = MemoryIncidentStore()
    mem, mem_events, mem_clock = _service(mem_store)
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    try:
        sql_store = SqlIncidentStore(db)
        sql, sql_events, sql_clock = _service(sql_store)
        got_mem, got_sql = _plain(_day(mem, mem_clock)), _plain(_day(sql, sql_clock))
        assert got_mem == got_sql
        assert _escalations_sorted(mem_events) == _escalations_sorted(sql_events) and len(mem_events) > 20
        n = len(mem_store.incidents())
        assert n == 7
        assert _kept(mem_store, mem, n) == _kept(sql_store, sql, n)
        with db.read() as s:
            sql_trail = [(a.at, a.actor, a.action, a.entity, a.entity_id, a.from_value, a.to_value, a.detail)
                         for a in audit_repo.listing(s, limit=1000)]
    finally:
        db.dispose()
    mem_trail = [(a.at, a.actor, a.action, a.entity, a.entity_id, a.from_value, a.to_value, a.detail)
                 for a in mem_store.audit_trail()]
    assert _trail_sorted(mem_trail) == _trail_sorted(sql_trail) and len(mem_trail) > 25
    assert ("btn-far", "prank") in [(p.device_id, p.kind) for p in mem_store.pranks()]


def test_given_a_batch_of_alarms_then_it_is_one_transaction_and_each_alarm_is_stored_once(memory):
    svc, events, _ = memory
    store = svc.store
    _register(svc, "btn-a")
    _register(svc, "btn-b", lat=BANDUNG[0] - 9000)
    before = store.transactions
    out = svc.ingest_alarms([(alarm("btn-a", s), "mqtt", T0 + s) for s in range(1, 6)]
                            + [(alarm("btn-b", 1), "mqtt", T0), (alarm("btn-a", 3), "sms", T0 + 9)])
    assert store.transactions == before + 1
    assert [r.created_incident for r in out] == [True, False, False, False, False, True, False]
    assert out[-1].duplicate_alarm and out[-1].incident_id == out[0].incident_id
    [a_inc, b_inc] = store.incidents()
    assert [(a.seq, a.via) for a in store.alarms_of(a_inc.id)] == [(s, "mqtt") for s in range(1, 6)]
    assert (a_inc.press_count, a_inc.alarm_count, b_inc.alarm_count) == (5, 5, 1)
    assert [e["event"] for e in events if e["type"] == "incident"] == ["created"] + ["folded"] * 4 + ["created"]


def test_given_the_same_alarm_key_twice_in_one_flush_then_the_store_refuses_it_and_keeps_nothing(memory):
    svc, _, _ = memory
    store = svc.store
    _register(svc, "btn-a")
    fields = dict(device_id="btn-a", boot=1, seq=1, via="mqtt", pressed_at=T0, received_at=T0, category="medical",
                  trigger="button", presses=1, loc_source="none")
    with pytest.raises(Conflict, match="already stored"):
        with store.transaction() as tx:
            inc = tx.incidents.new_incident(type="emergency", category="medical", agency="dinkes", priority=1,
                                            state="new", last_pressed_at=T0, received_at=T0)
            tx.incidents.new_alarm(inc, **fields)
            tx.incidents.new_alarm(inc, **fields)
    assert store.incidents() == [] and store.alarms_of(1) == []


def test_given_a_refused_change_halfway_then_nothing_of_the_call_is_kept(memory):
    svc, events, _ = memory
    _register(svc, "btn-a")
    trail = len(svc.store.audit_trail())
    with pytest.raises(Refused, match="cannot be changed"):
        svc.update_device("btn-a", {"site": "elsewhere", "kind": "tracker"}, "tech")
    with svc.store.read() as tx:
        assert tx.devices.get("btn-a").site == "site of btn-a"
    assert len(svc.store.audit_trail()) == trail and [e["event"] for e in events] == ["registered"]


def test_given_the_audit_trail_then_an_entry_cannot_be_changed_and_secrets_are_masked(memory):
    svc, _, _ = memory
    _register(svc, "btn-a")
    svc.update_device("btn-a", {"sms_key": "11" * 16}, "tech")
    [reg, key] = svc.store.audit_trail("device", "btn-a")
    assert (reg.action, key.action, key.from_value, key.to_value) == ("device_registered", "device_sms_key", "***", "***")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.to_value = "11" * 16
