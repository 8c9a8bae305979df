"""Fleet server core: alarm -> incident committed -> ack published, measured at the
device, on the real server process against a real Mosquitto.

1. latency at idle: one button sends an alarm, waits for its ack, repeats (p50/p99 of the round
   trip device -> broker -> server commit -> broker -> device);
2. the same under 1,000 position messages/s of background load from 200 trackers;
3. sustained ingest with zero loss: N alarms from 500 buttons are queued on the broker while the
   server is down; the server then starts and drains them. Rate = N / (first ack -> Nth ack);
   "unacked" = alarms without an ack when acks stopped coming; "stored_exactly_once" checks the
   database holds each sent alarm once.
Each on SQLite (WAL, the default) and on PostgreSQL (a private cluster, when installed).

`python -m simulators.bench.server [--smoke]`  -> bench/results/server.json
`python -m simulators.bench.server --drain [--smoke]`: part 3 alone (about a minute, not five),
for a before/after pair of the drain  -> bench/results/server_drain.json
`python -m simulators.bench.server --startup [--smoke]`: server start -> first ack alone, repeated:
the server is SIGKILLed, one alarm from each of 10 buttons waits on the broker, the server starts
(a new process, as a restart); the time is from starting the process to the first ack the
observer sees  -> bench/results/server_startup.json"""
from __future__ import annotations

import socket
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker import Mosquitto
from protocols import codec_json, topics
from simulators.bench.results import percentiles, write
from tests.support import postgres as pg
from tests.support.server import FleetServer

SERVER_USER, SERVER_PASS = "fleet-server", "server-secret"
STALL_S = 20.0       # the sustained run ends early only if no ack arrives for this long
MAX_WAIT_S = 900.0
LOAD_USER, LOAD_PASS = "bench-load", "bench-load-secret"   # a server-role account: publishes for many devices
BASE = (-6_914_700, 107_609_800)


def _client(broker, user, password, cid, on_message=None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid)
    c.username_pw_set(user, password)
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    if on_message:
        c.on_message = on_message
    c.on_socket_open = lambda cl, u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready = threading.Event()
    c.on_connect = lambda *a: ready.set()
    c.connect(broker.host, broker.port, 60)
    c.loop_start()
    if not ready.wait(10):
        raise RuntimeError(f"{cid} could not connect")
    return c


def _alarm(dev: str, seq: int, k: int = 0) -> bytes:
    return codec_json.encode({"v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": seq, "ts": int(time.time()),
                              "cat": "medical", "trig": "button", "presses": 1,
                              "lat": BASE[0] - 2000 * k, "lon": BASE[1], "src": "gps", "acc": 5, "age": 1})


def _register(srv, kind: str, ids: list[str]) -> None:
    with httpx.Client(base_url=srv.base_url + "/api/v1", headers=srv.auth(), timeout=30) as h:
        for k, dev in enumerate(ids):
            r = h.post("/devices", json={"id": dev, "kind": kind, "lat_udeg": BASE[0] - 2000 * k, "lon_udeg": BASE[1],
                                         "category": "medical"})
            r.raise_for_status()
            if kind == "tracker":  # an ambulance carries it, so its positions are real unit traffic
                r = h.post("/units", json={"id": f"u-{dev}", "callsign": f"AMB {k}", "agency": "medical",
                                           "type": "ambulance", "device_id": dev})
                r.raise_for_status()


class PositionLoad:
    """rate msgs/s of `pos` from n trackers, QoS 0 (trackers report often; a lost fix is replaced)."""

    def __init__(self, broker, trackers: list[str], rate: int):
        self.client = _client(broker, LOAD_USER, LOAD_PASS, "bench-load-pub")
        self.trackers, self.rate = trackers, rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = time.monotonic()
        seq = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self.rate)
            while self.sent < due:
                dev = self.trackers[self.sent % len(self.trackers)]
                seq += 1
                msg = {"v": 1, "t": "pos", "dev": dev, "boot": 1, "seq": seq, "ts": int(time.time()),
                       "lat": BASE[0] + seq % 1000, "lon": BASE[1], "acc": 5, "spd": 800, "hdg": 90}
                self.client.publish(topics.up(dev, "pos"), codec_json.encode(msg), qos=0)
                self.sent += 1
            time.sleep(0.002)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(10)
        self.client.loop_stop()
        self.client.disconnect()
        return self.sent


def _latency(broker, dev: str, n: int, seq0: int) -> list[float]:
    got = threading.Event()
    box = {}

    def on_message(c, u, m):
        box["ack"] = codec_json.decode(m.payload, m.topic)
        got.set()

    c = _client(broker, dev, f"pw-{dev}", dev, on_message)
    c.subscribe(topics.down(dev, "ack"), qos=1)
    time.sleep(0.3)
    out = []
    try:
        for i in range(n):
            got.clear()
            t0 = time.perf_counter()
            c.publish(topics.up(dev, "alarm"), _alarm(dev, seq0 + i), qos=1)
            if not got.wait(10):
                raise RuntimeError(f"no ack for {dev} seq {seq0 + i}")
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)
    finally:
        c.loop_stop()
        c.disconnect()
    return out


def _sustained(broker, srv, buttons: list[str], n: int, seq0: int = 10_000) -> dict:
    """Queue n alarms on the broker while the server is down, then let it drain them."""
    acks: dict[tuple, int] = {}
    times: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def on_ack(c, u, m):
        a = codec_json.decode(m.payload, m.topic)
        with lock:
            acks[(a["dev"], a["seq"])] = a["inc"]
            times.append(time.perf_counter())
            if len(acks) >= n:
                done.set()

    obs = _client(broker, SERVER_USER + "-obs", "obs-secret", "bench-obs", on_ack)
    obs.subscribe("siaga/v1/dev/+/down/ack", qos=1)
    time.sleep(0.3)
    srv.kill()
    pub = _client(broker, LOAD_USER, LOAD_PASS, "bench-alarm-pub")
    per = n // len(buttons)
    infos = []
    for seq in range(1, per + 1):
        for k, dev in enumerate(buttons):
            infos.append(pub.publish(topics.up(dev, "alarm"), _alarm(dev, seq0 + seq, k), qos=1))
    for i in infos:
        i.wait_for_publish(60)
    pub.loop_stop()
    pub.disconnect()
    sent = per * len(buttons)
    t_start = time.perf_counter()
    srv.start(timeout=60)
    # Wait for every ack; give up only when acks stop coming for STALL_S (or after MAX_WAIT_S).
    deadline = time.monotonic() + MAX_WAIT_S
    last_n, last_change = 0, time.monotonic()
    while not done.wait(1.0) and time.monotonic() < deadline:
        with lock:
            n_now = len(acks)
        if n_now != last_n:
            last_n, last_change = n_now, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            break
    obs.loop_stop()
    obs.disconnect()
    with lock:
        got = len(acks)
        span = (times[-1] - times[0]) if len(times) > 1 else None
        first = (times[0] - t_start) if times else None
    return {"alarms_sent": sent, "alarms_acked": got, "unacked": sent - got,
            "alarms_per_s": round(got / span, 1) if span else None, "drain_s": round(span, 3) if span else None,
            "server_start_to_first_ack_s": round(first, 3) if first else None}


def _stored_alarms(url: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as c:
            return c.execute("SELECT count(*) FROM alarms").fetchone()[0]
    import psycopg
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as c:
        return c.execute("SELECT count(*) FROM alarms").fetchone()[0]


STARTUP_BUTTONS = 10


def _startup(broker, srv, buttons: list[str], reps: int) -> dict:
    """Server start -> first ack, reps times, each with new alarms (new incidents, routed)."""
    runs = [_sustained(broker, srv, buttons, len(buttons), seq0=20_000 + 100 * r) for r in range(reps)]
    firsts = [r["server_start_to_first_ack_s"] for r in runs]
    return {"server_start_to_first_ack_s": firsts,
            "median_s": sorted(firsts)[len(firsts) // 2] if None not in firsts else None,
            "all_acked": all(r["unacked"] == 0 for r in runs)}


def run_one(engine: str, smoke: bool, workdir: Path, database_url: str | None, drain_only: bool = False,
            startup_only: bool = False) -> dict:
    broker = Mosquitto(workdir / "broker")
    broker.add_account(SERVER_USER, SERVER_PASS, role="server")
    broker.add_account(LOAD_USER, LOAD_PASS, role="server")
    broker.add_account(SERVER_USER + "-obs", "obs-secret", role="observer")
    lat_dev = "btn-bench-lat"
    broker.add_account(lat_dev, f"pw-{lat_dev}")
    broker.start()
    srv = FleetServer(workdir / "server", broker, database_url=database_url, env={"SIAGA_LOG_LEVEL": "WARNING"})
    n_lat = 30 if smoke else 300
    n_sustained = 500 if smoke else 5_000
    trackers = [f"trk-bench-{i:03d}" for i in range(200)]
    buttons = [f"btn-bench-{i:03d}" for i in range(50 if smoke else 500)]
    try:
        srv.start()
        if startup_only:
            _register(srv, "button", buttons[:STARTUP_BUTTONS])
            return {"engine": engine, "startup": _startup(broker, srv, buttons[:STARTUP_BUTTONS], 2 if smoke else 5)}
        _register(srv, "button", [lat_dev])
        _register(srv, "tracker", trackers)
        _register(srv, "button", buttons)
        if drain_only:
            sustained = _sustained(broker, srv, buttons, n_sustained)
            sustained["stored_exactly_once"] = _stored_alarms(srv.database_url) == sustained["alarms_sent"]
            return {"engine": engine, "sustained": sustained}
        idle = _latency(broker, lat_dev, n_lat, 1)
        load = PositionLoad(broker, trackers, 1000).start()
        t0 = time.monotonic()
        try:
            busy = _latency(broker, lat_dev, n_lat, 100_000)
        finally:
            sent = load.stop()
        pos_rate = sent / (time.monotonic() - t0)
        sustained = _sustained(broker, srv, buttons, n_sustained)
        stored = _stored_alarms(srv.database_url)
        sustained["stored_exactly_once"] = stored == 2 * n_lat + sustained["alarms_sent"]
        return {
            "engine": engine,
            "ack_latency_ms_idle": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in percentiles(idle).items()},
            "ack_latency_ms_under_position_load": {k: (round(v, 2) if isinstance(v, float) else v)
                                                   for k, v in percentiles(busy).items()},
            "background_positions_per_s": round(pos_rate, 1),
            "sustained": sustained,
        }
    finally:
        srv.stop()
        broker.stop()


def main(smoke: bool = False, drain_only: bool = False, startup_only: bool = False) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="siaga-bench-server-") as d:
        results["sqlite"] = run_one("sqlite", smoke, Path(d) / "sqlite", None, drain_only, startup_only)
        if pg.available():
            cluster = pg.PostgresCluster().start()
            try:
                results["postgresql"] = run_one("postgresql", smoke, Path(d) / "pg", cluster.new_database("bench"),
                                                drain_only, startup_only)
            finally:
                cluster.stop()
    doc = {"targets": {"ack_p99_ms": 50, "sustained_alarms_per_s_sqlite": 2000}, "results": results,
           "method": __doc__}
    path = write("server_startup" if startup_only else "server_drain" if drain_only else "server", doc, smoke=smoke)
    for engine, r in results.items():
        if startup_only:
            print(engine, "startup", r["startup"])
            continue
        if drain_only:
            print(engine, "sustained", r["sustained"])
            continue
        print(engine, "idle", r["ack_latency_ms_idle"], "\n  under load", r["ack_latency_ms_under_position_load"],
              "\n  sustained", r["sustained"])
    print(path)
    return doc


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv, drain_only="--drain" in sys.argv, startup_only="--startup" in sys.argv)
