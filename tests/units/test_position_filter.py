"""The position filter: a fix moves a unit's marker only when it is a real, fresh, plausible fix.
Every rejection says why and is counted; alarms never pass through it (see test_tracking)."""
import pytest

from protocols import codec_json
from fleet_server.domain.units import Position
from fleet_server.domain.position_filter import (DUPLICATE, FUTURE_TIME, NO_FIX, OUT_OF_ORDER, POOR_ACCURACY,
                                                SPEED_JUMP, ZERO_COORDINATES, FilterConfig, PositionFilter)

NOW = 1_790_000_000.0
BANDUNG = (-6914744, 107609810)


def pos_msg(ts=NOW, lat=BANDUNG[0], lon=BANDUNG[1], **extra):
    """A pos message as the ingest hands it over: decoded (and so validated) by protocols."""
    msg = {"v": 1, "t": "pos", "dev": "trk-amb-01", "boot": 1, "seq": 7, "ts": int(ts), "lat": lat, "lon": lon}
    msg.update(extra)
    decoded = codec_json.decode(codec_json.encode(msg))
    assert isinstance(decoded, dict)
    return decoded


def prev_at(ts, lat=BANDUNG[0], lon=BANDUNG[1]):
    return Position(lat=lat, lon=lon, ts=ts, received_at=ts)


@pytest.mark.parametrize("case, msg, previous, code", [
    ("receiver says no fix", pos_msg(fixq=0), None, NO_FIX),
    ("no satellites", pos_msg(sats=0), None, NO_FIX),
    ("0,0 placeholder", pos_msg(lat=0, lon=0), None, ZERO_COORDINATES),
    ("clock an hour ahead", pos_msg(ts=NOW + 3600), None, FUTURE_TIME),
    ("accuracy 500 m", pos_msg(acc=500), None, POOR_ACCURACY),
    ("HDOP 25", pos_msg(hdop=250), None, POOR_ACCURACY),
    ("same fix again", pos_msg(ts=NOW), prev_at(NOW), DUPLICATE),
    ("older than the latest", pos_msg(ts=NOW - 10), prev_at(NOW), OUT_OF_ORDER),
    # 0.1 degree of latitude (about 11 km) in 10 s is about 4,000 km/h.
    ("teleport", pos_msg(ts=NOW + 10, lat=BANDUNG[0] + 100000), prev_at(NOW), SPEED_JUMP),
])
def test_given_a_bad_fix_when_checked_then_it_is_rejected_with_its_reason_and_counted(case, msg, previous, code):
    f = PositionFilter()
    r = f.check("ambulance", previous, msg, received_at=NOW)
    assert r is not None and r.code == code, case
    assert r.reason  # a sentence for the log and the technician
    assert f.rejected[code] == 1 and f.accepted == 0


def test_given_good_fixes_when_checked_then_they_pass():
    f = PositionFilter()
    assert f.check("ambulance", None, pos_msg(acc=8, fixq=1, sats=9, hdop=9), NOW) is None
    # 300 m in 10 s = 108 km/h: an ambulance on the toll road, plausible.
    assert f.check("ambulance", prev_at(NOW - 10), pos_msg(lat=BANDUNG[0] + 2700), NOW) is None
    # A clock a few seconds ahead is drift, not a broken clock.
    assert f.check("ambulance", None, pos_msg(ts=NOW + 5), NOW) is None
    assert f.accepted == 3 and sum(f.rejected.values()) == 0


def test_given_a_small_jump_within_gps_jitter_when_fixes_are_a_second_apart_then_it_is_not_a_speed_jump():
    f = PositionFilter(FilterConfig(jump_floor_m=50))
    # 40 m in 0 < dt = 1 s would be 144 km/h: under the floor it is jitter, not a teleport.
    assert f.check("ambulance", prev_at(NOW - 1), pos_msg(lat=BANDUNG[0] + 360), NOW) is None


def test_given_a_boat_when_it_jumps_faster_than_a_boat_can_then_the_boat_limit_applies():
    f = PositionFilter(FilterConfig(max_boat_speed_kmh=120))
    # 5 km in 100 s = 180 km/h: fine for a road unit (limit 250), impossible for a SAR boat.
    msg = pos_msg(ts=NOW, lat=BANDUNG[0] + 45000)
    assert f.check("ambulance", prev_at(NOW - 100), msg, NOW) is None
    assert f.check("sar_boat", prev_at(NOW - 100), msg, NOW).code == SPEED_JUMP


from hypothesis import given, settings, strategies as st  # noqa: E402

from fleet_server.domain.position_filter import REASONS  # noqa: E402


# Not a codec property (those run 2,000): 300 messages keep this near a second in CI.
@settings(max_examples=300)
@given(lat=st.integers(-90_000_000, 90_000_000), lon=st.integers(-180_000_000, 180_000_000),
       dt=st.integers(-100_000, 100_000), ahead=st.integers(-10_000, 10_000),
       acc=st.none() | st.integers(0, 10_000_000), fixq=st.none() | st.integers(0, 8),
       hdop=st.none() | st.integers(0, 9999), unit_type=st.sampled_from(["ambulance", "sar_boat"]),
       has_previous=st.booleans())
def test_given_any_valid_pos_message_when_checked_then_it_passes_or_is_rejected_with_a_known_reason(
        lat, lon, dt, ahead, acc, fixq, hdop, unit_type, has_previous):
    f = PositionFilter()
    previous = prev_at(NOW - dt, lat=-6_900_000, lon=107_600_000) if has_previous else None
    extra = {k: v for k, v in (("acc", acc), ("fixq", fixq), ("hdop", hdop)) if v is not None}
    r = f.check(unit_type, previous, pos_msg(ts=NOW + ahead, lat=lat, lon=lon, **extra), received_at=NOW)
    assert r is None or (r.code in REASONS and r.reason)
    assert f.accepted + sum(f.rejected.values()) == 1
