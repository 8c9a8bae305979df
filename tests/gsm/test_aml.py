"""AML (ETSI TS 103 625) parsing against every vector in ../shared/data/aml/aml_vectors.json."""
from __future__ import annotations

import calendar
import json

from fleet_server.sms import aml
from protocols.rejection import Rejection

METHOD = {"W (WIFI_SIGNAL)": "wifi", "N (NO_LOCATION)": "none", "G": "gnss"}


def _vectors(shared_data):
    return json.loads((shared_data / "aml" / "aml_vectors.json").read_text())


def _utc(iso: str) -> int:
    return calendar.timegm((int(iso[:4]), int(iso[5:7]), int(iso[8:10]), int(iso[11:13]), int(iso[14:16]), int(iso[17:19]), 0, 0, 0))


def _check(loc: dict, want: dict) -> None:
    if "version" in want:
        assert loc["version"] == want["version"]
    if "latitude" in want:
        assert loc["lat"] == (None if want["latitude"] is None or loc["method"] == "none" else round(want["latitude"] * 1e6))
    if "longitude" in want:
        assert loc["lon"] == (None if loc["method"] == "none" else round(want["longitude"] * 1e6))
    if "radius_m" in want:
        assert loc["radius_m"] == want["radius_m"]
    if "accuracy_m" in want:
        assert loc["radius_m"] == want["accuracy_m"]
    if "time_of_positioning_utc" in want:
        t = want["time_of_positioning_utc"]
        assert loc["time"] == (None if t is None else _utc(t))
    if "level_of_confidence_pct" in want:
        assert loc["confidence_pct"] == want["level_of_confidence_pct"]
    if "positioning_method" in want:
        pm = want["positioning_method"]
        assert loc["method"] == (None if pm is None else METHOD[pm])
    for k, name in (("imsi", "imsi"), ("imei", "imei"), ("mcc", "mcc"), ("mnc", "mnc"), ("emergency_number", "emergency_number")):
        if k in want:
            assert loc[name] == want[k]
    if "beginning_of_call_epoch_s" in want:
        assert loc["time"] == want["beginning_of_call_epoch_s"] + want["lt_offset_s"]
    if "altitude_m" in want:
        assert loc["altitude_dm"] == round(want["altitude_m"] * 10)


def test_given_every_aml_sms_vector_then_it_parses_to_the_expected_values_or_is_rejected_with_a_reason(shared_data):
    vectors = _vectors(shared_data)["sms_vectors"]
    assert len(vectors) == 17
    accepted = rejected = 0
    for v in vectors:
        got = aml.parse(v["sms"])
        want = v["expect"]
        if want.get("valid") is False or v["test"].startswith("noHeaderValue"):
            # noHeaderValue only parses with GridGears' validation switched off; ours always validates.
            assert isinstance(got, Rejection), v["test"]
            assert len(got.reason) > 15 and got.code, v["test"]
            rejected += 1
        else:
            assert not isinstance(got, Rejection), (v["test"], got)
            _check(got, want)
            accepted += 1
    assert (accepted, rejected) == (8, 9)


def test_given_the_rejections_then_each_reason_names_what_is_wrong(shared_data):
    by_test = {v["test"]: v["sms"] for v in _vectors(shared_data)["sms_vectors"]}
    expect = {
        "invalidMessageLength": "ml says 10",
        "unknownAttribute": "'kl' is not defined",
        "incorrectDateFormat": "not YYYYMMDDhhmmss",
        "unknownPositioningMethod": "'Z' is not one of",
        "invalidLatitude": "latitude",
        "invalidLevelOfConfidence": "whole percentage",
        "invalidAttributePair": "not key=value",
        "invalidAttribute": "empty attribute",
    }
    for test, words in expect.items():
        r = aml.parse(by_test[test])
        assert isinstance(r, Rejection) and words in r.reason, (test, r)


def test_given_no_location_then_the_phone_is_not_plotted_at_zero_zero(shared_data):
    v = next(v for v in _vectors(shared_data)["sms_vectors"] if v["test"] == "validAmlMessageNoLocation")
    loc = aml.parse(v["sms"])
    assert loc["has_location"] is False and loc["lat"] is None and loc["lon"] is None


def test_given_coordinates_then_microdegrees_are_exact_without_float_rounding():
    assert aml.to_micro("+54.76397") == 54_763_970
    assert aml.to_micro("-0.18305") == -183_050
    assert aml.to_micro("-6.9147449") == -6_914_745
    assert aml.to_micro("+g4.7d397") is None


def test_given_the_android_data_sms_then_the_packed_text_parses(shared_data):
    v = _vectors(shared_data)["data_sms_vector"]
    loc = aml.parse_data_sms(bytes.fromhex(v["payload_hex"]))
    assert not isinstance(loc, Rejection), loc
    assert loc["lat"] == round(v["expect"]["latitude"] * 1e6) and loc["imei"] == v["expect"]["imei"]


def test_given_https_aml_then_values_parse_and_the_hmac_is_checked(shared_data):
    plain, signed = _vectors(shared_data)["https_vectors"]
    loc = aml.parse_https(plain["body"])
    e = plain["expect"]
    assert (loc["lat"], loc["lon"], loc["radius_m"], loc["confidence_pct"], loc["floor"], loc["time_ms"]) == (
        round(e["latitude"] * 1e6), round(e["longitude"] * 1e6), e["accuracy_m"], e["certainty_pct"], e["floor"], e["location_time_ms"])
    assert loc["method"] == "gnss"
    assert not isinstance(aml.parse_https(signed["body"], key=b"AML"), Rejection)
    bad = aml.parse_https(signed["body"].replace("0.85732", "0.85733"), key=b"AML")
    assert isinstance(bad, Rejection) and bad.code == "bad_hmac"


def test_given_hostile_text_then_parse_returns_a_rejection_and_never_raises():
    for text in (None, "", 'A"ML=', 'A"ML=9;lt=1', 'A"ML=1;' + "x=" * 400, 'A"ML=1;lt=1;lt=2', 'A"ML=1;=5',
                 'A"ML=1;lt=99.0;lg=0;ml=20', 'A"ML=2;lo=1,2', "\x00" * 50, 'A"ML=1;top=20131317141935'):
        assert isinstance(aml.parse(text), Rejection), text


def test_given_a_location_then_log_fields_never_carry_imsi_or_imei(shared_data):
    loc = aml.parse(_vectors(shared_data)["sms_vectors"][0]["sms"])
    fields = aml.log_fields(loc)
    assert "123456789012345" not in json.dumps(fields) and "1234567890123456" not in json.dumps(fields)
    assert fields["lat"] == 54_763_970
