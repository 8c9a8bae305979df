"""Recommendations: the nearest (by ETA) available units of the incident's agency with a fresh,
accurate fix; every pick carries its reasons, every passed-over nearer unit says why."""
from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from fleet_server.domain.eta import GreatCircleEta
from fleet_server.domain.recommend import IncidentSite, Recommender, RecommenderConfig
from fleet_server.domain.geo import haversine_m
from fleet_server.domain.units import Position, Unit
from fleet_server.domain.tracking import Tracking
from tests.dispatch.conftest import INCIDENT, NOW, place

SITE = IncidentSite(id=41, lat=INCIDENT[0], lon=INCIDENT[1], category="medical")


def recommender_with(t: Tracking, **cfg) -> Recommender:
    r = Recommender(t, config=RecommenderConfig(**cfg))
    for u in t.units():
        r.index.update(u)
    return r


def test_given_a_mixed_fleet_when_recommending_then_only_available_fresh_accurate_units_of_the_agency_are_picked():
    t = Tracking()
    place(t, "AMB-OOS", 200, status="oos")
    place(t, "AMB-BUSY", 300, status="enroute")
    place(t, "AMB-STALE", 400, age_s=600)
    place(t, "AMB-BLUR", 450, acc=800)
    place(t, "POL-01", 100, agency="police", type_="police_car")
    place(t, "AMB-03", 3000)
    place(t, "AMB-01", 1000)
    place(t, "AMB-02", 2000)
    place(t, "AMB-04", 4000)
    rec = recommender_with(t).recommend(SITE, NOW)
    assert [p.unit for p in rec.picks] == ["AMB-01", "AMB-02", "AMB-03"]
    first = rec.picks[0]
    assert 990 < first.distance_m < 1010 and first.fix_age_s == 5.0 and first.accuracy_m == 8
    # ETA = 1 km x 1.35 road factor at 40 km/h = 121.5 s
    assert abs(first.eta_s - 121.5) < 2
    assert "km straight line" in first.reasons[0] and "fix 5 s old" in first.reasons[1]
    why = {e["unit"]: e["code"] for e in rec.excluded}
    assert why == {"POL-01": "wrong_agency", "AMB-OOS": "out_of_service", "AMB-BUSY": "busy",
                   "AMB-STALE": "stale_fix", "AMB-BLUR": "poor_accuracy"}
    assert [e["unit"] for e in rec.excluded] == ["POL-01", "AMB-OOS", "AMB-BUSY", "AMB-STALE", "AMB-BLUR"]
    assert "600 s old" in next(e["reason"] for e in rec.excluded if e["unit"] == "AMB-STALE")


def test_given_a_faster_unit_slightly_farther_when_ranking_then_eta_not_distance_decides():
    t = Tracking()
    place(t, "AMB-01", 2500)                        # 2.5 km at 40 km/h: 304 s
    place(t, "MTR-01", 3000, type_="motorbike")     # 3.0 km at 50 km/h: 292 s
    rec = recommender_with(t).recommend(SITE, NOW)
    assert [p.unit for p in rec.picks] == ["MTR-01", "AMB-01"]
    assert "only 2 eligible medical unit(s)" in rec.note


def test_given_a_road_router_when_it_replaces_the_eta_model_then_its_times_rank_the_units():
    class RiverCrossing(GreatCircleEta):
        """A router that knows AMB-NEAR's side of the river has no bridge: +20 min."""
        def eta_s(self, unit_type, distance_m, from_lat=0, from_lon=0, to_lat=0, to_lon=0):
            base = super().eta_s(unit_type, distance_m)
            return base + (1200 if from_lat > INCIDENT[0] + 500 * 9 and distance_m < 1500 else 0)
    t = Tracking()
    place(t, "AMB-NEAR", 1000)
    place(t, "AMB-FAR", 5000)
    rec = Recommender(t, eta=RiverCrossing()).recommend(SITE, NOW)
    assert [p.unit for p in rec.picks] == ["AMB-FAR", "AMB-NEAR"]


def test_given_the_cores_agency_code_or_an_unknown_category_when_recommending_then_it_is_understood_or_explained():
    t = Tracking()
    place(t, "AMB-01", 1000)
    r = recommender_with(t)
    assert [p.unit for p in r.recommend(IncidentSite(1, INCIDENT[0], INCIDENT[1], "dinkes"), NOW).picks] == ["AMB-01"]
    unknown = r.recommend(IncidentSite(2, INCIDENT[0], INCIDENT[1], "unknown"), NOW)
    assert unknown.picks == [] and "triage" in unknown.note


def test_given_units_held_by_the_caller_when_recommending_then_they_are_skipped_with_the_callers_reason():
    t = Tracking()
    place(t, "AMB-01", 1000)
    place(t, "AMB-02", 2000)
    rec = recommender_with(t).recommend(SITE, NOW, held={"AMB-01": "declined order d41-1 for this incident"})
    assert [p.unit for p in rec.picks] == ["AMB-02"]
    assert rec.excluded[0]["reason"] == "declined order d41-1 for this incident"


def test_given_a_unit_that_moves_when_its_fix_is_accepted_then_the_index_follows_it():
    from tests.units.conftest import pos_msg
    t = Tracking()
    far = place(t, "AMB-01", 30000, age_s=1800)   # parked far away, last heard half an hour ago
    place(t, "AMB-02", 5000)
    r = recommender_with(t)
    assert [p.unit for p in r.recommend(SITE, NOW).picks] == ["AMB-02"]
    # It drove 29 km in 30 min (58 km/h, plausible) and is now 100 m from the incident.
    assert not hasattr(t.accept_position(pos_msg(far.device_id, NOW, INCIDENT[0] + 900, INCIDENT[1], acc=5), NOW), "code")
    assert [p.unit for p in r.recommend(SITE, NOW).picks] == ["AMB-01", "AMB-02"]


# Not a codec property: 200 random fleets (up to 120 units, three cell sizes) keep it to seconds.
@settings(max_examples=200)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 120), cell=st.sampled_from([2_000, 10_000, 50_000]))
def test_given_any_fleet_when_recommending_then_the_grid_search_equals_a_brute_force_ranking(seed, n, cell):
    rnd = random.Random(seed)
    t = Tracking()
    eta = GreatCircleEta()
    site = IncidentSite(1, INCIDENT[0] + rnd.randint(-50_000, 50_000), INCIDENT[1] + rnd.randint(-50_000, 50_000), "fire")
    for i in range(n):
        u = Unit(id=f"U{i}", callsign=f"U{i}", agency=rnd.choice(["fire", "fire", "police"]),
                 type=rnd.choice(["fire_truck", "rescue_truck", "motorbike"]),
                 status=rnd.choice(["available", "available", "available", "oos", "enroute"]), device_id=f"d{i}")
        t.add_unit(u)
        u.position = Position(lat=INCIDENT[0] + rnd.randint(-200_000, 200_000), lon=INCIDENT[1] + rnd.randint(-200_000, 200_000),
                              ts=NOW - rnd.choice([1, 10, 500]), received_at=NOW, acc=rnd.choice([5, 50, 500]))
    r = Recommender(t, eta=eta, cell_udeg=cell)
    got = [p.unit for p in r.recommend(site, NOW).picks]
    eligible = [u for u in t.units() if u.agency == "fire" and u.status == "available"
                and NOW - u.position.ts <= 120 and u.position.acc <= 100]
    want = sorted(eligible, key=lambda u: eta.eta_s(u.type, haversine_m(site.lat, site.lon, u.position.lat, u.position.lon)))
    assert got == [u.id for u in want[:3]]
