"""GT06 framing and decoding against Traccar's own test frames (shared/data/traccar)."""
from __future__ import annotations

import calendar
import time

from hypothesis import given, strategies as st

from protocols.rejection import Rejection, BAD_CHECKSUM, BAD_FORMAT, TRUNCATED
from fleet_server.adapters import vocab
from fleet_server.adapters.gt06 import decoder, framing
from fleet_server.adapters.gt06.decoder import GPS_TYPES, NO_FIX_TYPES, Result

IMEI = "864717003283581"
NOW = 1_780_000_000.0

# Traccar's alarm constants -> the kinds our decoder names.
TRACCAR_ALARMS = {
    "Position.ALARM_SOS": "sos", "Position.ALARM_LOW_BATTERY": "lowBattery", "Position.ALARM_TAMPERING": "tampering",
    "Position.ALARM_REMOVING": "removing", "Position.ALARM_GENERAL": "general",
    "Position.ALARM_ACCELERATION": "hardAcceleration", "Position.ALARM_BRAKING": "hardBraking",
    "Position.ALARM_ACCIDENT": "accident", "Position.ALARM_VIBRATION": "vibration",
}
# Frame types that carry a fix of their own in the layout we decode.
FIX_TYPES = set(GPS_TYPES) | {decoder.X1_GPS, decoder.ALARM_JC100}


def _decode(entry, strict=False):
    f = framing.parse(bytes.fromhex(entry["hex"]), strict_crc=strict)
    if isinstance(f, Rejection):
        return f
    return decoder.decode(f, IMEI, NOW)


def _kinds(result, kind):
    return [r for r in result.reports if r.kind == kind]


def test_crc_itu_agrees_with_every_frame_the_capture_checked(traccar_frames):
    checked = 0
    for e in traccar_frames["gt06"]:
        if "crc_ok" not in e:
            continue
        raw = bytes.fromhex(e["hex"])
        hl = 4 if e["start"] == "7979" else 3
        end = hl + e["length_field"]          # the CRC's end, by the frame's own length field
        assert (framing.crc_itu(raw[2:end - 2]) == int.from_bytes(raw[end - 2:end], "big")) == e["crc_ok"], e["hex"]
        checked += 1
    assert checked == 186


def test_strict_crc_rejects_exactly_the_frames_whose_crc_is_wrong(traccar_frames):
    for e in traccar_frames["gt06"]:
        raw = bytes.fromhex(e["hex"])
        f = framing.parse(raw, strict_crc=True)
        whole = e.get("stop_ok") and len(raw) == (4 if e["start"] == "7979" else 3) + e["length_field"] + 2
        if e.get("crc_ok") is True and whole:
            assert isinstance(f, framing.Frame), (e["hex"], f)
        else:
            assert isinstance(f, Rejection) and f.code in (BAD_CHECKSUM, BAD_FORMAT, TRUNCATED), (e["hex"], f)


def _whole(e) -> bool:
    """The frame's own length field, start and stop agree with its bytes (what a TCP stream cut by
    the length field would deliver as one frame)."""
    raw = bytes.fromhex(e["hex"])
    return (bool(e.get("stop_ok")) and e["length_field"] >= framing.MIN_LEN
            and len(raw) == (4 if e["start"] == "7979" else 3) + e["length_field"] + 2)


# Frames Traccar decodes and we refuse although their framing is sound, each with the reason.
# Anything else that is whole must decode; a change in this list is a change in what we read.
NOT_READ = {
    "78780ca346000106640c01123d5f5e0d0a": "GK310 0xA3 in its 7-byte form: no GPS block (Traccar reads step counts)",
    "787805120099abec0d0a": "an empty 0x12: Traccar asserts no position either",
}


def test_every_frame_meets_its_traccar_assertion(traccar_frames):
    """Each of the 187 frames, by the assertion Traccar's test makes of it: a frame whose framing
    is broken (length field 0 or not its size, wrong stop bytes, shorter than a frame) is refused
    with bad_format/truncated; a whole frame decodes and is acknowledged with a CRC-correct
    answer; verifyNull yields no position and no alarm; verifyPosition yields a fix unless its
    type is one that carries no fix of its own (Traccar then repeats the last known location)."""
    seen = {"broken": 0, "not_read": 0, "null": 0, "position": 0, "fixless": 0, "other": 0}
    for e in traccar_frames["gt06"]:
        r = _decode(e)
        t = int(e["protocol"], 16)
        if not _whole(e):
            assert isinstance(r, Rejection) and r.code in (BAD_FORMAT, TRUNCATED) and r.reason, (e["hex"], r)
            seen["broken"] += 1
            continue
        if e["hex"] in NOT_READ:
            assert isinstance(r, Rejection) and r.code == TRUNCATED, (e["hex"], r)
            seen["not_read"] += 1
            continue
        assert isinstance(r, Result), (e["hex"], r)
        if t not in decoder.COMMANDS and t != decoder.LOGIN:
            ack = framing.parse(r.answer, strict_crc=True)
            assert isinstance(ack, framing.Frame) and ack.type == t and ack.extended == (e["start"] == "7979"), e["hex"]
            assert ack.serial == (0 if t == decoder.TIME_REQUEST else e["serial"]), e["hex"]
        if e["assert"] == "verifyNull":
            assert not _kinds(r, "pos") and not _kinds(r, "alarm"), (e["hex"], r)
            seen["null"] += 1
        elif e["assert"] == "verifyPosition" and not e.get("decoder_model_override"):
            if t in NO_FIX_TYPES:
                assert not _kinds(r, "pos"), e["hex"]
                seen["fixless"] += 1
            else:
                p = _kinds(r, "pos")
                assert len(p) == 1, (e["hex"], r)
                assert -90_000_000 <= p[0].msg["lat"] <= 90_000_000 and -180_000_000 <= p[0].msg["lon"] <= 180_000_000
                seen["position"] += 1
        else:
            seen["other"] += 1
    assert seen == {"broken": 17, "not_read": 2, "null": 14, "position": 24, "fixless": 6, "other": 124}, seen


def test_null_frames_yield_no_position_and_no_alarm(traccar_frames):
    for e in traccar_frames["gt06"]:
        if e["assert"] != "verifyNull":
            continue
        r = _decode(e)
        if isinstance(r, Result):
            assert not _kinds(r, "pos") and not _kinds(r, "alarm"), (e["hex"], r)


def test_position_frames_yield_a_fix_or_are_declared_fixless(traccar_frames):
    with_fix = 0
    for e in traccar_frames["gt06"]:
        if e["assert"] == "verifyNull" or e["start"] != "7878":
            continue
        r = _decode(e)
        if isinstance(r, Rejection):
            assert not e.get("crc_ok") or not e.get("stop_ok") or r.code in (TRUNCATED, BAD_FORMAT), (e["hex"], r)
            continue
        t = int(e["protocol"], 16)
        if t in FIX_TYPES and _kinds(r, "pos"):
            p = _kinds(r, "pos")[0].msg
            assert -90_000_000 <= p["lat"] <= 90_000_000 and -180_000_000 <= p["lon"] <= 180_000_000
            with_fix += 1
        else:
            assert t in NO_FIX_TYPES or t in FIX_TYPES or t in (0x13, 0x23, 0x8A, decoder.LBS_ALARM), e["hex"]
    assert with_fix >= 55


def test_positions_match_the_capture_to_a_microdegree(traccar_frames):
    checked = 0
    for e in traccar_frames["gt06"]:
        h = e.get("decoded_by_helper")
        if not h or h.get("type") == "login" or e.get("decoder_model_override"):
            continue
        r = _decode(e)
        p = _kinds(r, "pos")[0].msg
        assert abs(p["lat"] / 1e6 - h["lat"]) <= 1e-6 and abs(p["lon"] / 1e6 - h["lon"]) <= 1e-6, (h, p)
        assert p["sats"] == h["satellites"]
        assert p["fixq"] == (1 if h["gps_fixed_bit12"] else 0)
        assert p["ts"] == calendar.timegm(time.strptime(h["datetime_utc"], "%Y-%m-%dT%H:%M:%SZ"))
        assert p["hdg"] == h["course"] % 360 and p["spd"] == round(h["speed_kph"] * 100000 / 3600)
        checked += 1
    assert checked == 31, checked


def test_login_gives_the_imei_and_a_correct_ack(traccar_frames):
    logins = 0
    for e in traccar_frames["gt06"]:
        h = e.get("decoded_by_helper")
        if not h or h.get("type") != "login":
            continue
        f = framing.parse(bytes.fromhex(e["hex"]), strict_crc=False)
        if isinstance(f, Rejection):
            continue
        r = decoder.decode(f, None, NOW)
        assert r.imei == h["imei_bcd"][1:]
        ack = framing.parse(r.answer, strict_crc=True)
        assert isinstance(ack, framing.Frame) and ack.type == 0x01 and ack.serial == f.serial
        logins += 1
    assert logins >= 5


def test_alarm_frames_name_the_alarm_traccar_names(traccar_frames):
    """Every frame Traccar asserts an alarm of: the same kind, an incident exactly when it is an
    SOS (or accident). Vendor variants Traccar reads under a model override (their alarm bytes
    mean other things) and the modular 0x70 frame are not read for alarms: they must at least
    never raise an incident Traccar does not see."""
    checked = unread = 0
    for e in traccar_frames["gt06"]:
        if e.get("asserted_key") != "Position.KEY_ALARM":
            continue
        r = _decode(e)
        expected = TRACCAR_ALARMS[e["asserted_value"]]
        incidents = [x.alarm for x in _kinds(r, "alarm")]
        if e.get("decoder_model_override") or e["protocol"] == "0x70":
            assert incidents == ([expected] if expected in vocab.EMERGENCY_KINDS else []), (e["hex"], incidents)
            unread += 1
            continue
        named = [x.alarm for x in r.reports if x.alarm]
        assert expected in named, (e["hex"], named)
        assert incidents == ([expected] if expected in vocab.EMERGENCY_KINDS else []), (e["hex"], incidents)
        checked += 1
    assert (checked, unread) == (16, 3), (checked, unread)


def test_sos_becomes_an_alarm_with_a_stable_identity(traccar_frames):
    sos = [e for e in traccar_frames["gt06"] if e.get("asserted_value") == "Position.ALARM_SOS"]
    assert len(sos) == 3
    for e in sos:
        first, again = _decode(e), _decode(e)
        alarms = _kinds(first, "alarm")
        assert alarms and alarms[0].alarm == "sos"
        a = alarms[0].msg
        assert a["trig"] == "crew" and a["dev"] == IMEI
        assert (a["boot"], a["seq"]) == (_kinds(again, "alarm")[0].msg["boot"], _kinds(again, "alarm")[0].msg["seq"])
        assert first.answer == again.answer and isinstance(framing.parse(first.answer), framing.Frame)


def test_frames_before_login_are_refused():
    frame = framing.parse(framing.build(0x12, 7, bytes(26)))
    r = decoder.decode(frame, None, NOW)
    assert isinstance(r, Rejection) and r.code == "unknown_device"


def test_time_request_is_answered_with_the_utc_time():
    frame = framing.parse(framing.build(0x8A, 3))
    r = decoder.decode(frame, IMEI, NOW)
    ans = framing.parse(r.answer)
    t = time.gmtime(NOW)
    assert ans.type == 0x8A and ans.content == bytes((t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec))


def test_reader_splits_a_stream_and_closes_on_garbage(traccar_frames):
    good = [bytes.fromhex(e["hex"]) for e in traccar_frames["gt06"] if e.get("crc_ok")][:40]
    stream = b"".join(good)
    reader = framing.FrameReader()
    out = []
    for i in range(0, len(stream), 7):
        out += reader.feed(stream[i:i + 7])
    assert len(out) == 40 and all(isinstance(f, framing.Frame) for f in out)
    assert reader.fatal is None
    out = reader.feed(b"GET / HTTP/1.1\r\n")
    assert reader.fatal is not None and isinstance(out[-1], Rejection)


@given(st.data())
def test_mutated_frames_never_raise(traccar_frames, data):
    e = data.draw(st.sampled_from(traccar_frames["gt06"]))
    raw = bytearray(bytes.fromhex(e["hex"]))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    raw = bytes(raw[:cut]) + data.draw(st.binary(max_size=8))
    reader = framing.FrameReader(strict_crc=data.draw(st.booleans()))
    for f in reader.feed(raw):
        if isinstance(f, framing.Frame):
            r = decoder.decode(f, IMEI, NOW)
            assert isinstance(r, (Result, Rejection))


def _alarm_packet(alarm_byte: int, status_bits: int = 0, serial: int = 9) -> bytes:
    """A 0x16 alarm packet (GPS + cells + terminal status + alarm byte), as a GT06N sends it."""
    t = time.gmtime(NOW - 5)
    content = bytes((t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0xC9))
    content += int(6.9102 * 1800000).to_bytes(4, "big") + int(107.6001 * 1800000).to_bytes(4, "big")
    content += bytes((40,)) + ((1 << 12) | 90).to_bytes(2, "big")          # fixed, south, east
    content += bytes.fromhex("09" "01fe" "0a" "1234" "567890")               # cells, with their length
    content += bytes((status_bits << 3 | 0x02, 6, 4, alarm_byte, 0x02))
    return framing.build(0x16, serial, content)


def test_alarm_packets_sos_power_cut_vibration_overspeed():
    """The alarm byte of a GT06 alarm packet: SOS is an alarm (an incident), the others are events;
    each is answered with the packet's own type and serial under a correct CRC."""
    for byte, kind in ((0x01, "sos"), (0x02, "powerCut"), (0x03, "vibration"), (0x06, "overspeed")):
        frame = framing.parse(_alarm_packet(byte, serial=byte))
        r = decoder.decode(frame, IMEI, NOW)
        assert [x.kind for x in r.reports] == ["pos", "alarm" if kind == "sos" else "event"], (kind, r)
        assert r.reports[1].alarm == kind
        assert r.reports[0].msg["lat"] == -6910200 and r.reports[0].msg["lon"] == 107600100
        ack = framing.parse(r.answer, strict_crc=True)
        assert isinstance(ack, framing.Frame) and (ack.type, ack.serial, ack.content) == (0x16, byte, b"")
        if kind == "sos":
            a = r.reports[1].msg
            assert (a["lat"], a["lon"], a["src"], a["trig"]) == (-6910200, 107600100, "gps", "crew")
    # The SOS the status bits name while it lasts, with a different alarm byte, is still an SOS.
    r = decoder.decode(framing.parse(_alarm_packet(0x02, status_bits=4)), IMEI, NOW)
    assert sorted(x.alarm for x in r.reports if x.alarm) == ["powerCut", "sos"]
    assert [x.kind for x in r.reports if x.alarm == "sos"] == ["alarm"]


def test_heartbeat_is_answered_and_keeps_the_tracker_online():
    r = decoder.decode(framing.parse(framing.build(0x13, 21, bytes((0x46, 6, 4, 0, 1)))), IMEI, NOW)
    assert [x.kind for x in r.reports] == ["status"] and r.reports[0].msg["state"] == "online"
    ack = framing.parse(r.answer, strict_crc=True)
    assert (ack.type, ack.serial) == (0x13, 21)
    # A cell-only alarm (0x19: no GPS fix) is still an alarm, without a location.
    lbs = framing.build(0x19, 22, bytes.fromhex("01fe0a1234567890") + bytes((0x22, 6, 4, 0x01, 0x02)))
    r = decoder.decode(framing.parse(lbs), IMEI, NOW)
    a = [x for x in r.reports if x.kind == "alarm"]
    assert len(a) == 1 and a[0].msg["lat"] is None and a[0].msg["src"] == "none"
