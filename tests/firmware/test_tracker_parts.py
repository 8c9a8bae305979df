"""The tracker firmware's pure parts, run on the real MicroPython binary (the runtime they ship
on): the adaptive reporting policy and the flash-backed store-and-forward backlog."""
from __future__ import annotations

import json

from tests.support.mpy import run_code


def _mpy(code: str) -> object:
    p = run_code(code, timeout=60)
    assert p.returncode == 0, p.stdout.decode()[-1500:] + p.stderr.decode()[-1500:]
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


POLICY = r"""
import json
from firmware.app.tracker_report import ReportPolicy
p = ReportPolicy(report_s=10, turn_deg=30, move_m=200, parked_s=300)
out = []
def fix(lat, lon, spd, hdg):
    return {"lat": lat, "lon": lon, "spd": spd, "hdg": hdg}
t = 0
# driving north at 15 m/s (~135 microdegrees of latitude a second), one fix a second
lat = -6902480
for i in range(25):
    out.append([t, p.decide(fix(lat, 107618790, 1500, 0), t, True)])
    lat += 135
    t += 1000
# a sharp turn east, then straight on
out.append([t, p.decide(fix(lat, 107618790, 1500, 80), t, True)]); t += 1000
out.append([t, p.decide(fix(lat, 107618925, 1500, 85), t, True)]); t += 1000
# stop: parked with the engine off, receiver noise wobbling the course
out.append([t, p.decide(fix(lat, 107619060, 0, 200), t, False)]); t += 1000
for i in range(400):
    r = p.decide(fix(lat + (i % 3), 107619060, 20, (i * 77) % 360), t, False)
    if r:
        out.append([t, r])
    t += 1000
# towed away while parked: 250 m north without speed
out.append([t, p.decide(fix(lat + 2250, 107619060, 0, 0), t, False)])
print(json.dumps(out))
"""


def test_given_a_drive_a_turn_and_a_long_stop_then_reports_follow_interval_turn_and_parked_heartbeat():
    out = _mpy(POLICY)
    drive = [r for t, r in out[:25]]
    # first fix at once, then every 10 s (report_s) or every 200 m (move_m: 15 m/s x 14 s)
    assert drive[0] == "first"
    assert [i for i, r in enumerate(drive) if r] == [0, 10, 20]
    assert set(r for r in drive if r) == {"first", "interval"}
    turn, after = out[25][1], out[26][1]
    assert turn == "turn" and after is None
    assert out[27][1] == "stop", "moving -> parked is reported at once"
    parked = [(t, r) for t, r in out[28:-1]]
    assert [r for _, r in parked] == ["parked"], "course noise while parked never counts as a turn"
    assert parked[0][0] - out[27][0] == 300_000, "the slow heartbeat comes parked_s after the stop"
    assert out[-1][1] == "distance", "moved 250 m while parked (towed, ignition off): reported at once"


STORE = r"""
import json, os
from firmware.hal.flash import FlashDir
from firmware.app.tracker_store import Backlog, CRITICAL, POSITION
root = ROOT
logged = []
def log(level, event, **kv):
    logged.append(event)
b = Backlog(FlashDir(root), log, pos_max=8)
b.start()
seq = 1
for i in range(20):
    b.put(POSITION, seq, "pos", b'{"pos":%d}' % seq)
    seq += 1
    if i % 5 == 0:
        b.put(CRITICAL, seq, "crew", b'{"crew":%d}' % seq)
        seq += 1
first = b.pending()
# a reboot: the same store read back from flash
b2 = Backlog(FlashDir(root), log, pos_max=8)
b2.start()
again = b2.pending()
newest = b2.read(POSITION, first[-1][1]).decode()
# delivery: PUBACKs arrive for everything
for lane, key in again:
    b2.done(lane, key)
files = os.listdir(root + "/backlog")
print(json.dumps({"pending": first, "again": again, "thinned": b.thinned, "logged": logged, "files": files,
                  "read": newest}))
"""


def test_given_an_offline_tracker_when_positions_overflow_then_the_oldest_are_thinned_and_crew_status_never_dropped(tmp_path):
    out = _mpy(STORE.replace("ROOT", repr(str(tmp_path / "flash"))))
    pending = [(lane, key[0], key[1]) for lane, key in out["pending"]]
    crew = [p for p in pending if p[0] == "c"]
    pos = [p for p in pending if p[0] == "p"]
    assert [s for _, s, _ in crew] == [2, 8, 14, 20], "all four crew records kept, in order"
    assert pending[:4] == crew, "critical records are sent first"
    assert len(pos) <= 8 and out["thinned"] == 20 - len(pos)
    seqs = [s for _, s, _ in pos]
    written = [i + 1 + (i + 4) // 5 for i in range(20)]   # seq of each position as the loop wrote it
    assert seqs == sorted(seqs) and set(seqs) <= set(written)
    assert seqs[-1] == written[-1], "the newest fix is never thinned"
    assert seqs[0] == 1, "the track's start stays: thinning takes every second of the oldest half"
    assert "backlog_thinned" in out["logged"]
    assert out["again"] == out["pending"], "the backlog survives a reboot exactly"
    assert out["files"] == [] and out["read"] == '{"pos":%d}' % seqs[-1]
