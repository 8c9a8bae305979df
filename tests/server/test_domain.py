"""Pure domain rules: classification, lifecycle and clocks, folding geometry, escalation,
supervision, prank ledger, statistics. No database, no network."""
import pytest

from fleet_server.domain import classification, folding, lifecycle, prank, supervision
from fleet_server.domain.stats import per_agency_day, percentile


@pytest.mark.parametrize("category,agency,number", [
    ("police", "polri", "110"), ("fire", "damkar", "113"), ("sar", "basarnas", "115"),
    ("disaster", "bpbd", "117"), ("medical", "dinkes", "119"), ("unknown", "triage", "112")])
def test_given_a_category_then_the_agency_behind_its_old_number_gets_it(category, agency, number):
    assert classification.agency_for(category) == agency
    assert classification.AGENCIES[category]["number"] == number


def test_given_an_unknown_category_from_a_single_purpose_button_then_its_registered_category_decides():
    assert classification.effective_category("unknown", "fire") == "fire"
    assert classification.effective_category("medical", "fire") == "medical"
    assert classification.effective_category("unknown", None) == "unknown"


def test_given_triggers_then_a_person_pressing_outranks_device_alarms_and_a_flagged_device_drops_one_step():
    assert classification.priority("medical", "button") == 1
    assert classification.priority("unknown", "button") == 2
    assert classification.priority("medical", "tamper") == 3
    assert classification.priority("medical", "button", prank_flagged=True) == 2


def test_given_the_flow_when_each_step_is_taken_in_order_then_every_step_is_allowed():
    for a, b in zip(lifecycle.FLOW, lifecycle.FLOW[1:]):
        if a == "dispatched":
            continue  # dispatched -> enroute checked below with the skip
        assert lifecycle.check_transition(a, b) is None, (a, b)
    assert lifecycle.check_transition("dispatched", "enroute") is None
    assert lifecycle.check_transition("dispatched", "onscene") is None  # unit never reported en route


@pytest.mark.parametrize("current,target,why", [
    ("new", "dispatched", "cannot go from new to dispatched"),
    ("onscene", "acknowledged", "cannot go from onscene to acknowledged"),
    ("resolved", "cancelled", "already closed"),
    ("prank", "new", "already closed"),
    ("new", "new", "already new"),
    ("new", "exploded", "not an incident state"),
    ("acknowledged", "false_alarm", "needs a reason"),
])
def test_given_an_illegal_transition_then_it_is_refused_with_a_reason(current, target, why):
    assert why in lifecycle.check_transition(current, target, None)


def test_given_any_open_state_then_a_closure_with_a_reason_is_allowed():
    for state in lifecycle.OPEN:
        for closure in lifecycle.CLOSURES:
            assert lifecycle.check_transition(state, closure, "caller hung up") is None


def test_given_clocks_then_durations_are_derived_and_the_promise_is_judged():
    clocks = {"pressed_at": 100.0, "received_at": 101.5, "acknowledged_at": 110.0, "dispatched_at": 130.0,
              "enroute_at": None, "onscene_at": 400.0, "closed_at": 900.0}
    d = lifecycle.durations(clocks, promise_s=300)
    assert d["transport_s"] == 1.5 and d["to_acknowledge_s"] == 8.5 and d["to_dispatch_s"] == 28.5
    assert d["response_s"] == 298.5 and d["within_promise"] is True and d["travel_s"] == 270.0
    late = lifecycle.durations(dict(clocks, onscene_at=402.0), promise_s=300)
    assert late["within_promise"] is False
    running = lifecycle.durations(dict(clocks, onscene_at=None), promise_s=300)
    assert running["response_s"] is None and running["within_promise"] is None


def test_given_an_unacknowledged_incident_then_it_escalates_once_after_the_configured_time():
    assert not lifecycle.due_for_escalation("new", 1000.0, None, 1059.0, 60)
    assert lifecycle.due_for_escalation("new", 1000.0, None, 1060.0, 60)
    assert not lifecycle.due_for_escalation("new", 1000.0, 1060.0, 2000.0, 60)
    assert not lifecycle.due_for_escalation("acknowledged", 1000.0, None, 2000.0, 60)


def test_given_two_points_then_the_haversine_distance_matches_a_known_length():
    # 0.001 degree of latitude is about 111.2 m everywhere.
    assert folding.distance_m(-6_900_000, 107_600_000, -6_901_000, 107_600_000) == pytest.approx(111.2, abs=0.5)
    assert folding.distance_m(0, 0, 0, 0) == 0.0


def _cand(id_, devs, first, last, lat=-6_900_000, lon=107_600_000):
    return {"id": id_, "device_ids": set(devs), "first_pressed_at": first, "last_pressed_at": last,
            "lat_udeg": lat, "lon_udeg": lon}


def test_given_the_same_device_again_within_the_window_then_it_folds_even_without_location():
    a = {"device_id": "b1", "pressed_at": 1200.0, "lat_udeg": None, "lon_udeg": None}
    assert folding.fold_target(a, [_cand(7, ["b1"], 1000.0, 1000.0)], 150, 300) == 7
    assert folding.fold_target(dict(a, pressed_at=1301.0), [_cand(7, ["b1"], 1000.0, 1000.0)], 150, 300) is None


def test_given_a_nearby_device_then_it_folds_and_a_far_one_does_not():
    near = {"device_id": "b2", "pressed_at": 1010.0, "lat_udeg": -6_900_900, "lon_udeg": 107_600_000}   # 100 m
    far = dict(near, lat_udeg=-6_902_000)                                                               # 222 m
    cands = [_cand(3, ["b1"], 1000.0, 1000.0)]
    assert folding.fold_target(near, cands, 150, 300) == 3
    assert folding.fold_target(far, cands, 150, 300) is None


def test_given_several_candidates_then_the_nearest_in_time_wins_whatever_their_order():
    a = {"device_id": "b1", "pressed_at": 1000.0, "lat_udeg": None, "lon_udeg": None}
    cands = [_cand(1, ["b1"], 800.0, 850.0), _cand(2, ["b1"], 990.0, 995.0)]
    assert folding.fold_target(a, cands, 150, 300) == 2
    assert folding.fold_target(a, list(reversed(cands)), 150, 300) == 2


def test_given_silence_past_two_heartbeats_then_the_device_is_offline_and_unknown_while_our_link_is_down():
    assert supervision.effective_status("online", 1000.0, 1500.0, 300, 2, True) == "online"
    assert supervision.effective_status("online", 1000.0, 1601.0, 300, 2, True) == "offline"
    assert supervision.effective_status("online", 1000.0, 1001.0, 300, 2, False) == "unknown"
    assert supervision.heartbeat_s("tracker", 300, 60) == 60 and supervision.heartbeat_s("button", 300, 60) == 300


def test_given_closures_then_only_pranks_and_false_alarms_count_and_the_threshold_flags():
    assert prank.counts_against_device("prank") and prank.counts_against_device("false_alarm")
    assert not prank.counts_against_device("duplicate") and not prank.counts_against_device("cancelled")
    assert not prank.flagged(2, 3) and prank.flagged(3, 3) and not prank.flagged(99, 0)


def test_given_incident_rows_then_stats_count_per_agency_and_local_day_with_clock_percentiles():
    day1 = 1_790_000_000.0 + 6 * 3600  # 2026-09-21 20:13 UTC is already 2026-09-22 03:13 WIB
    rows = [("dinkes", day1 + i, day1 + i + 10 * (i + 1), None, day1 + i + 100 * (i + 1), None, "onscene", "emergency")
            for i in range(4)]
    rows.append(("polri", day1, None, None, None, None, "new", "emergency"))
    out = per_agency_day(rows, utc_offset_h=7, promise_s=300)
    med = next(r for r in out if r["agency"] == "dinkes")
    assert med["day"] == "2026-09-22" and med["count"] == 4 and med["open"] == 4
    assert med["clocks"]["to_acknowledge_s"]["p50"] == 20.0 and med["clocks"]["response_s"]["max"] == 400.0
    assert med["within_promise"] == 0.75
    pol = next(r for r in out if r["agency"] == "polri")
    assert pol["clocks"]["to_acknowledge_s"]["n"] == 0 and pol["within_promise"] is None


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([1.0], 99) == 1.0 and percentile([], 50) is None
    assert percentile(list(range(1, 101)), 99) == 99


def test_given_a_radius_then_the_bounding_box_holds_every_point_within_it():
    lat, lon = -6_914_700, 107_609_800
    box = folding.bounding_box(lat, lon, 150)
    for dlat, dlon in ((1350, 0), (-1350, 0), (0, 1355), (0, -1355), (950, 950)):
        if folding.distance_m(lat, lon, lat + dlat, lon + dlon) <= 150:
            assert box[0] <= lat + dlat <= box[1] and box[2] <= lon + dlon <= box[3]
    assert folding.bounding_box(None, None, 150) is None
