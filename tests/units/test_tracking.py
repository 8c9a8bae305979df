"""Live unit state: latest position, crew status, movement, staleness, history in a real SQLite
database with batches and retention, and the throttled feed."""
from __future__ import annotations

import time


import pytest

from protocols.rejection import Rejection, UNKNOWN_DEVICE
from fleet_server.app import open_fleet
from fleet_server.domain.fleet import Fleet, FleetConfig
from fleet_server.domain.position_feed import PositionFeed
from fleet_server.domain.tracking import Tracking, TrackingConfig
from fleet_server.domain.units import Unit
from tests.units.conftest import CENTRE, NOW, ambulance, crew_msg, pos_msg


def test_given_a_bound_tracker_when_a_good_fix_arrives_then_it_is_the_units_latest_position():
    t = Tracking()
    t.add_unit(ambulance(1))
    p = t.accept_position(pos_msg("trk-amb-01", NOW, CENTRE[0], CENTRE[1], acc=6, spd=0), NOW + 1)
    assert not isinstance(p, Rejection)
    u = t.get("AMB-01")
    assert (u.position.lat, u.position.lon, u.position.acc) == (CENTRE[0], CENTRE[1], 6)
    assert u.fix_age(NOW + 1) == 1.0 and not u.is_stale(NOW + 1, 120)


def test_given_an_unbound_tracker_when_it_reports_then_the_fix_is_refused_with_a_reason():
    t = Tracking()
    r = t.accept_position(pos_msg("trk-stranger", NOW, CENTRE[0], CENTRE[1]), NOW)
    assert isinstance(r, Rejection) and r.code == UNKNOWN_DEVICE and "trk-stranger" in r.reason


def test_given_a_latest_fix_when_a_bad_one_follows_then_the_latest_stays_and_the_reason_is_counted():
    t = Tracking()
    t.add_unit(ambulance(1))
    t.accept_position(pos_msg("trk-amb-01", NOW, CENTRE[0], CENTRE[1]), NOW)
    r = t.accept_position(pos_msg("trk-amb-01", NOW + 1, 0, 0), NOW + 1)
    assert r.code == "zero_coordinates"
    assert t.get("AMB-01").position.lat == CENTRE[0]
    assert t.filter.rejected["zero_coordinates"] == 1


def test_given_no_fix_for_longer_than_the_limit_when_asked_then_the_unit_is_stale():
    t = Tracking(TrackingConfig(stale_after_s=60))
    t.add_unit(ambulance(1))
    t.add_unit(ambulance(2))
    t.accept_position(pos_msg("trk-amb-01", NOW, CENTRE[0], CENTRE[1]), NOW)
    stale = {u.id for u in t.stale_units(NOW + 61)}
    # AMB-02 never had a fix at all: stale too.
    assert stale == {"AMB-01", "AMB-02"}
    assert {u.id for u in t.stale_units(NOW + 30)} == {"AMB-02"}


def test_given_crew_keys_and_movement_when_reported_then_status_follows_and_listeners_hear_it():
    t = Tracking(TrackingConfig(home_radius_m=200))
    t.add_unit(ambulance(1))
    heard = []
    t.on_status(lambda u, old, new, by: heard.append((old, new, by)))
    t.accept_crew(crew_msg("trk-amb-01", NOW, "oos"), NOW)
    t.accept_crew(crew_msg("trk-amb-01", NOW + 5, "returning", seq=2), NOW + 5)
    # Driving (speed 10 m/s) 2 km from home: moving, still returning.
    t.accept_position(pos_msg("trk-amb-01", NOW + 10, CENTRE[0] + 18000, CENTRE[1], spd=1000), NOW + 10)
    assert t.get("AMB-01").moving and t.get("AMB-01").status == "returning"
    # Parked at the home station: available again, by movement.
    t.accept_position(pos_msg("trk-amb-01", NOW + 300, CENTRE[0] + 100, CENTRE[1], spd=0), NOW + 300)
    u = t.get("AMB-01")
    assert not u.moving and u.status == "available"
    assert heard == [("available", "oos", "crew"), ("oos", "returning", "crew"), ("returning", "available", "movement")]


def test_given_a_listener_that_fails_when_a_fix_arrives_then_the_ingest_goes_on():
    t = Tracking()
    t.add_unit(ambulance(1))
    t.on_position(lambda u, p: 1 / 0)
    ok = []
    t.on_position(lambda u, p: ok.append(p))
    assert not isinstance(t.accept_position(pos_msg("trk-amb-01", NOW, CENTRE[0], CENTRE[1]), NOW), Rejection)
    assert len(ok) == 1


def test_given_a_tracker_bound_to_one_unit_when_another_unit_claims_it_then_it_is_refused():
    t = Tracking()
    t.add_unit(ambulance(1))
    with pytest.raises(ValueError, match="already bound"):
        t.add_unit(ambulance(2, device_id="trk-amb-01"))


def test_given_a_bad_unit_record_when_created_then_it_says_why():
    with pytest.raises(ValueError, match="agency 'navy'.*type 'tank'"):
        Unit(id="X-1", callsign="X", agency="navy", type="tank")


def test_given_the_database_when_fixes_arrive_then_history_is_written_in_batches_and_reloads(sqlite_engine):
    fleet = open_fleet(sqlite_engine, lambda *a: None, persist_batch=50, persist_delay_s=0.05)
    try:
        fleet.register(ambulance(1))
        for i in range(120):
            fleet.handle("pos", pos_msg("trk-amb-01", NOW + i, CENTRE[0] + 10 * i, CENTRE[1], seq=i), NOW + i)
        assert fleet.batcher.flush(10)
        hist = fleet.store.history("AMB-01")
        assert len(hist) == 120 and hist[0].ts == NOW and hist[-1].lat == CENTRE[0] + 1190
        assert fleet.store.history("AMB-01", since=NOW + 100, until=NOW + 109)[-1].ts == NOW + 109
        assert fleet.batcher.written == 120 and fleet.batcher.dropped == 0
    finally:
        fleet.close()
    # A restarted server knows its units, their last position and status.
    again = open_fleet(sqlite_engine, lambda *a: None)
    try:
        u = again.tracking.get("AMB-01")
        assert u.device_id == "trk-amb-01" and u.position.lat == CENTRE[0] + 1190 and u.position.ts == NOW + 119
        assert again.purge_history(now=NOW + 110 + again.config.history_retention_s) == 110
        assert len(again.store.history("AMB-01")) == 10
    finally:
        again.close()


def test_given_a_unit_reporting_every_100ms_when_the_feed_interval_is_500ms_then_one_event_per_interval():
    clock = [0.0]
    feed = PositionFeed(min_interval_s=0.5, clock=lambda: clock[0])
    got = []
    unsubscribe = feed.subscribe(got.append)
    t = Tracking()
    t.add_unit(ambulance(1))
    t.add_unit(ambulance(2))
    t.on_position(feed.offer)
    for i in range(10):  # 1 s of fixes from two units, 10 each
        clock[0] = i * 0.1
        for n in (1, 2):
            t.accept_position(pos_msg(f"trk-amb-0{n}", NOW + i, CENTRE[0] + i * 10, CENTRE[1]), NOW + i)
    assert [e["unit"] for e in got] == ["AMB-01", "AMB-02", "AMB-01", "AMB-02"]  # at t=0.0 and t=0.5
    # The newest suppressed fix is not lost: it goes out once its interval has passed.
    clock[0] = 1.0
    assert feed.release_due() == 2
    assert [e["lat"] for e in got[-2:]] == [CENTRE[0] + 90, CENTRE[0] + 90]
    unsubscribe()
    clock[0] = 5.0
    t.accept_position(pos_msg("trk-amb-01", NOW + 50, CENTRE[0], CENTRE[1]), NOW + 50)
    assert len(got) == 6


def test_given_an_alarm_with_a_bad_fix_when_handed_to_the_units_side_then_it_is_not_filtered_or_touched():
    """Alarms are the core's: an SOS with a 0,0 fix is still an SOS, so the position filter never sees it."""
    from protocols import codec_json
    fleet = Fleet(publish=lambda *a: None)
    try:
        fleet.register(ambulance(1))
        sos = codec_json.decode(codec_json.encode({
            "v": 1, "t": "alarm", "dev": "trk-amb-01", "boot": 1, "seq": 3, "ts": int(NOW), "cat": "medical",
            "trig": "crew", "presses": 1, "lat": 0, "lon": 0, "src": "gps", "acc": 5000, "age": 900}))
        assert fleet.handle("alarm", sos, NOW) is None
        assert fleet.tracking.filter.accepted == 0 and sum(fleet.tracking.filter.rejected.values()) == 0
        assert fleet.tracking.get("AMB-01").position is None
    finally:
        fleet.close()


def test_given_a_running_fleet_when_history_ages_past_retention_then_the_background_purges_it(sqlite_engine):
    cfg = FleetConfig(history_retention_s=3600, retention_every_s=0.1, feed_interval_s=0.05)
    fleet = open_fleet(sqlite_engine, lambda *a: None, cfg, persist_batch=10, persist_delay_s=0.02)
    try:
        fleet.register(ambulance(1))
        now = time.time()
        old, fresh = now - 7200, now - 60       # two hours old (past retention) and a minute old
        fleet.handle("pos", pos_msg("trk-amb-01", old, CENTRE[0], CENTRE[1], seq=1), now)
        fleet.handle("pos", pos_msg("trk-amb-01", fresh, CENTRE[0] + 100, CENTRE[1], seq=2), now)
        assert fleet.batcher.flush(5)
        fleet.start()
        deadline = time.monotonic() + 5
        while len(fleet.store.history("AMB-01")) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.ts for p in fleet.store.history("AMB-01")] == [float(int(fresh))]
    finally:
        fleet.close()


def test_given_a_unit_whose_tracker_is_swapped_when_the_new_one_reports_far_away_then_its_fix_is_not_a_speed_jump():
    # A unit's last fix belongs to its old tracker; the new one (a replacement, a GPS capture
    # replayed through a real tracker) starts where it is. Its own next fixes are judged as usual.
    t = Tracking()
    t.add_unit(ambulance(1))
    assert not isinstance(t.accept_position(pos_msg("trk-amb-01", NOW, CENTRE[0], CENTRE[1]), NOW), Rejection)
    t.add_unit(ambulance(1, device_id="trk-replay"))
    oregon = (44068842, -121314192)
    p = t.accept_position(pos_msg("trk-replay", NOW + 10, *oregon), NOW + 10)
    assert not isinstance(p, Rejection), p
    assert (t.get("AMB-01").position.lat, t.get("AMB-01").position.lon) == oregon
    back = t.accept_position(pos_msg("trk-replay", NOW + 20, CENTRE[0], CENTRE[1], seq=2), NOW + 20)
    assert isinstance(back, Rejection) and back.code == "speed_jump"
    # Without a swap the same jump is refused: the filter still guards a unit's own tracker.
    t.add_unit(ambulance(2))
    t.accept_position(pos_msg("trk-amb-02", NOW, CENTRE[0], CENTRE[1]), NOW)
    r = t.accept_position(pos_msg("trk-amb-02", NOW + 10, *oregon, seq=2), NOW + 10)
    assert isinstance(r, Rejection) and r.code == "speed_jump"
