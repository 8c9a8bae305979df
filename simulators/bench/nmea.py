"""NMEA sentences parsed per second by the firmware parser (protocols/nmea/parse.py), on CPython and
on the MicroPython binary in the same run: framing + checksum + decode through NmeaReader, and
the epoch assembler on top. The stream is every gpsd capture in the shared data, concatenated
(real receivers' mix: GSV-heavy u-blox, glued and broken cold-boot lines, 8-decimal Trimble).
`python -m simulators.bench.nmea [--smoke]`"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from simulators.bench.results import REPO, write
from tests.support.paths import SHARED_DATA

# The same script on both runtimes. A GPS at 1 Hz sends 5-30 sentences a second, so this is the
# CPU share a tracker spends on its GPS: sentences_per_s / sentences a second.
SCRIPT = r"""
import sys, time
from protocols.nmea import parse as nmea
try:
    clock = time.perf_counter
except AttributeError:
    clock = time.time
data = open(sys.argv[1], "rb").read()
rounds = int(sys.argv[2])

def run(assemble):
    sentences = 0
    t0 = clock()
    for _ in range(rounds):
        reader = nmea.NmeaReader()
        asm = nmea.EpochAssembler()
        for i in range(0, len(data), 64):          # UART-sized chunks
            for s in reader.feed(data[i:i + 64]):
                sentences += 1
                if assemble:
                    asm.feed(s)
    return sentences, clock() - t0

run(False)                                         # warm-up (caches, allocator)
n, dt = run(False)
print("reader_sentences_per_s %d" % int(n / dt))
n, dt = run(True)
print("reader_and_epochs_sentences_per_s %d" % int(n / dt))
print("sentences_per_round %d" % (n // rounds))
"""


def _stream(tmp: str) -> str:
    parts = []
    for log in sorted((SHARED_DATA / "nmea" / "gpsd").glob("*.log")):
        parts += [ln for ln in log.read_bytes().splitlines(keepends=True) if not ln.startswith(b"#")]
    path = os.path.join(tmp, "gpsd-all.nmea")
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    return path


def _parse(out: str) -> dict:
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}


def main(smoke: bool = False) -> dict:
    import tempfile
    rounds = 1 if smoke else 20
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}", PYTHONPATH=str(REPO))
    mpy_bin = os.path.join(os.path.dirname(sys.executable), "micropython")
    with tempfile.TemporaryDirectory() as tmp:
        stream = _stream(tmp)
        runs = {}
        for runtime, argv in (("cpython", [sys.executable]), ("micropython", [mpy_bin])):
            p = subprocess.run(argv + ["-c", SCRIPT, stream, str(rounds)], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"{runtime}: {p.stderr[-2000:]}")
            runs[runtime] = _parse(p.stdout)
    c, m = runs["cpython"], runs["micropython"]
    result = {
        "rounds": rounds,
        "sentences_per_round": c["sentences_per_round"],
        "cpython": {k: v for k, v in c.items() if k != "sentences_per_round"},
        "micropython": {k: v for k, v in m.items() if k != "sentences_per_round"},
        "micropython_vs_cpython": round(m["reader_and_epochs_sentences_per_s"] / c["reader_and_epochs_sentences_per_s"], 3),
        "note": "unix MicroPython on this machine, not an ESP32 (not measured on hardware here); "
                "a 1 Hz receiver sends 5-30 sentences a second",
    }
    path = write("nmea", result, smoke=smoke)
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
