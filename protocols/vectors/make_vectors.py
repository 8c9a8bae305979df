"""Write the golden vector files. Run `python -m protocols.vectors.make_vectors` after a protocol
change and review the diff: the committed files are the specification, not this script's output."""
import json
from binascii import hexlify
from pathlib import Path

from protocols import codec_json, codec_sms, downlink, topics
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


RFC8032_MSG_1023 = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbeffefd75499da96bd68a8a97b928a8bbc1"
    "03b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed"
    "185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39"
    "d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27"
    "088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089"
    "beccf80cfe2df16a2cf65bd92dd597b07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab"
    "27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be"
    "3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb75"
    "1fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dc"
    "da6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff"
    "7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca79"
    "84a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e48"
    "8acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac094"
    "3bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb"
    "93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610"
    "e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db"
    "2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac"
    "60c905c15fc910840b94c00a0b9d00"
)

# RFC 8032 section 7.1, TEST 1, 2, 3 and 1024: (name, secret seed, public key, message, signature).
RFC8032 = [
    ("rfc8032_test1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("rfc8032_test2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("rfc8032_test3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("rfc8032_test1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", RFC8032_MSG_1023,
     "d686294b743c6760c6a78a2c4c2fc76115c2600b8f083acde59e7cee32578c0f59ea4219ab9b5896795e4e2b87a30270aa0e3099eee944e9e67a1b22df41ff07"),
]
ED25519_L = 2 ** 252 + 27742317777372353535851937790883648493


def _flip(hexstr, bit):
    b = bytearray(bytes.fromhex(hexstr))
    b[bit // 8] ^= 1 << (bit % 8)
    return b.hex()


def ed25519_vectors():
    """The RFC's four cases, each checked against an independent signer (deterministic signatures
    make a mistyped byte show), then refusals built from them."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    out = []
    for name, seed, pub, msg, sig in RFC8032:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
        assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex() == pub, name
        assert key.sign(bytes.fromhex(msg)).hex() == sig, name
        out.append({"name": name, "pub": pub, "msg": msg, "sig": sig, "expect": "ok"})
    _, _, pub1, msg1, sig1 = RFC8032[0]
    _, _, pub2, msg2, sig2 = RFC8032[1]
    _, _, pub3, msg3, sig3 = RFC8032[2]
    s_plus_l = (int.from_bytes(bytes.fromhex(sig2[64:]), "little") + ED25519_L).to_bytes(32, "little").hex()
    refused = [
        ("flipped_bit_in_r", pub2, msg2, _flip(sig2, 3), "signature_mismatch"),
        ("flipped_bit_in_s", pub2, msg2, _flip(sig2, 256 + 9), "signature_mismatch"),
        ("flipped_bit_in_message", pub3, _flip(msg3, 0), sig3, "signature_mismatch"),
        ("flipped_bit_in_key", _flip(pub3, 17), msg3, sig3, "signature_mismatch"),
        ("wrong_key", pub1, msg2, sig2, "signature_mismatch"),
        ("message_of_another_signature", pub1, msg2, sig1, "signature_mismatch"),
        # S + L names the same scalar: a lax verifier accepts it, and then one signature has two forms.
        ("non_canonical_s_plus_l", pub2, msg2, sig2[:64] + s_plus_l, "s_out_of_range"),
        ("s_equal_to_l", pub2, msg2, sig2[:64] + ED25519_L.to_bytes(32, "little").hex(), "s_out_of_range"),
        ("s_all_ones", pub2, msg2, sig2[:64] + "ff" * 32, "s_out_of_range"),
        # y = 2 has no x on the curve; y = p (non-canonical encoding of 0) is refused by the RFC.
        ("key_not_on_curve", (2).to_bytes(32, "little").hex(), msg2, sig2, "bad_key"),
        ("key_y_not_below_p", (2 ** 255 - 19).to_bytes(32, "little").hex(), msg2, sig2, "bad_key"),
        ("signature_short", pub2, msg2, sig2[:126], "bad_signature_length"),
        ("signature_long", pub2, msg2, sig2 + "00", "bad_signature_length"),
        ("key_short", pub2[:62], msg2, sig2, "bad_key_length"),
    ]
    for name, pub, msg, sig, why in refused:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub))
            key.verify(bytes.fromhex(sig), bytes.fromhex(msg))
            raise AssertionError("an independent verifier accepts " + name)
        except (InvalidSignature, ValueError):
            pass
        out.append({"name": name, "pub": pub, "msg": msg, "sig": sig, "expect": "reject " + why})
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


# (name, builder in protocols.downlink, arguments): what the server sends, byte for byte.
DOWNLINK = [
    ("ack_of_an_alarm", "ack", ["btn-bdg-0001", 3, 17, 42, 1795377360]),
    ("ack_of_a_big_incident_id", "ack", ["btn-bdg-0001", 4294967295, 4294967295, 9007199254740992, 1795377360]),
    ("feedback_received", "feedback", ["btn-bdg-0001", 42, "received", 1795377360, 600]),
    ("feedback_near", "feedback", ["btn-bdg-0001", 42, "near", 1795377360, 600]),
    ("feedback_closed", "feedback", ["btn-bdg-0002", 7, "closed", 1795377360, 600]),
    ("dispatch_order", "dispatch_order", ["trk-amb-07", "d42-1", 42, -6914700, 107609800, "medical",
                                          "pasien sesak napas", 1795377360, 120]),
    ("dispatch_order_empty_note", "dispatch_order", ["trk-dmk-01", "d9-2", 9, -6900000, 107600000, "fire", "",
                                                     1795377360, 120]),
    ("config_command", "config_command", ["btn-bdg-0001", "cfg-1", {"heartbeat_s": 300, "hold_ms": 2000},
                                          1795377360, 600]),
    ("reboot_command", "reboot_command", ["trk-amb-07", "rb-1", 1795377360, 600]),
    ("server_online", "server_status", ["online", "5f3a9c0e12ab34cd", 1795377360]),
    ("server_offline", "server_status", ["offline", "5f3a9c0e12ab34cd", 1795377361]),
    ("ota_offer", "ota_offer", ["btn-bdg-0001", "1.4.0", 1795377360, 600]),
    ("ota_part", "ota_part", ["btn-bdg-0001", "1.4.0", "firmware/app/outbox.mpy", 2048, 4100, "M\u0006abc"]),
    ("ota_part_manifest", "ota_part", ["btn-bdg-0001", "1.4.0", "manifest.json", 0, 2, "{}"]),
    ("ota_confirm", "ota_confirm", ["btn-bdg-0001", "1.4.0"]),
    ("ota_refuse", "ota_refuse", ["btn-bdg-0001", "1.4.0", "firmware/x.mpy", "not in release 1.4.0"]),
]


def downlink_vectors():
    return [{"name": n, "builder": b, "args": args, "bytes": getattr(downlink, b)(*args).decode("utf-8")}
            for n, b, args in DOWNLINK]


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
    write("ed25519.json", {"codec": "ed25519", "vectors": ed25519_vectors()})
    write("downlink.json", {"codec": "downlink", "vectors": downlink_vectors()})


def write(name, obj):
    (HERE / name).write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
