# Runs every golden vector and prints one line per vector: "<name>\t<result>".
# The same file runs under CPython and under the MicroPython unix binary; the test suite runs it
# on both and fails if any line differs, or if any result differs from the vector's expectation.
#   micropython protocols/vectors/runner.py [vectors_dir]
import sys
import json
from binascii import hexlify, unhexlify

from protocols import codec_json, codec_sms, downlink, ed25519, ota
from protocols.canonical import dump_value
from protocols.hmac256 import hmac_sha256
from protocols.replay import ReplayWindow
from protocols.rejection import Rejection


def _load(path):
    f = open(path)
    try:
        return json.loads(f.read())
    finally:
        f.close()


def _result(value):
    if isinstance(value, Rejection):
        return "reject " + value.code
    return "ok " + dump_value(value)


def _expected(expect):
    if "reject" in expect:
        return "reject " + expect["reject"]
    return "ok " + dump_value(expect["value"])


def run_json(doc, out):
    for v in doc["vectors"]:
        payload = unhexlify(v["payload_hex"]) if "payload_hex" in v else v["payload"].encode("utf-8")
        got = _result(codec_json.decode(payload, v["topic"]))
        if got.startswith("ok "):
            # Valid frames are canonical: re-encoding the decoded value gives the same bytes.
            again = codec_json.encode(codec_json.decode(payload))
            if again != payload:
                got = "encode-mismatch"
        out(v["name"], got, _expected(v["expect"]))


def run_sms(doc, out):
    key = unhexlify(doc["key_hex"])
    device = doc["device"]
    for v in doc["vectors"]:
        window = ReplayWindow()
        for boot, seq in v["seen"]:
            window.accept(boot, seq)
        got = codec_sms.decode_alarm(v["text"], lambda d: key if d == device else None,
                                     lambda d: window, v["now"])
        res = _result(got)
        if res.startswith("ok "):
            if codec_sms.encode_alarm(got, key) != v["text"]:
                res = "encode-mismatch"
        out(v["name"], res, _expected(v["expect"]))


def run_hmac(doc, out):
    for v in doc["vectors"]:
        mac = hexlify(hmac_sha256(unhexlify(v["key"]), unhexlify(v["msg"]))).decode()
        out(v["name"], "mac " + mac, "mac " + v["mac"])


def run_ed25519(doc, out):
    for v in doc["vectors"]:
        why = ed25519.check(unhexlify(v["pub"]), unhexlify(v["msg"]), unhexlify(v["sig"]))
        out(v["name"], "ok" if why is None else "reject " + why, v["expect"])


def run_downlink(doc, out):
    # Every builder's bytes must be the golden ones, and decode as a valid message of their kind.
    for v in doc["vectors"]:
        try:
            got = getattr(downlink, v["builder"])(*v["args"])
            res = "bytes " + got.decode("utf-8")
            if v["builder"].startswith("ota_"):
                bad = isinstance(ota.parse_down(got), Rejection)
            else:
                bad = v["builder"] != "server_status" and isinstance(codec_json.decode(got), Rejection)
            if bad:
                res = "invalid " + res
        except Exception as e:
            res = "error " + type(e).__name__
        out(v["name"], res, "bytes " + v["bytes"])


def main(vdir):
    bad = [0]

    def out(name, got, want):
        print(name + "\t" + got)
        if got != want:
            bad[0] += 1
            print("MISMATCH\t" + name + "\twant " + want)

    run_json(_load(vdir + "/json.json"), out)
    run_sms(_load(vdir + "/sms.json"), out)
    run_hmac(_load(vdir + "/hmac.json"), out)
    run_ed25519(_load(vdir + "/ed25519.json"), out)
    run_downlink(_load(vdir + "/downlink.json"), out)
    print("mismatches\t%d" % bad[0])
    return bad[0]


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "protocols/vectors"
    sys.exit(1 if main(d) else 0)
