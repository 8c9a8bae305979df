"""Position ingest end to end in one process: decode via protocols, validate, filter,
latest position, batched persist to SQLite, telemetry to VictoriaMetrics (InfluxDB v2 write API),
as a ratio to a bare paho-mqtt subscriber that only counts, and R, the ratio to `mosquitto_sub`,
all draining the same stream from the same broker in the same run, at QoS 1 with zero loss.

Method: three persistent sessions (clean_session false) subscribe at QoS 1, then one publisher
(a separate process) puts N position reports from 500 trackers on the broker, which queues N for
each session; each consumer then connects alone and its drain rate is N / (time to the Nth
message). The ingest path is fleet_server.ingest.tracker_link.TrackerLink -> Fleet.handle (the
server's ingest routes `pos` to the same Fleet.handle; this bench measures the units pipeline itself).

`python -m simulators.bench.ingest [--smoke]`"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.storage.db import make_engine, upgrade
from protocols import codec_json, topics
from simulators.bench.results import write

USER, PASS = "bench-server", "bench-secret"
# The broker binds each client id to the account of the same name (use_username_as_clientid): every
# client of the bench logs in as its own account, or they would take each other's session.
CLIENTS = ("bench-publisher", "bench-bare", "bench-mosqsub", "bench-ingest", "bench-ingest-nt")


def accounts(broker) -> None:
    """The bench's broker accounts: the server's, and one per client of the bench."""
    for name in (USER, *CLIENTS):
        broker.add_account(name, PASS, role="server")
DEVICES = 500
TOPIC = topics.subscription_up("pos")
BASE = (-6914744, 107609810)


def stream(n: int, devices: int = DEVICES, now: float | None = None, round_: int = 0, rounds: int = 1):
    """(topic, payload) of n position reports, round robin over the trackers, each tracker
    driving north at 36 km/h with a fix every 2 s (all plausible for the filter). Round r
    continues where round r-1 stopped, so one Fleet accepts every round."""
    now = time.time() if now is None else now
    per = -(-n // devices)
    start = int(now) - 2 * per * rounds - 60
    out = []
    for i in range(n):
        d, k = i % devices, i // devices + round_ * per
        dev = f"trk-b{d:04d}"
        msg = {"v": 1, "t": "pos", "dev": dev, "boot": 1, "seq": k + 1, "ts": start + 2 * k,
               "lat": BASE[0] + (d // 25) * 5000 + k * 180, "lon": BASE[1] + (d % 25) * 5000,
               "acc": 5, "spd": 1000, "hdg": 0, "fixq": 1, "sats": 10, "hdop": 8}
        out.append((topics.up(dev, "pos"), codec_json.encode(msg)))
    return out


def publish_main(host: str, port: int, n: int, now: float, round_: int, rounds: int) -> None:
    """The publisher process: every message at QoS 1, waits for every PUBACK."""
    msgs = stream(n, now=now, round_=round_, rounds=rounds)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    c.username_pw_set("bench-publisher", PASS)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect(host, port, keepalive=60)
    c.loop_start()
    infos = [c.publish(t, p, qos=1) for t, p in msgs]
    deadline = time.monotonic() + 300
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    ok = sum(1 for i in infos if i.is_published())
    c.disconnect()
    c.loop_stop()
    print(ok)


def _session(host, port, client_id) -> None:
    """Create a persistent QoS 1 session with our subscription, then leave."""
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.username_pw_set(client_id, PASS)
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(TOPIC, qos=1)
    c.on_subscribe = lambda *a: done.set()
    c.connect(host, port, 60)
    c.loop_start()
    if not done.wait(10):
        raise RuntimeError(f"could not subscribe {client_id}")
    c.disconnect()
    c.loop_stop()


def drain_bare(host, port, n, timeout) -> dict:
    count = [0]
    done = threading.Event()

    def on_message(cl, u, m):
        count[0] += 1
        if count[0] >= n:
            done.set()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=False)
    c.username_pw_set("bench-bare", PASS)
    c.on_message = on_message
    t0 = time.perf_counter()
    c.connect(host, port, 60)
    c.loop_start()
    done.wait(timeout)
    dt = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return {"received": count[0], "seconds": round(dt, 3), "msgs_s": round(count[0] / dt, 1)}


def drain_mosquitto_sub(host, port, n, timeout) -> dict:
    exe = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
    t0 = time.perf_counter()
    p = subprocess.run([exe, "-h", host, "-p", str(port), "-u", "bench-mosqsub", "-P", PASS, "-c", "-i", "bench-mosqsub",
                        "-q", "1", "-t", TOPIC, "-C", str(n), "-W", str(int(timeout))],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
    dt = time.perf_counter() - t0
    got = p.stdout.count(b"\n")
    return {"received": got, "seconds": round(dt, 3), "msgs_s": round(got / dt, 1)}


class IngestConsumer:
    """The units pipeline, built once; each drain connects its persistent session anew."""

    def __init__(self, host, port, workdir: Path, influx_url: str | None, client_id: str = "bench-ingest"):
        from fleet_server.app import open_fleet
        from fleet_server.domain.units import Unit
        from fleet_server.telemetry import TelemetryConfig

        self.host, self.port = host, port
        # The core's engine: SQLite in WAL mode with synchronous=NORMAL, as the server runs it.
        self.client_id = client_id
        self.engine = make_engine(f"sqlite:///{workdir / (client_id + '.db')}")
        upgrade(self.engine)
        tele = TelemetryConfig(url=influx_url, batch_size=2000) if influx_url else None
        self.fleet = open_fleet(self.engine, lambda *a: None, telemetry=tele, persist_batch=2000,
                                persist_delay_s=0.2)
        self.fleet.register_many([Unit(id=f"B{d:04d}", callsign=f"B{d}", agency="medical", type="ambulance",
                                       device_id=f"trk-b{d:04d}") for d in range(DEVICES)])
        self.accepted = 0
        self._target = 0
        self._done = threading.Event()
        self.fleet.tracking.on_position(self._count)

    def _count(self, unit, pos) -> None:
        self.accepted += 1
        if self.accepted >= self._target:
            self._done.set()

    def drain(self, n: int, timeout: float) -> dict:
        from fleet_server.ingest.tracker_link import TrackerLink
        before = self.accepted
        self._target = before + n
        self._done.clear()
        link = TrackerLink(self.fleet, self.host, self.port, self.client_id, PASS, client_id=self.client_id,
                           clean_start=False)
        t0 = time.perf_counter()
        try:
            link.start()
            self._done.wait(timeout)
            dt = time.perf_counter() - t0
        finally:
            link.stop()
        got = self.accepted - before
        return {"received": link.received, "accepted": got, "rejected": dict(link.rejected),
                "seconds": round(dt, 3), "msgs_s": round(got / dt, 1)}

    def finish(self) -> dict:
        t1 = time.perf_counter()
        flushed = self.fleet.batcher.flush(60) and (self.fleet.telemetry.flush(60) if self.fleet.telemetry else True)
        out = {"persist_and_telemetry_tail_s": round(time.perf_counter() - t1, 3), "flushed": flushed,
               "history_rows": self.fleet.batcher.written,
               "filter_rejected": dict(self.fleet.tracking.filter.rejected),
               "telemetry": self.fleet.telemetry.stats() if self.fleet.telemetry else "not configured"}
        self.fleet.close()
        self.engine.dispose()
        return out


def stage_costs(n: int, workdir: Path) -> dict:
    """Microseconds a message for each in-process stage, without the network: what is left of the
    measured per-message time is paho's framing, acks and the socket."""
    from fleet_server.app import open_fleet
    from fleet_server.domain.units import Unit

    msgs = stream(n)
    t0 = time.perf_counter()
    decoded = [codec_json.decode(p, t) for t, p in msgs]
    decode_us = (time.perf_counter() - t0) / n * 1e6
    engine = make_engine(f"sqlite:///{workdir / 'stages.db'}")
    upgrade(engine)
    fleet = open_fleet(engine, lambda *a: None, persist_batch=2000, persist_delay_s=10)
    fleet.register_many([Unit(id=f"B{d:04d}", callsign=f"B{d}", agency="medical", type="ambulance",
                              device_id=f"trk-b{d:04d}") for d in range(DEVICES)])
    now = time.time()
    t0 = time.perf_counter()
    for m in decoded:
        fleet.handle("pos", m, now)
    handle_us = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    fleet.batcher.flush(60)
    persist_us = (time.perf_counter() - t0) / n * 1e6
    fleet.close()
    engine.dispose()
    return {"decode_us": round(decode_us, 2), "filter_track_enqueue_us": round(handle_us, 2),
            "sqlite_batch_write_us": round(persist_us, 2)}


def main(smoke: bool = False) -> dict:
    from fleet_server.broker import Mosquitto

    n = 3000 if smoke else 30_000
    rounds = 1 if smoke else 3
    timeout = 30 if smoke else 120
    now = time.time()
    # ingest_no_telemetry: the same pipeline without the InfluxDB writer (and without the
    # database process busy on the same two cores), to show what telemetry costs.
    runs: dict[str, list[dict]] = {"mosquitto_sub": [], "bare_paho": [], "ingest": [], "ingest_no_telemetry": []}
    with tempfile.TemporaryDirectory(prefix="siaga-bench-ingest-") as tmp:
        tmp = Path(tmp)
        broker = Mosquitto(tmp / "broker")
        accounts(broker)
        vm = None
        influx_url = None
        consumer = None
        plain = None
        try:
            broker.start()
            try:
                from tests.support.victoriametrics import VictoriaMetrics
                vm = VictoriaMetrics(tmp / "vm").start()
                influx_url = vm.url
            except Exception as e:  # telemetry is part of the path when the server is installed
                print(f"ingest bench: no VictoriaMetrics ({e}); telemetry left out")
            for cid in ("bench-bare", "bench-ingest", "bench-ingest-nt"):
                _session(broker.host, broker.port, cid)
            subprocess.run([shutil.which("mosquitto_sub") or "mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
                            "-u", "bench-mosqsub", "-P", PASS, "-c", "-i", "bench-mosqsub", "-q", "1", "-t", TOPIC, "-E"],
                           check=True, timeout=10)
            consumer = IngestConsumer(broker.host, broker.port, tmp, influx_url)
            plain = IngestConsumer(broker.host, broker.port, tmp, None, client_id="bench-ingest-nt")
            drains = {"mosquitto_sub": lambda: drain_mosquitto_sub(broker.host, broker.port, n, timeout),
                      "bare_paho": lambda: drain_bare(broker.host, broker.port, n, timeout),
                      "ingest": lambda: consumer.drain(n, timeout),
                      "ingest_no_telemetry": lambda: plain.drain(n, timeout)}
            order = list(drains)
            for r in range(rounds):
                pub = subprocess.run([sys.executable, "-m", "simulators.bench.ingest", "--publish", broker.host,
                                      str(broker.port), str(n), repr(now), str(r), str(rounds)], capture_output=True,
                                     text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
                if pub.returncode != 0 or int(pub.stdout.strip() or 0) != n:
                    raise RuntimeError(f"publisher failed: {pub.stdout[-500:]} {pub.stderr[-2000:]}")
                # The machine is shared: rotate the order each round so no consumer always runs
                # first (or last), and keep each consumer's best round.
                for name in order[r % len(order):] + order[:r % len(order)]:
                    runs[name].append(drains[name]())
            tail = consumer.finish()
            consumer = None
            plain_tail = plain.finish()
            plain = None
            stages = stage_costs(min(n, 20_000), tmp)
        finally:
            for left in (consumer, plain):
                if left is not None:
                    left.fleet.close()
            if vm is not None:
                vm.stop()
            broker.stop()
    best = {k: max(v, key=lambda x: x["msgs_s"]) for k, v in runs.items()}
    mosq, bare, ingest = best["mosquitto_sub"], best["bare_paho"], best["ingest"]
    ingest = {**ingest, **tail}
    ratio = ingest["msgs_s"] / bare["msgs_s"] if bare["msgs_s"] else None
    r = ingest["msgs_s"] / mosq["msgs_s"] if mosq["msgs_s"] else None
    per_msg_us = 1e6 / ingest["msgs_s"] if ingest["msgs_s"] else None
    in_process = stages["decode_us"] + stages["filter_track_enqueue_us"]
    doc = {
        "messages_per_round": n, "rounds": rounds, "trackers": DEVICES, "qos": 1,
        "mosquitto_sub": mosq, "bare_paho": bare, "ingest": ingest,
        "ingest_no_telemetry": {**best["ingest_no_telemetry"], "history_rows": plain_tail["history_rows"]},
        "ratio_no_telemetry_to_bare_paho": round(best["ingest_no_telemetry"]["msgs_s"] / bare["msgs_s"], 3) if bare["msgs_s"] else None,
        "all_rounds_msgs_s": {k: [x["msgs_s"] for x in v] for k, v in runs.items()},
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "ratio_to_bare_paho": round(ratio, 3) if ratio else None, "target_ratio": 0.6,
        "R_to_mosquitto_sub": round(r, 3) if r else None, "goal_R": 0.8,
        "zero_loss": all(x.get("accepted", x["received"]) == n for v in runs.values() for x in v)
                     and tail["history_rows"] == n * rounds and plain_tail["history_rows"] == n * rounds,
        "where_the_time_goes_us_per_msg": {
            "ingest_total": round(per_msg_us, 1) if per_msg_us else None,
            "bare_paho_total": round(1e6 / bare["msgs_s"], 1) if bare["msgs_s"] else None,
            "mosquitto_sub_total": round(1e6 / mosq["msgs_s"], 1) if mosq["msgs_s"] else None,
            **stages,
            "paho_framing_acks_socket_and_threads": round(per_msg_us - in_process, 1) if per_msg_us else None,
        },
        "note": ("One paho client is single-threaded Python: its framing and PUBACKs cost about what the "
                 "whole pipeline costs. To close the gap to mosquitto_sub (R >= 0.8): run several ingest "
                 "workers on MQTT v5 shared subscriptions ($share/fleet/siaga/v1/dev/+/up/pos, supported by "
                 "TrackerLink(share_group=...)), each a process; or a faster client for this path (gmqtt "
                 "measured ~28,000 msgs/s at QoS 1 here); batch the decode+filter per socket read instead of "
                 "per callback. SQLite and telemetry writes are already batched off the MQTT thread."),
    }
    path = write("ingest", doc, smoke=smoke)
    print(f"ingest: {ingest['msgs_s']} msgs/s end to end vs bare paho {bare['msgs_s']} "
          f"(ratio {doc['ratio_to_bare_paho']}) and mosquitto_sub {mosq['msgs_s']} (R {doc['R_to_mosquitto_sub']}); "
          f"zero loss {doc['zero_loss']} -> {path}")
    return doc


if __name__ == "__main__":
    if len(sys.argv) >= 8 and sys.argv[1] == "--publish":
        publish_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    else:
        main(smoke="--smoke" in sys.argv)
