"""The alarm path inside the server process, without the broker: N alarms from 500 buttons
(each its own incident, later presses folding into it, as in the server benchmark's drain) are
decoded with codec_json and committed by IncidentService.ingest_alarms in batches of 200 (the
ingest's batch), on SQLite (WAL file) and on PostgreSQL (a private cluster, when installed).

Baseline, same run, same engine and schema: the floor of what storing them costs, the same
alarm rows written with one DBAPI executemany per batch, one transaction each, no lookups and no
folding. Ratio = figure / baseline. Also the decode alone (us per alarm), for the share it has.

`python -m simulators.bench.alarm_store [--smoke]`  -> bench/results/alarm_store.json"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from fleet_server.domain.service import IncidentService, Rules
from fleet_server.storage.db import Database
from fleet_server.storage.models import Alarm
from fleet_server.storage.repositories import SqlIncidentStore
from protocols import codec_json, topics
from simulators.bench.results import write
from tests.support import postgres as pg

BASE = (-6_914_700, 107_609_800)
BATCH = 200


def _payloads(n: int, buttons: int, now: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        k = i % buttons
        dev = f"btn-store-{k:04d}"
        out.append((topics.up(dev, "alarm"), codec_json.encode({
            "v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": i // buttons + 1, "ts": now, "cat": "medical",
            "trig": "button", "presses": 1, "lat": BASE[0] - 2000 * k, "lon": BASE[1], "src": "gps", "acc": 5,
            "age": 1})))
    return out


def _service_run(db: Database, payloads, buttons: int) -> dict:
    svc = IncidentService(SqlIncidentStore(db), Rules())
    for k in range(buttons):
        svc.register_device(f"btn-store-{k:04d}", "button", "bench", site=f"site {k}",
                            lat_udeg=BASE[0] - 2000 * k, lon_udeg=BASE[1])
    decode_s = 0.0
    t0 = time.perf_counter()
    for start in range(0, len(payloads), BATCH):
        batch = []
        for topic, p in payloads[start:start + BATCH]:
            d0 = time.perf_counter()
            msg = codec_json.decode(p, topic)
            decode_s += time.perf_counter() - d0
            batch.append((msg, "mqtt", time.time()))
        results = svc.ingest_alarms(batch)
        if any(isinstance(r, Exception) for r in results):
            raise RuntimeError(f"an alarm was refused: {results}")
    span = time.perf_counter() - t0
    return {"alarms_per_s": round(len(payloads) / span, 1), "us_per_alarm": round(span / len(payloads) * 1e6, 1),
            "decode_us_per_alarm": round(decode_s / len(payloads) * 1e6, 2)}


def _floor_run(db: Database, payloads) -> float:
    rows = []
    for n, (topic, p) in enumerate(payloads):
        a = codec_json.decode(p, topic)
        rows.append({"device_id": a["dev"], "boot": 2, "seq": a["seq"], "via": "mqtt", "pressed_at": a["ts"],
                     "received_at": a["ts"], "category": a["cat"], "trigger": a["trig"], "presses": 1,
                     "lat_udeg": a["lat"], "lon_udeg": a["lon"], "loc_source": a["src"], "loc_acc_m": a["acc"],
                     "loc_age_s": a["age"], "prank_flagged": False})
    t0 = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with db.engine.begin() as conn:
            conn.execute(insert(Alarm.__table__), rows[start:start + BATCH])
    return round(len(rows) / (time.perf_counter() - t0), 1)


def run_one(url: str, n: int, buttons: int) -> dict:
    db = Database(url)
    try:
        payloads = _payloads(n, buttons, int(time.time()))
        service = _service_run(db, payloads, buttons)
        floor = _floor_run(db, payloads)   # boot 2: the same devices, keys not yet stored
    finally:
        db.dispose()
    return {"alarms": n, "buttons": buttons, "batch": BATCH, **service, "baseline_rows_per_s": floor,
            "ratio_to_baseline": round(service["alarms_per_s"] / floor, 3)}


def main(smoke: bool = False) -> dict:
    n, buttons = (1_000, 100) if smoke else (5_000, 500)
    results = {}
    with tempfile.TemporaryDirectory(prefix="siaga-bench-store-") as d:
        results["sqlite"] = run_one(f"sqlite:///{Path(d) / 'bench.db'}", n, buttons)
        if pg.available():
            cluster = pg.PostgresCluster().start()
            try:
                results["postgresql"] = run_one(cluster.new_database("bench"), n, buttons)
            finally:
                cluster.stop()
    engines = list(results)
    plots = [{"title": "alarms committed per second in process, batches of 200", "kind": "bar",
              "series": [{"name": "IncidentService", "x": engines, "y": [results[e]["alarms_per_s"] for e in engines],
                          "ylabel": "alarms/s"},
                         {"name": "bare executemany (baseline)", "x": engines,
                          "y": [results[e]["baseline_rows_per_s"] for e in engines], "ylabel": "alarms/s"}]}]
    doc = {"results": results, "plots": plots, "method": __doc__}
    path = write("alarm_store", doc, smoke=smoke)
    for engine, r in results.items():
        print(engine, r)
    print(path)
    return doc


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
