"""The escalation ladder and the response promise (fleet_server/domain/lifecycle.py through
IncidentService, on the in-memory store): an unacknowledged incident goes to the operator's
supervisor, then to the center head, each rung once, audited and on the feed; an emergency with no
unit on scene past the promise is marked promise breached once, listed, and counted in the
statistics."""
from __future__ import annotations

import pytest

from fleet_server.domain import lifecycle
from fleet_server.domain.memory import MemoryIncidentStore
from fleet_server.domain.service import PROMISE_BREACHED, IncidentService, Rules
from fleet_server.domain.stats import per_agency_day
from tests.server.conftest import FakeClock, alarm

T0 = 1_000_000.0


@pytest.fixture
def svc():
    s = IncidentService(MemoryIncidentStore(), Rules(response_promise_s=300), None, clock=FakeClock())
    s.events = []
    s.listeners.append(s.events.append)
    return s


def _sos(svc, dev="btn-1", at=T0, lat=-6_910_000) -> int:
    svc.register_device(dev, "button", "tech", site=dev, lat_udeg=lat, lon_udeg=107_600_000, category="fire")
    return svc.ingest_alarm(alarm(dev, 1, cat="fire", ts=at, lat=lat, lon=107_600_000), "mqtt", at).incident_id


def _trail(svc, inc, action):
    return [(a.at, a.actor, a.from_value, a.to_value, a.detail) for a in svc.store.audit_trail("incident", inc)
            if a.action == action]


def test_the_default_ladder_follows_nena_sta_020_and_refuses_rungs_out_of_order():
    r = Rules()
    assert (r.escalate_after_s, r.escalate_head_after_s) == (15.0, 60.0)
    assert lifecycle.ladder(15, 60) == ((1, "supervisor", "dispatcher", 15), (2, "center_head", "admin", 60))
    with pytest.raises(ValueError, match="below the center head's"):
        lifecycle.ladder(60, 60)
    with pytest.raises(ValueError, match="below the center head's"):
        IncidentService(MemoryIncidentStore(), Rules(escalate_after_s=90, escalate_head_after_s=30))


def test_given_an_unacknowledged_sos_then_it_goes_to_the_supervisor_at_15_s_and_the_head_at_60_s_each_once_audited(svc):
    inc = _sos(svc)
    assert svc.escalate_due(T0 + 14.9) == []
    assert svc.escalate_due(T0 + 15) == [inc]
    assert svc.escalate_due(T0 + 30) == []
    assert svc.escalate_due(T0 + 60) == [inc]
    assert svc.escalate_due(T0 + 600) == []
    first, second = _trail(svc, inc, "escalated")
    assert first[:2] == (T0 + 15, "system") and first[4].startswith("to the supervisor (dispatcher): unacknowledged for 15 s")
    assert second[:2] == (T0 + 60, "system") and second[4].startswith("to the center head (admin): unacknowledged for 60 s")
    events = [(e["level"], e["to"], e["role"], e["incident"]["escalation"]) for e in svc.events if e.get("event") == "escalated"]
    assert events == [(1, "supervisor", "dispatcher", {"level": 1, "to": "supervisor", "role": "dispatcher"}),
                      (2, "center_head", "admin", {"level": 2, "to": "center_head", "role": "admin"})]


def test_given_a_late_sweep_then_both_rungs_are_climbed_and_each_is_audited(svc):
    inc = _sos(svc)
    assert svc.escalate_due(T0 + 120) == [inc]
    assert [d[4].split(":")[0] for d in _trail(svc, inc, "escalated")] == ["to the supervisor (dispatcher)",
                                                                         "to the center head (admin)"]


def test_given_an_sos_acknowledged_after_the_supervisor_rung_then_it_never_reaches_the_head(svc):
    inc = _sos(svc)
    svc.escalate_due(T0 + 20)
    svc.transition(inc, "acknowledged", actor="op-1", at=T0 + 25)
    assert svc.escalate_due(T0 + 90) == []
    assert len(_trail(svc, inc, "escalated")) == 1


def test_given_no_unit_on_scene_past_the_promise_then_it_is_marked_breached_once_listed_and_counted(svc):
    late = _sos(svc, "btn-late")
    served = _sos(svc, "btn-served", lat=-6_950_000)   # 4 km away: its own incident
    assert served != late
    for step, at in (("acknowledged", T0 + 10), ("dispatched", T0 + 30), ("enroute", T0 + 40), ("onscene", T0 + 200)):
        svc.transition(served, step, actor="op-1", at=at)
    assert svc.breach_due(T0 + 299) == []
    assert svc.promise_board(T0 + 299)["breached"] == []
    assert svc.breach_due(T0 + 301) == [late]
    assert svc.breach_due(T0 + 400) == []          # once
    [(at, actor, _f, _t, detail)] = _trail(svc, late, PROMISE_BREACHED)
    assert (at, actor) == (T0 + 301, "system") and detail.startswith("no unit on scene 301 s after the report")
    assert [e["incident"]["id"] for e in svc.events if e.get("event") == PROMISE_BREACHED] == [late]
    board = svc.promise_board(T0 + 400)
    assert [(b["id"], b["waiting_s"]) for b in board["breached"]] == [(late, 400.0)]
    assert board["promise_s"] == 300 and [r["to"] for r in board["ladder"]] == ["supervisor", "center_head"]
    # The statistics count it, and only it: the served incident had its unit on scene at 3:20.
    with svc.store.transaction() as tx:
        rows = [(i.agency, i.received_at, i.acknowledged_at, i.dispatched_at, i.onscene_at, i.closed_at, i.state, i.type)
                for i in (tx.incidents.get(late), tx.incidents.get(served))]
    [day] = per_agency_day(rows, promise_s=300, now=T0 + 400)
    assert day["count"] == 2 and day["promise_breached"] == 1


def test_the_promise_rule_counts_late_arrivals_and_open_waits_but_not_non_emergencies_or_early_closures():
    assert lifecycle.promise_breached("emergency", 0, 301, None, 1000, 300)
    assert not lifecycle.promise_breached("emergency", 0, 300, None, 1000, 300)
    assert lifecycle.promise_breached("emergency", 0, None, None, 301, 300)
    assert not lifecycle.promise_breached("emergency", 0, None, 120, 1000, 300)   # closed (e.g. prank) at 2:00
    assert not lifecycle.promise_breached("report", 0, None, None, 1000, 300)
