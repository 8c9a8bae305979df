"""Write the golden vector files. Run `python -m protocols.vectors.make_vectors` after a protocol
change and review the diff: the committed files are the specification, not this script's output."""
import json
from binascii import hexlify
from pathlib import Path

from protocols import codec_json, codec_sms, topics
from protocols.hmac256 import hmac_sha256

HERE = Path(__file__).parent
BANDUNG = (-6914744, 107609810)   # Gedung Sate, Bandung
KEY = "000102030405060708090a0b0c0d0e0f"

ALARM = {"v": 1, "t": "alarm", "dev": "btn-bdg-0001", "boot": 3, "seq": 17, "ts": 1795377355,
         "cat": "medical", "trig": "button", "presses": 1, "lat": BANDUNG[0], "lon": BANDUNG[1],
         "src": "fixed", "acc": 5, "age": 0}
VALID = [
    ("alarm_fixed_button", ALARM),
    ("alarm_no_fix", dict(ALARM, seq=18, cat="police", lat=None, lon=None, src="none", acc=None, age=None)),
    ("alarm_stale_gps", dict(ALARM, dev="trk-amb-07", seq=2, cat="sar", trig="crew", src="gps", acc=2500, age=3600)),
    ("alarm_tamper", dict(ALARM, seq=19, cat="unknown", trig="tamper")),
    ("alarm_stuck_many_presses", dict(ALARM, seq=20, cat="fire", trig="stuck", presses=240)),
    ("alarm_disaster_south_west_extreme", dict(ALARM, seq=21, cat="disaster", lat=-90000000, lon=-180000000)),
    ("pos_full", {"v": 1, "t": "pos", "dev": "trk-amb-07", "boot": 1, "seq": 900, "ts": 1795377360,
                  "lat": -6896301, "lon": 107636118, "acc": 4, "spd": 1389, "hdg": 271, "alt": 7680,
                  "fixq": 1, "sats": 9, "hdop": 9}),
    ("pos_minimal", {"v": 1, "t": "pos", "dev": "trk-fire-02", "boot": 0, "seq": 0, "ts": 1795377360,
                     "lat": 0, "lon": 0}),
    ("status_online", {"v": 1, "t": "status", "dev": "btn-bdg-0001", "boot": 3, "seq": 0, "state": "online",
                       "kind": "button", "fw": "0.1.0"}),
    ("status_will_offline", {"v": 1, "t": "status", "dev": "btn-bdg-0001", "boot": 3, "seq": 0, "state": "offline"}),
    ("health_button", {"v": 1, "t": "health", "dev": "btn-bdg-0001", "boot": 3, "seq": 22, "ts": 1795377400,
                       "batt": 3912, "pct": 81, "rssi": -67, "temp": 312, "tamper": False, "stuck": False,
                       "uptime": 86400, "fw": "0.1.0", "heap": 31000, "outbox": 0}),
    ("health_minimal_flags", {"v": 1, "t": "health", "dev": "btn-bdg-0002", "boot": 1, "seq": 5, "ts": 1795377400,
                              "tamper": True, "stuck": True, "uptime": 0, "fw": "0.1.0"}),
    ("crew_enroute", {"v": 1, "t": "crew", "dev": "trk-amb-07", "boot": 1, "seq": 901, "ts": 1795377365,
                      "crew": "enroute", "ign": True}),
    ("cmdres_accepted", {"v": 1, "t": "cmdres", "dev": "trk-amb-07", "boot": 1, "seq": 902, "ts": 1795377366,
                         "id": "d-42-1", "res": "accepted"}),
    ("cmdres_expired_why", {"v": 1, "t": "cmdres", "dev": "btn-bdg-0001", "boot": 3, "seq": 23, "ts": 1795377366,
                            "id": "c-7", "res": "expired", "why": "received after expiry"}),
    ("ack_alarm", {"v": 1, "t": "ack", "dev": "btn-bdg-0001", "boot": 3, "seq": 17, "inc": 42, "ts": 1795377356}),
    ("cmd_feedback", {"v": 1, "t": "cmd", "dev": "btn-bdg-0001", "id": "f-42-2", "ts": 1795377380,
                      "exp": 1795377680, "op": "feedback", "state": "dispatched", "inc": 42}),
    ("cmd_dispatch", {"v": 1, "t": "cmd", "dev": "trk-amb-07", "id": "d-42-1", "ts": 1795377370,
                      "exp": 1795377430, "op": "dispatch", "inc": 42, "lat": BANDUNG[0], "lon": BANDUNG[1],
                      "cat": "medical", "note": "Taman Lansia, gerbang utara"}),
    ("cmd_config", {"v": 1, "t": "cmd", "dev": "btn-bdg-0001", "id": "cfg-1", "ts": 1795377370,
                    "exp": 1795380970, "op": "config", "cfg": {"heartbeat_s": 120, "hold_ms": 2000}}),
    ("cmd_reboot", {"v": 1, "t": "cmd", "dev": "btn-bdg-0001", "id": "r-1", "ts": 1795377370,
                    "exp": 1795377470, "op": "reboot"}),
]


def topic_for(msg):
    if msg["t"] in topics.UP_TYPES:
        return topics.up(msg["dev"], msg["t"])
    return topics.down(msg["dev"], msg["t"])


A = codec_json.encode(ALARM).decode()
INVALID = [
    # (name, topic, payload text or None, payload hex or None, reason code)
    ("truncated_alarm", topic_for(ALARM), A[:60], None, "truncated"),
    ("empty_payload", topic_for(ALARM), "", None, "truncated"),
    ("not_json", topic_for(ALARM), "SOS!!", None, "not_object"),
    ("json_but_broken", topic_for(ALARM), '{"v":1,"t":"alarm",}', None, "not_json"),
    ("json_array", topic_for(ALARM), "[1,2,3]", None, "not_object"),
    ("not_utf8", topic_for(ALARM), None, "7bff fe00 7d".replace(" ", ""), "not_utf8"),
    ("oversize", topic_for(ALARM), A[:-1] + ',"pad":"' + "x" * 1100 + '"}', None, "oversize"),
    ("unknown_major_version", topic_for(ALARM), A.replace('"v":1', '"v":2'), None, "unknown_version"),
    ("version_missing", topic_for(ALARM), A.replace('"v":1,', ""), None, "missing_field"),
    ("unknown_type", topics.up("btn-bdg-0001", "alarm"), A.replace('"t":"alarm"', '"t":"panic"'), None, "unknown_type"),
    ("lat_out_of_range", topic_for(ALARM), A.replace('"lat":-6914744', '"lat":-91000000'), None, "out_of_range"),
    ("lon_out_of_range", topic_for(ALARM), A.replace('"lon":107609810', '"lon":180000001'), None, "out_of_range"),
    ("lat_as_float", topic_for(ALARM), A.replace('"lat":-6914744', '"lat":-6.914744'), None, "wrong_type"),
    ("seq_as_string", topic_for(ALARM), A.replace('"seq":17', '"seq":"17"'), None, "wrong_type"),
    ("seq_as_bool", topic_for(ALARM), A.replace('"seq":17', '"seq":true'), None, "wrong_type"),
    ("seq_missing", topic_for(ALARM), A.replace('"seq":17,', ""), None, "missing_field"),
    ("category_unknown", topic_for(ALARM), A.replace('"medical"', '"ghost"'), None, "bad_value"),
    ("ts_before_2020", topic_for(ALARM), A.replace("1795377355", "946684800"), None, "out_of_range"),
    ("only_lat_no_lon", topic_for(ALARM), A.replace('"lon":107609810', '"lon":null'), None, "bad_value"),
    ("topic_payload_device_mismatch", topics.up("btn-bdg-0666", "alarm"), A, None, "identity_mismatch"),
    ("topic_payload_type_mismatch", topics.up("btn-bdg-0001", "pos"), A, None, "identity_mismatch"),
    ("topic_wrong_version", "siaga/v2/dev/btn-bdg-0001/up/alarm", A, None, "bad_topic"),
    ("topic_wildcard_device", "siaga/v1/dev/+/up/alarm", A, None, "bad_topic"),
    ("device_id_with_slash", topic_for(ALARM), A.replace('"btn-bdg-0001"', '"btn/bdg"'), None, "bad_value"),
    ("control_chars_in_text", topics.up("btn-bdg-0001", "cmdres"),
     '{"v":1,"t":"cmdres","dev":"btn-bdg-0001","boot":3,"seq":23,"ts":1795377366,"id":"c\\u0007","res":"ok"}', None, "bad_value"),
    ("dispatch_without_target", topics.down("trk-amb-07", "cmd"),
     '{"v":1,"t":"cmd","dev":"trk-amb-07","id":"d-1","ts":1795377370,"exp":1795377430,"op":"dispatch","inc":4}', None, "missing_field"),
    ("cmd_expires_before_issue", topics.down("trk-amb-07", "cmd"),
     '{"v":1,"t":"cmd","dev":"trk-amb-07","id":"r-1","ts":1795377370,"exp":1795377369,"op":"reboot"}', None, "bad_value"),
    ("config_unknown_key", topics.down("btn-bdg-0001", "cmd"),
     '{"v":1,"t":"cmd","dev":"btn-bdg-0001","id":"c-1","ts":1795377370,"exp":1795377470,"op":"config","cfg":{"rm -rf":1}}', None, "bad_value"),
    ("nan_battery", topics.up("btn-bdg-0002", "health"),
     '{"v":1,"t":"health","dev":"btn-bdg-0002","boot":1,"seq":5,"ts":1795377400,"batt":NaN,"tamper":false,"stuck":false,"uptime":0,"fw":"0.1.0"}', None, "not_json"),
]


def sms_vectors():
    key = bytes.fromhex(KEY)
    good = codec_sms.encode_alarm(ALARM, key)
    nofix = codec_sms.encode_alarm(dict(ALARM, seq=18, lat=None, lon=None, src="none", acc=None, age=None), key)
    body, mac = good.rsplit(";", 1)
    flipped = body + ";" + ("0" if mac[0] != "0" else "1") + mac[1:]
    altered = good.replace(";M;", ";F;")
    out = [
        {"name": "sms_alarm_ok", "text": good, "now": 1795377400, "seen": [], "expect": {"value": ALARM}},
        {"name": "sms_alarm_no_fix", "text": nofix, "now": 1795377400, "seen": [],
         "expect": {"value": dict(ALARM, seq=18, lat=None, lon=None, src="none", acc=None, age=None)}},
        {"name": "sms_out_of_order_inside_window", "text": good, "now": 1795377400, "seen": [[3, 20], [3, 16]],
         "expect": {"value": ALARM}},
        {"name": "sms_replayed", "text": good, "now": 1795377400, "seen": [[3, 17]], "expect": {"reject": "replayed"}},
        {"name": "sms_replay_of_old_boot", "text": good, "now": 1795377400, "seen": [[4, 1]], "expect": {"reject": "replayed"}},
        {"name": "sms_too_far_behind_window", "text": good, "now": 1795377400, "seen": [[3, 200]], "expect": {"reject": "replayed"}},
        {"name": "sms_bad_hmac", "text": flipped, "now": 1795377400, "seen": [], "expect": {"reject": "bad_hmac"}},
        {"name": "sms_altered_category", "text": altered, "now": 1795377400, "seen": [], "expect": {"reject": "bad_hmac"}},
        {"name": "sms_truncated", "text": good[:50], "now": 1795377400, "seen": [], "expect": {"reject": "truncated"}},
        {"name": "sms_unknown_version", "text": "SG2" + good[3:], "now": 1795377400, "seen": [], "expect": {"reject": "unknown_version"}},
        {"name": "sms_unknown_device", "text": good.replace("btn-bdg-0001", "btn-bdg-9999"), "now": 1795377400, "seen": [],
         "expect": {"reject": "unknown_device"}},
        {"name": "sms_stale", "text": good, "now": 1795377355 + 8 * 86400, "seen": [], "expect": {"reject": "stale"}},
        {"name": "sms_free_text", "text": "Tolong ada kebakaran di Jl. Braga", "now": 1795377400, "seen": [],
         "expect": {"reject": "bad_format"}},
    ]
    return out


def hmac_vectors():
    # RFC 4231 test cases 1-4 (HMAC-SHA-256 rows).
    cases = [
        ("rfc4231_case1", "0b" * 20, b"Hi There".hex(),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("rfc4231_case2", b"Jefe".hex(), b"what do ya want for nothing?".hex(),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ("rfc4231_case3", "aa" * 20, "dd" * 50,
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("rfc4231_case4", "0102030405060708090a0b0c0d0e0f10111213141516171819", "cd" * 50,
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    ]
    for name, k, m, want in cases:
        assert hexlify(hmac_sha256(bytes.fromhex(k), bytes.fromhex(m))).decode() == want, name
    return [{"name": n, "key": k, "msg": m, "mac": w} for n, k, m, w in cases]


def main():
    valid = [{"name": n, "topic": topic_for(m), "payload": codec_json.encode(m).decode(), "expect": {"value": m}}
             for n, m in VALID]
    invalid = []
    for name, topic, text, hexpay, code in INVALID:
        v = {"name": name, "topic": topic}
        if text is not None:
            v["payload"] = text
        else:
            v["payload_hex"] = hexpay
        v["expect"] = {"reject": code}
        invalid.append(v)
    write("json.json", {"codec": "json", "vectors": valid + invalid})
    write("sms.json", {"codec": "sms", "key_hex": KEY, "device": "btn-bdg-0001", "vectors": sms_vectors()})
    write("hmac.json", {"codec": "hmac-sha256", "vectors": hmac_vectors()})


def write(name, obj):
    (HERE / name).write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
