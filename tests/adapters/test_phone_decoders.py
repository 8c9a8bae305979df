"""OsmAnd (Traccar Client), OwnTracks and Traccar-forwarding decoders against the shared captures."""
from __future__ import annotations

import calendar
import json
import time
from urllib.parse import urlsplit, parse_qsl

from hypothesis import given, strategies as st

from protocols.rejection import Rejection
from fleet_server.adapters import vocab
from fleet_server.adapters.osmand import decoder as osmand
from fleet_server.adapters.owntracks import decoder as owntracks
from fleet_server.adapters.traccar import decoder as traccar

NOW = 1_780_000_000.0


def _osmand(e):
    if e["method"] == "GET":
        return osmand.decode(parse_qsl(urlsplit(e["url"]).query, keep_blank_values=True), b"", "", NOW)
    return osmand.decode([], e["body"].encode(), e["content_type"], NOW)


def _pos(reports):
    return [r.msg for r in reports if r.kind == "pos"]


def test_osmand_requests_decode_as_traccar_asserts(traccar_frames):
    for e in traccar_frames["osmand"]:
        r = _osmand(e)
        if e["assert"] == "verifyNull":
            assert isinstance(r, Rejection) and r.code == vocab.NO_IDENTITY, r
            continue
        assert isinstance(r, list), (e, r)
        if e["assert"] == "verifyNotNull":
            assert r and not _pos(r)   # cell and Wi-Fi only: no fix of its own
            continue
        p = _pos(r)
        assert len(p) == 1, (e, r)
        if e["method"] == "GET":
            q = e["query_params"]
            lat, lon = (q["location"].split(",") if "location" in q else (q["lat"], q["lon"]))
            dev = q.get("id") or q.get("deviceid")
        else:
            f = e["fields_in_input"]
            lat, lon, dev = f["lat"], f["lon"], f["device_id"]
        assert abs(p[0]["lat"] / 1e6 - float(lat)) <= 1e-6 and abs(p[0]["lon"] / 1e6 - float(lon)) <= 1e-6
        assert p[0]["dev"] == dev


def test_osmand_units_and_time_forms(traccar_frames):
    tangerang = [e for e in traccar_frames["osmand"] if "8737767034" in e.get("body", "")][0]
    p = _pos(_osmand(tangerang))[0]
    assert p["spd"] == 1867 and p["hdg"] == 63 and p["acc"] == 4 and p["alt"] == 357
    assert p["ts"] == 1626854794
    by_ts = {e["query_params"]["timestamp"]: _pos(_osmand(e))[0]["ts"] for e in traccar_frames["osmand"]
             if e["method"] == "GET" and "timestamp" in e["query_params"] and "lat" in e["query_params"]
             and e["assert"] != "verifyNull"}
    assert by_ts["1377177267"] == 1377177267
    assert by_ts["1442068686579"] == 1442068686
    assert by_ts["2016-01-27T18:55:47Z"] == 1453920947
    assert by_ts["2014-06-04 09:10:11"] == 1401873011
    knots = osmand.decode([("id", "a"), ("lat", "1"), ("lon", "2"), ("speed", "10")], b"", "", NOW)
    assert _pos(knots)[0]["spd"] == 514


def test_osmand_post_form_batch_and_alarm():
    form = b"id=amb-7&lat=-6.9147&lon=107.6098&timestamp=1780000000&alarm=sos"
    r = osmand.decode([], form, "application/x-www-form-urlencoded", NOW)
    kinds = [x.kind for x in r]
    assert kinds == ["status", "pos", "alarm"] and r[2].alarm == "sos" and r[2].msg["lat"] == -6914700
    batch = {"device_id": "amb-7", "location": [
        {"timestamp": "2026-05-01T10:00:00Z", "coords": {"latitude": -6.9, "longitude": 107.6, "speed": 10}},
        {"timestamp": "2026-05-01T10:00:05Z", "coords": {"latitude": -6.9001, "longitude": 107.6, "speed": 10}}]}
    r = osmand.decode([], json.dumps(batch).encode(), "application/json", NOW)
    assert [p["ts"] for p in _pos(r)] == [1777629600, 1777629605]
    for bad in (b"{", b"[]", b'{"device_id":"x"}', b'{"device_id":"x","location":{"coords":{"latitude":"a"}}}'):
        assert isinstance(osmand.decode([], bad, "application/json", NOW), Rejection)
    assert isinstance(osmand.decode([("id", "x"), ("lat", "91"), ("lon", "0")], b"", "", NOW), Rejection)
    assert isinstance(osmand.decode([("id", "x"), ("lat", "nan"), ("lon", "0")], b"", "", NOW), Rejection)


def _fixture(owntracks_dir, name):
    return (owntracks_dir / "android_fixtures" / name).read_bytes()


# Every OwnTracks fixture, with what OWNTRACKS_EXPECTED.json (the app's ParserTest) says of it, as
# (kind, ts, lat, lon) per report; "reject" for the two the app refuses; [] for what yields nothing.
OWNTRACKS_FIXTURES = {
    "location_multiple_messages.json": [("pos", 1514455575), ("pos", 1514455579)],
    "transition_message.json": [("pos", 1603209966, 52712340, -1612341), ("event", 1603209966)],
    "location_with_created_at.json": [("pos", 1709037003)],
    "valid_location_message.json": [("pos", 1778266175, 0, 0)],
    "valid_location_message_with_topic.json": [("pos", 1778266175)],
    "location_empty.json": "reject",                                   # no tst: refused, no crash
    "invalid_location_message_zero_timestamp.json": "reject",
    "invalid_location_message_missing_tid_and_topic.json": "reject",
    "unknown_message.json": [],                                        # MessageUnknown, not an error
    "location_beacon_trigger.json": [("pos", None, -25762245, 126074502)],
    "location_timer_trigger.json": [("pos", None, -25762245, 126074502)],
    "location_deserialize_extended.json": [("pos",)],
    "valid_card_message.json": [],
    "waypoint_message.json": [],
    "cmd_report_location.json": [],
    "encrypted_message.json": "encrypted",
}


def test_owntracks_fixtures_follow_the_app(owntracks_dir):
    names = sorted(p.name for p in (owntracks_dir / "android_fixtures").glob("*.json"))
    assert names == sorted(OWNTRACKS_FIXTURES), "every fixture needs its expectation here"
    for name, want in OWNTRACKS_FIXTURES.items():
        r = owntracks.decode(_fixture(owntracks_dir, name), "jane/nokia")
        if want in ("reject", "encrypted"):
            assert isinstance(r, Rejection) and r.reason, (name, r)
            if want == "encrypted":
                assert r.code == vocab.ENCRYPTED and "key" in r.reason
            continue
        assert isinstance(r, list) and len(r) == len(want), (name, r)
        for rep, w in zip(r, want):
            assert rep.kind == w[0], (name, r)
            for field, value in zip(("ts", "lat", "lon"), w[1:]):
                if value is not None:
                    assert rep.msg[field] == value, (name, field, rep)
    tr = owntracks.decode(_fixture(owntracks_dir, "transition_message.json"), "jane/nokia")
    assert [x.alarm for x in tr if x.kind == "event"] == ["geofenceExit"] and _pos(tr)[0]["acc"] == 3
    for trigger in ("location_beacon_trigger.json", "location_timer_trigger.json"):
        p = _pos(owntracks.decode(_fixture(owntracks_dir, trigger), "jane/nokia"))[0]
        assert p["spd"] == 2194 and p["hdg"] == 277 and p["alt"] == 840   # vel 79 km/h, cog 277, alt 84 m
    assert _pos(owntracks.decode(_fixture(owntracks_dir, "location_deserialize_extended.json"), "j/n"))[0]["acc"] == 1600


def test_owntracks_booklet_examples(owntracks_dir):
    ex = json.loads((owntracks_dir / "OWNTRACKS_EXPECTED.json").read_text())["booklet_examples"]["items"]
    first = ex[0]
    assert owntracks.identity_from_topic(first["topic"]) == "jane/nokia"
    p = _pos(owntracks.decode(json.dumps(first["payload"]), "jane/nokia", first["topic"]))[0]
    assert p["lat"] == 48856826 and p["lon"] == 2292713 and p["ts"] == 1706856298 and p["alt"] == 1540
    lwt = [e for e in ex if isinstance(e.get("payload"), dict) and e["payload"].get("_type") == "lwt"][0]
    r = owntracks.decode(json.dumps(lwt["payload"]), "jane/nokia")
    assert r[0].kind == "status" and r[0].msg["state"] == "offline"
    enter = [e for e in ex if isinstance(e.get("payload"), dict) and e["payload"].get("event") == "enter"]
    assert all([x.alarm for x in owntracks.decode(json.dumps(e["payload"]), "j/1") if x.kind == "event"]
               == ["geofenceEnter"] for e in enter) and enter
    assert isinstance(owntracks.identity_from_topic("owntracks/jane"), Rejection)
    # The recorder's store line and API answer carry the same message: its tst is their ISO time.
    rec = [e for e in ex if "line" in e][0]
    iso, _pad, payload = rec["line"].split("\t")
    p = _pos(owntracks.decode(payload, "jane/nokia"))[0]
    assert p["ts"] == 1706858149 == calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
    api = [e for e in ex if "body" in e][0]["body"]["data"]
    p = _pos(owntracks.decode(json.dumps(api), "jane/nokia"))[0]
    assert (p["lat"], p["lon"], p["ts"]) == (48856826, 2292713, 1706858149)
    beacon = [e for e in enter if e["payload"].get("acc") == 65][0]
    assert _pos(owntracks.decode(json.dumps(beacon["payload"]), "j/1"))[0]["acc"] == 65
    minimal = [e for e in ex if isinstance(e.get("payload"), dict) and e["payload"].get("tid") == "JJ"][0]
    assert _pos(owntracks.decode(json.dumps(minimal["payload"]), "j/1"))[0]["lat"] == 48858330
    assert len(ex) == 7   # every booklet example is read above


def test_owntracks_encrypted_opens_with_the_key():
    key = owntracks.secret_key("correct horse")
    plain = json.dumps({"_type": "location", "tid": "j1", "tst": 1780000000, "lat": -6.9, "lon": 107.6}).encode()
    box = json.dumps({"_type": "encrypted", "data": owntracks.encrypt(plain, key)})
    assert _pos(owntracks.decode(box, "jane/nokia", key=key))[0]["lat"] == -6900000
    wrong = owntracks.decode(box, "jane/nokia", key=owntracks.secret_key("wrong"))
    assert isinstance(wrong, Rejection) and wrong.code == vocab.ENCRYPTED
    assert isinstance(owntracks.decode(box, "jane/nokia"), Rejection)


FORWARDED = {
    "position": {"id": 9001, "deviceId": 4, "protocol": "h02", "fixTime": "2026-05-01T10:00:00.000+00:00",
                 "valid": True, "latitude": -6.9147, "longitude": 107.6098, "altitude": 700.0, "speed": 20.0,
                 "course": 90.0, "accuracy": 0.0, "attributes": {"alarm": "sos", "ignition": True}},
    "device": {"id": 4, "name": "Ambulans 7", "uniqueId": "868120123456789", "status": "online"},
}


def test_traccar_position_and_event_forwarding_fold_into_one_alarm():
    r = traccar.decode(json.dumps(FORWARDED), NOW)
    p = _pos(r)[0]
    assert p["dev"] == "868120123456789" and p["lat"] == -6914700 and p["spd"] == 1029 and p["ts"] == 1777629600
    a = [x for x in r if x.kind == "alarm"][0]
    event = dict(FORWARDED, event={"id": 77, "type": "alarm", "positionId": 9001, "attributes": {"alarm": "sos"}})
    a2 = [x for x in traccar.decode(json.dumps(event), NOW) if x.kind == "alarm"]
    assert len(a2) == 1 and (a2[0].msg["boot"], a2[0].msg["seq"]) == (a.msg["boot"], a.msg["seq"])
    only_event = {"device": FORWARDED["device"], "event": {"type": "deviceOffline", "eventTime": "2026-05-01T10:00:00Z"}}
    assert [x.msg["state"] for x in traccar.decode(json.dumps(only_event), NOW) if x.kind == "status"][-1] == "offline"
    power = dict(FORWARDED, position=dict(FORWARDED["position"], attributes={"alarm": "powerCut"}))
    assert [x.kind for x in traccar.decode(json.dumps(power), NOW)] == ["status", "pos", "event"]
    for bad in (b"nope", b"[]", b'{"device":{}}', json.dumps({"device": FORWARDED["device"]}).encode()):
        assert isinstance(traccar.decode(bad, NOW), Rejection)


@given(st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(
        ["_type", "tst", "lat", "lon", "tid", "event", "data", "location", "coords", "device_id", "latitude",
         "longitude", "timestamp", "device", "uniqueId", "position", "attributes", "alarm", "speed"]), c, max_size=6),
    max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_hostile_bodies_never_raise(body):
    for r in (osmand.decode([], body, "application/json", NOW), owntracks.decode(body, "u/d"),
              owntracks.decode(body, "u/d", key=owntracks.secret_key("k")), traccar.decode(body, NOW),
              osmand.decode([], body, "application/x-www-form-urlencoded", NOW)):
        assert isinstance(r, (list, Rejection))
