"""Several workers, active-active, on one broker and one PostgreSQL (docs/deploy.md, "Several
workers"), for 1, 2 and 3 workers in the same run:

1. alarm -> ack latency at idle (one button, sequential alarms; p50/p99/max);
2. sustained alarm ingest: N alarms from many buttons published at once, rate = N / (first press
   -> last ack), every one acked, stored once;
3. sustained position ingest: trackers flood `pos` (QoS 0) for a few seconds, rate = positions the
   workers handled (their metrics, summed) / the time they took;
4. with 2 and 3 workers, the storm: >= 1,000 alarms at a steady rate from simulated buttons plus
   real firmware buttons (the MicroPython binary), the worker holding the leases SIGKILLed in the
   middle -> exactly one stored alarm per (device, boot, seq), the expected incidents, 0 pending
   on the firmware's flash, every lease taken over (time from the kill), and the ack delay of the
   alarms pressed around the kill (p50/p99/max).
Ratios are to one worker in the same run. On 2 cores the workers, the broker, PostgreSQL and the
load generators share the machine: the ratio says what a second worker buys here, not on a
machine with a core per worker.

`python -m simulators.bench.workers [--smoke]`  -> bench/results/workers.json"""
from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from fleet_server.broker import Mosquitto
from fleet_server.cluster.leases import DUTIES
from simulators.bench.results import percentiles, write
from simulators.workers import (AlarmSwarm, PositionStream, Workers, leases, register_buttons, register_trackers,
                                wait_takeover)
from tests.support import postgres as pg

KILL_WINDOW_S = (1.0, 10.0)     # alarms pressed from 1 s before the kill to 10 s after it


def _metric_sum(servers, name: str, **labels) -> float:
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    total = 0.0
    for s in servers:
        if not s.running:
            continue
        try:
            for line in httpx.get(s.base_url + "/metrics", timeout=5).text.splitlines():
                if line.startswith(want + " "):
                    total += float(line.split()[-1])
        except httpx.HTTPError:
            pass
    return total


def _query(url: str, sql: str, **params):
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text(sql), params).all()
    finally:
        engine.dispose()


def _ms(d: dict) -> dict:
    return {k: (round(v * 1000, 1) if isinstance(v, float) else v) for k, v in d.items()}


def _latency(broker, w, tag: str, n: int) -> dict:
    dev = f"lat-{tag}"
    register_buttons(w[0], [dev], first=900)
    swarm = AlarmSwarm(broker, f"lat-swarm-{tag}", "swarm-secret", [dev], resend_s=5.0, first=900)
    out = []
    try:
        for seq in range(1, n + 1):
            swarm.press(dev, seq)
            d = swarm.wait_acked(dev, seq, 10)
            if d is None:
                raise RuntimeError(f"no ack for {dev} seq {seq}")
            out.append(d)
            time.sleep(0.02)
    finally:
        swarm.close()
    return _ms(percentiles(out))


def _sustained_alarms(broker, w, url, tag: str, buttons: int, n: int) -> dict:
    ids = [f"sus-{tag}-{k:03d}" for k in range(buttons)]
    register_buttons(w[0], ids, first=1000)
    swarm = AlarmSwarm(broker, f"sus-swarm-{tag}", "swarm-secret", ids, resend_s=15.0, first=1000)
    try:
        per = n // buttons
        for seq in range(1, per + 1):
            for dev in ids:
                swarm.press(dev, seq)
        ok = swarm.wait_all_acked(300)
        first = min(swarm.pressed.values())
        last = max(swarm.acked.values()) if swarm.acked else first
        stored = _query(url, "SELECT count(*) FROM alarms WHERE device_id LIKE :p", p=f"sus-{tag}-%")[0][0]
        return {"alarms": per * buttons, "acked": len(swarm.acked), "all_acked": ok, "stored": stored,
                "alarms_per_s": round(len(swarm.acked) / max(1e-6, last - first), 1),
                "resent": swarm.resent}
    finally:
        swarm.close()


def _positions(broker, w, tag: str, trackers: int, rate: int, seconds: float) -> dict:
    ids = [f"trk-{tag}-{k:03d}" for k in range(trackers)]
    register_trackers(w[0], ids)
    time.sleep(2.5)   # the workers' active-device caches refresh (a miss re-reads within 2 s)
    # Every message the workers' ingest handled (decoded, checked, filtered), accepted or not: the
    # tracking filter refuses fixes that do not advance, which a flood sends many of.
    before = _metric_sum(w.servers, "siaga_ingest_wait_seconds_count")
    accepted0 = _metric_sum(w.servers, "siaga_ingest_messages_total", type="pos")
    stream = PositionStream(broker, f"pos-{tag}", "pos-secret", ids, rate).start()
    t0 = time.monotonic()
    time.sleep(seconds)
    sent = stream.stop()
    # The workers drain what is queued; stop when the count stops moving.
    last, last_change = before, time.monotonic()
    while time.monotonic() - last_change < 1.5 and time.monotonic() - t0 < seconds + 60:
        time.sleep(0.25)
        now = _metric_sum(w.servers, "siaga_ingest_wait_seconds_count")
        if now != last:
            last, last_change = now, time.monotonic()
    handled = last - before
    span = last_change - t0
    return {"sent": sent, "handled": int(handled), "offered_per_s": rate,
            "accepted_as_unit_positions": int(_metric_sum(w.servers, "siaga_ingest_messages_total", type="pos")
                                              - accepted0),
            "positions_per_s": round(handled / max(1e-6, span), 1)}


def _storm(broker, w, url, tmp: Path, tag: str, buttons: int, per: int, rate: float, firmware: int) -> dict:
    from simulators.devices.firmware_button import FirmwareButton

    ids = [f"storm-{tag}-{k:03d}" for k in range(buttons)]
    register_buttons(w[1], ids, first=2000)
    fw_ids = [f"fw-{tag}-{k}" for k in range(firmware)]
    fw = []
    for k, dev in enumerate(fw_ids):
        broker.add_account(dev, f"pw-{dev}")
        lat = -6_914_700 - 3000 * (3000 + k)
        httpx.post(w[1].base_url + "/api/v1/devices", headers=w[1].auth(), timeout=10,
                   json={"id": dev, "kind": "button", "lat_udeg": lat, "lon_udeg": 107_609_800,
                         "category": "medical"}).raise_for_status()
        fw.append(FirmwareButton(tmp / dev, dev, f"pw-{dev}", broker.host, broker.port, hold_ms=200, resend_s=2,
                                 lat=lat, lon=107_609_800))
    broker.reload()
    for b in fw:
        b.start()
    swarm = AlarmSwarm(broker, f"storm-swarm-{tag}", "swarm-secret", ids, resend_s=2.0, first=2000)
    t_start = time.time()
    total = buttons * per
    holder = leases(url)[DUTIES[0]][0]
    victim = next(s for s in w.servers if s.env["SIAGA_WORKER_ID"] == holder)
    fw_presses = threading.Thread(target=lambda: [b.press() for _ in range(3) for b in fw], daemon=True)
    fw_presses.start()
    kill_at = None
    try:
        t0 = time.monotonic()
        for i in range(total):
            seq, dev = i // buttons + 1, ids[i % buttons]
            due = t0 + i / rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            swarm.press(dev, seq)
            if kill_at is None and i >= total * 0.4:
                kill_at = time.time()
                victim.kill()
        fw_presses.join(60)
        takeover = wait_takeover(url, holder, timeout=30)
        ok = swarm.wait_all_acked(60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(b.outbox() for b in fw):
            time.sleep(0.2)
        fw_pending = sum(len(b.outbox()) for b in fw)
    finally:
        swarm.close()
        for b in fw:
            b.stop()
    rows = _query(url, "SELECT device_id, boot, seq, count(*) FROM alarms WHERE device_id LIKE :a OR device_id LIKE :b "
                       "GROUP BY device_id, boot, seq", a=f"storm-{tag}-%", b=f"fw-{tag}-%")
    swarm_rows = {(r[0], r[1], r[2]) for r in rows if r[0].startswith("storm-")}
    fw_alarms = sum(1 for r in rows if r[0].startswith("fw-"))
    incidents = _query(url, "SELECT count(DISTINCT ia.incident_id) FROM incident_alarms ia JOIN alarms a "
                            "ON a.id = ia.alarm_id WHERE a.device_id LIKE :a OR a.device_id LIKE :b",
                       a=f"storm-{tag}-%", b=f"fw-{tag}-%")[0][0]
    around = swarm.ack_delays(kill_at - KILL_WINDOW_S[0], kill_at + KILL_WINDOW_S[1])
    return {"alarms": total + fw_alarms, "simulated": total, "firmware_buttons": firmware,
            "firmware_alarms_stored": fw_alarms, "firmware_pending_on_flash": fw_pending,
            "all_acked": ok and fw_pending == 0, "acked": len(swarm.acked),
            "stored_exactly_once": all(r[3] == 1 for r in rows) and swarm_rows == set(swarm.pressed),
            "incidents": incidents, "incidents_expected": buttons + firmware,
            "killed": holder, "killed_after_s": round(kill_at - t_start, 2),
            "lease_takeover_s": {n: round(acq - kill_at, 3) for n, (_h, acq) in takeover.items()},
            "lease_takeover_max_s": round(max(acq - kill_at for _h, acq in takeover.values()), 3),
            "ack_delay_around_kill_s": percentiles(around),
            "ack_delay_all_s": percentiles(swarm.ack_delays()), "resent": swarm.resent}


def main(smoke: bool = False) -> dict:
    if not pg.available():
        raise RuntimeError("PostgreSQL is not installed: several workers need it")
    # The smoke run proves the harness (tests/bench): two topologies, a small storm.
    sizes = dict(latency=5, buttons=20, alarms=200, trackers=10, pos_rate=2000, pos_s=1.0,
                 storm_buttons=40, storm_per=5, storm_rate=200.0, firmware=1, topologies=(1, 2)) if smoke else \
        dict(latency=50, buttons=200, alarms=3000, trackers=50, pos_rate=8000, pos_s=6.0,
             storm_buttons=300, storm_per=4, storm_rate=250.0, firmware=3, topologies=(1, 2, 3))
    out: dict = {"sizes": sizes, "topologies": {}}
    with tempfile.TemporaryDirectory(prefix="siaga-workers-") as d:
        tmp = Path(d)
        cluster = pg.PostgresCluster().start()
        broker = Mosquitto(tmp / "broker")
        broker.add_account("fleet-server", "server-secret", role="server")
        broker.start()
        try:
            for n in sizes["topologies"]:
                url = cluster.new_database(f"workers{n}")
                w = Workers(tmp / f"n{n}", broker, url, n).start()
                tag = f"n{n}"
                try:
                    res = {"workers": n,
                           "alarm_ack_latency_ms": _latency(broker, w, tag, sizes["latency"]),
                           "alarm_ingest": _sustained_alarms(broker, w, url, tag, sizes["buttons"], sizes["alarms"]),
                           "position_ingest": _positions(broker, w, tag, sizes["trackers"], sizes["pos_rate"],
                                                         sizes["pos_s"])}
                    if n >= 2:
                        res["storm_with_worker_kill"] = _storm(broker, w, url, tmp, tag, sizes["storm_buttons"],
                                                               sizes["storm_per"], sizes["storm_rate"],
                                                               sizes["firmware"])
                    out["topologies"][str(n)] = res
                    print(f"{n} worker(s): {res}")
                finally:
                    w.stop()
        finally:
            broker.stop()
            cluster.stop()
    one = out["topologies"]["1"]
    for n, res in out["topologies"].items():
        res["alarm_ingest_ratio_to_1"] = round(res["alarm_ingest"]["alarms_per_s"] /
                                               one["alarm_ingest"]["alarms_per_s"], 2)
        res["position_ingest_ratio_to_1"] = round(res["position_ingest"]["positions_per_s"] /
                                                  one["position_ingest"]["positions_per_s"], 2)
    path = write("workers", out, smoke)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
