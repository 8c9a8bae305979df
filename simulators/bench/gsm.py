"""GSM numbers: SMS PDU codec ops/s on CPython and MicroPython, AT command round trips
through a real pty, and the center gateway's SMS throughput and latency (simulated modem -> pyserial
-> driver -> classification -> sink). `python -m simulators.bench.gsm [--smoke]`"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from simulators.bench.results import REPO, percentiles, write

SCRIPT = r"""
import sys, time
from protocols.sms import pdu as P
N = int(sys.argv[1])
clock = getattr(time, "perf_counter", time.time)
SOS = "SG1;A;btn-bdg-0001;3;17;1795377355;M;B;1;-6914744;107609810;F;5;0;0123456789ABCDEF"
LONG = "Lapor: pohon tumbang menutup Jl. Ir. H. Juanda dekat Dago, lalu lintas macet total. " * 3
DELIVER = "07919762020033F1400DD0CDF2396C7EBB010008415072411084618C0500035602010053004D005300200063006F00640065003A00200034003800350036002C00200063006F006E006600690072006D006100740069006F006E0020006F00660020006100730073006F00630069006100740069006F006E0020006200650074007700650065006E0020006100630063006F0075006E007400200061006E00640020004D00650067"
sos_pdu = P.encode_submit("+622270112112", SOS)[0][0]
def rate(fn):
    t0 = clock()
    for i in range(N):
        fn()
    return N / (clock() - t0)
res = {
  "encode_sos_submit": rate(lambda: P.encode_submit("+622270112112", SOS)),
  "decode_sos_submit": rate(lambda: P.decode(sos_pdu)),
  "encode_long_3_parts": rate(lambda: P.encode_submit("+622270112112", LONG)),
  "decode_ucs2_deliver": rate(lambda: P.decode(DELIVER)),
}
for k in sorted(res):
    print(k + " " + str(int(res[k])))
"""


def _codec(n: int) -> dict:
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}", PYTHONPATH=str(REPO))
    out = {}
    for name, argv in (("cpython", [sys.executable, "-c"]), ("micropython", [os.path.join(os.path.dirname(sys.executable), "micropython"), "-c"])):
        p = subprocess.run(argv + [SCRIPT, str(n)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
        out[name] = {l.split()[0]: int(l.split()[1]) for l in p.stdout.splitlines() if l.strip()}
    return {k: {"cpython_ops_s": out["cpython"][k], "micropython_ops_s": out["micropython"][k]} for k in sorted(out["cpython"])}


def _at_round_trip(n: int, tmp: Path) -> dict:
    from protocols.at.modem import Modem
    from fleet_server.sms.serial_uart import SerialUart
    from simulators.modem import SimModem, SmsNetwork

    sim = SimModem(tmp / "rtt", "+62811000001", SmsNetwork(), model="SIM800").start()
    try:
        m = Modem(SerialUart(sim.port))
        m.init()
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            m.signal()
            samples.append((time.perf_counter() - t0) * 1000)
        return {"command": "AT+CSQ", "ms": percentiles(samples)}
    finally:
        sim.stop()


class _Sink:
    def __init__(self):
        self.times: list[float] = []
        self.rejected = 0
        self.done = threading.Event()
        self.want = 0

    def on_alarm(self, alarm, via, sender_masked):
        self.times.append(time.perf_counter())
        if len(self.times) >= self.want:
            self.done.set()

    def on_aml(self, *a):
        pass

    def on_text_report(self, *a):
        return None

    def on_rejected(self, *a):
        self.rejected += 1


def _gateway(n: int, tmp: Path) -> dict:
    from fleet_server.sms.gateway import MemoryReplayStore, SmsGateway
    from protocols import codec_sms
    from simulators.modem import SimModem, SmsNetwork

    key = b"k" * 32
    net = SmsNetwork()
    center = SimModem(tmp / "center", "+622270112112", net, model="SIM800", capacity=255).start()
    sink = _Sink()
    sink.want = n
    gw = SmsGateway(center.port, sink, lambda d: key, MemoryReplayStore(), reply=False, sweep_s=3600)
    gw.start()
    try:
        if not gw.connected.wait(10):
            raise RuntimeError("gateway did not open the simulated modem")
        now = int(time.time())
        texts = [codec_sms.encode_alarm({"v": 1, "t": "alarm", "dev": "btn-bdg-0001", "boot": 1, "seq": i, "ts": now,
                                          "cat": "fire", "trig": "button", "presses": 1, "lat": -6914744, "lon": 107609810,
                                          "src": "gps", "acc": 8, "age": 2}, key) for i in range(n)]
        sent = []
        t0 = time.perf_counter()
        for text in texts:
            # One at a time: the latency of an SOS on an idle gateway, not a queue's.
            k = len(sink.times)
            sent.append(time.perf_counter())
            net.send_from("+62811000001", "+622270112112", text)
            deadline = time.monotonic() + 10
            while len(sink.times) <= k and time.monotonic() < deadline:
                time.sleep(0.0005)
        lat = [(b - a) * 1000 for a, b in zip(sent, sink.times)]
        serial_s = time.perf_counter() - t0
        # A burst: everything lands on the SIM at once, as after a network outage.
        sink.times.clear()
        sink.done.clear()
        burst = min(n, 200)
        sink.want = burst
        texts = [codec_sms.encode_alarm({"v": 1, "t": "alarm", "dev": "btn-bdg-0002", "boot": 1, "seq": i, "ts": now,
                                          "cat": "fire", "trig": "button", "presses": 1, "lat": None, "lon": None,
                                          "src": "none", "acc": None, "age": None}, key) for i in range(burst)]
        t1 = time.perf_counter()
        for text in texts:
            net.send_from("+62811000002", "+622270112112", text)
        sink.done.wait(120)
        burst_s = time.perf_counter() - t1
        return {"sms": n, "latency_ms_one_at_a_time": percentiles(lat), "sequential_sms_per_s": round(n / serial_s, 1),
                "burst": burst, "burst_sms_per_s": round(len(sink.times) / burst_s, 1), "burst_received": len(sink.times),
                "rejected": sink.rejected}
    finally:
        gw.stop()
        center.stop()


GSM_MODULES = ["protocols/at/modem.py", "protocols/at/parse.py", "protocols/at/data.py",
               "firmware/app/modem_sos.py", "protocols/sms/pdu.py"]


def _footprint(tmp: Path) -> dict:
    """What the GSM modules add to a device: frozen .mpy bytes (mpy-cross) and heap once imported
    on the MicroPython unix port (an ESP32 without PSRAM has about 100 KB free)."""
    mpy_bin = Path(sys.executable).parent / "micropython"
    mpy_cross = mpy_bin.parent / "mpy-cross"
    sizes = {}
    for rel in GSM_MODULES:
        dst = tmp / (Path(rel).stem + ".mpy")
        subprocess.run([str(mpy_cross), "-o", str(dst), str(REPO / rel)], check=True, timeout=60)
        sizes[rel] = dst.stat().st_size
    code = ("import gc\ngc.collect()\na = gc.mem_alloc()\n"
            "import protocols.at.modem, protocols.at.data, firmware.app.modem_sos, protocols.sms.pdu\n"
            "gc.collect()\nprint(gc.mem_alloc() - a)")
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}")
    p = subprocess.run([str(mpy_bin), "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return {"mpy_bytes": sizes, "mpy_total_bytes": sum(sizes.values()),
            "heap_after_import_bytes": int(p.stdout.strip().splitlines()[-1])}


def main(smoke: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        res = {
            "pdu_codec_ops_s": _codec(200 if smoke else 5000),
            "firmware_footprint": _footprint(tmp),
            "at_round_trip_pty": _at_round_trip(20 if smoke else 500, tmp),
            "gateway_sos": _gateway(20 if smoke else 300, tmp),
        }
    path = write("gsm", res, smoke=smoke)
    print(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return res


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
