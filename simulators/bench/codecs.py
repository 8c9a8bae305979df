"""Encode/decode operations per second for each codec, on CPython and on the MicroPython binary,
measured in the same run. `python -m simulators.bench.codecs [--smoke]`"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from simulators.bench.results import REPO, write

# The same script runs on both runtimes, so the two numbers are comparable.
SCRIPT = r"""
import sys, time
from protocols import codec_json, codec_sms
from protocols.replay import ReplayWindow
N = int(sys.argv[1])
ALARM = {"v": 1, "t": "alarm", "dev": "btn-bdg-0001", "boot": 3, "seq": 17, "ts": 1795377355,
         "cat": "medical", "trig": "button", "presses": 1, "lat": -6914744, "lon": 107609810,
         "src": "fixed", "acc": 5, "age": 0}
POS = {"v": 1, "t": "pos", "dev": "trk-amb-07", "boot": 1, "seq": 900, "ts": 1795377360,
       "lat": -6896301, "lon": 107636118, "acc": 4, "spd": 1389, "hdg": 271, "alt": 7680,
       "fixq": 1, "sats": 9, "hdop": 9}
KEY = b"0123456789abcdef"
try:
    clock = time.perf_counter
except AttributeError:
    clock = time.time

def rate(fn):
    t0 = clock()
    for i in range(N):
        fn(i)
    return N / (clock() - t0)

wire_a = codec_json.encode(ALARM)
wire_p = codec_json.encode(POS)
topic = "siaga/v1/dev/trk-amb-07/up/pos"
sms = codec_sms.encode_alarm(ALARM, KEY)
res = {
  "json_encode_alarm": rate(lambda i: codec_json.encode(ALARM)),
  "json_decode_alarm": rate(lambda i: codec_json.decode(wire_a)),
  "json_encode_pos": rate(lambda i: codec_json.encode(POS)),
  "json_decode_pos_with_topic": rate(lambda i: codec_json.decode(wire_p, topic)),
  "sms_encode_alarm": rate(lambda i: codec_sms.encode_alarm(ALARM, KEY)),
  "sms_decode_alarm": rate(lambda i: codec_sms.decode_alarm(sms, lambda d: KEY, None)),
}
for k in sorted(res):
    print(k + " " + str(int(res[k])))
"""


def _parse(out: str) -> dict:
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}


def main(smoke: bool = False) -> dict:
    n = 200 if smoke else 20000
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}", PYTHONPATH=str(REPO))
    cpy = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    mpy_bin = os.path.join(os.path.dirname(sys.executable), "micropython")
    mpy = subprocess.run([mpy_bin, "-c", SCRIPT, str(n)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    for p in (cpy, mpy):
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
    c, m = _parse(cpy.stdout), _parse(mpy.stdout)
    ops = {k: {"cpython_ops_s": c[k], "micropython_ops_s": m[k], "micropython_vs_cpython": round(m[k] / c[k], 3)}
           for k in sorted(c)}
    path = write("codecs", {"iterations": n, "ops": ops}, smoke=smoke)
    print(json.dumps(ops, indent=1))
    print(f"wrote {path}")
    return ops


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
