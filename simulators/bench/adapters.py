"""Third-party tracker adapters (docs/adapters.md), on their real transports, into the real units
pipeline (fleet_server.app.open_fleet on SQLite: filter, latest position, batched history):

- GT06 connections one server process holds (goal 10,000; smoke 100), each logged in, then each
  sending a heartbeat and a position, every one answered; the server's memory per connection
  (RSS growth / connections held; goal <= 10 KB);
- positions per second through each adapter, as a ratio to the MQTT ingest measured in the same
  run (goal >= 0.5): the MQTT ingest is broker -> TrackerLink -> Fleet.handle, as in
  simulators/bench/ingest.py; GT06 is TCP -> Gt06Server -> Pipeline -> Fleet.handle, the answer
  written after the units pipeline took the fix; OsmAnd (one fix a request, and batches), OwnTracks
  and Traccar forwarding are HTTP -> the adapters router -> Pipeline -> Fleet.handle; OwnTracks MQTT
  is broker -> OwnTracksLink -> Pipeline -> Fleet.handle. Each rate counts fixes the units pipeline
  accepted, not requests sent;
- SOS frame written -> incident committed (IncidentService on SQLite) -> answer read by the
  tracker, p50/p99, one SOS at a time from trackers logged in beside the held connections.

The GT06 server and the HTTP endpoints run in child processes of their own (`--serve-gt06`,
`--serve-http`), so the GT06 server's memory is measured alone and no client shares its GIL.
`python -m simulators.bench.adapters [--smoke] [--connections N]`"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from simulators.bench.results import REPO, percentiles, write

GOAL_CONNECTIONS = 10_000
GOAL_RATIO = 0.5
GOAL_BYTES_PER_CONNECTION = 10 * 1024
SOS_TRACKERS = 20
STREAMS = 200      # GT06 connections that stream positions for the throughput figure
PHONES = 200
BASE = (-6.914744, 107.609810)
PHONE_USER = "bench-phones"   # the broker account every benchmark phone publishes under


def imei(i: int) -> str:
    return "86%013d" % i


def _gps_frame(serial: int, ts: float, lat: float = BASE[0], lon: float = BASE[1], type_: int = 0x12) -> bytes:
    from fleet_server.adapters.gt06 import framing
    t = time.gmtime(ts)
    content = bytes((t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0xC9))
    content += int(abs(lat) * 1800000).to_bytes(4, "big") + int(abs(lon) * 1800000).to_bytes(4, "big")
    content += bytes((40,)) + ((1 << 12) | (1 << 10 if lat >= 0 else 0) | 90).to_bytes(2, "big")
    if type_ == 0x16:
        content += bytes.fromhex("09" "01fe" "0a" "1234" "567890") + bytes((0x04 << 3 | 0x02, 6, 4, 0x01, 0x02))
    else:
        content += bytes.fromhex("01fe0a1234567890")
    return framing.build(type_, serial, content)


def _login(ident: str, serial: int = 1) -> bytes:
    from fleet_server.adapters.gt06 import framing
    return framing.build(0x01, serial, bytes.fromhex("0" + ident) + b"\x00\x00")


def _heartbeat(serial: int) -> bytes:
    from fleet_server.adapters.gt06 import framing
    return framing.build(0x13, serial, bytes((0x46, 6, 4, 0, 1)))


def _raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fleet(workdir: Path, name: str, device_ids: list[str]):
    """The units pipeline on SQLite (as the server opens it), one ambulance bound to each device."""
    from fleet_server.app import open_fleet
    from fleet_server.domain.units import Unit
    from fleet_server.storage.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{workdir / (name + '.db')}")
    upgrade(engine)
    fleet = open_fleet(engine, lambda *a: None, persist_batch=2000, persist_delay_s=0.2)
    fleet.register_many([Unit(id=f"U{i:05d}", callsign=f"U{i}", agency="medical", type="ambulance", device_id=d)
                         for i, d in enumerate(device_ids)])
    return engine, fleet


class _Accepted:
    """Counts the fixes a Fleet accepted."""

    def __init__(self, fleet):
        self.n = 0
        self.target = 0
        self.done = threading.Event()
        fleet.tracking.on_position(self._count)

    def _count(self, unit, pos):
        self.n += 1
        if self.n >= self.target:
            self.done.set()

    def expect(self, more: int) -> int:
        self.done.clear()
        self.target = self.n + more
        return self.n


# ---- child: the GT06 server ------------------------------------------------------------------------
def serve_gt06(workdir: str, units: int) -> None:
    """A GT06 server with the units pipeline (a unit per IMEI) and the incident service on SQLite
    (SOS trackers registered); the registry port is the set of IMEIs. Counts printed when stdin closes."""
    from fleet_server.adapters.binding import Pipeline, device_id
    from fleet_server.adapters.gt06.server import Gt06Server
    from fleet_server.domain.service import IncidentService, Rules
    from fleet_server.storage.db import Database
    from fleet_server.storage.repositories import SqlIncidentStore

    _raise_fd_limit()
    work = Path(workdir)
    devices = [device_id("gt06", imei(i)) for i in range(units + SOS_TRACKERS)]
    engine, fleet = _fleet(work, "gt06-units", devices)
    db = Database(f"sqlite:///{work / 'gt06-incidents.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules())
    for d in devices[units:]:
        service.register_device(d, "tracker", "bench")
    known = set(devices)
    pipeline = Pipeline(service, fleet, known=known.__contains__)

    async def run():
        srv = await Gt06Server(pipeline, port=0, idle_timeout_s=900).start()
        print(srv.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await srv.stop()
        return srv

    srv = asyncio.run(run())
    fleet.close()
    with db.read() as s:
        from fleet_server.storage.models import Incident
        incidents = s.query(Incident).count()
    print(json.dumps({"counts": dict(pipeline.counts), "server": dict(srv.counts), "incidents": incidents}), flush=True)
    db.dispose()
    engine.dispose()


# ---- child: the HTTP endpoints -----------------------------------------------------------------------
def serve_http(workdir: str) -> None:
    import uvicorn
    from fastapi import FastAPI

    from fleet_server.adapters.binding import Pipeline
    from fleet_server.adapters.http import router

    devices = [f"osmand-p{i:04d}" for i in range(PHONES)] + [f"owntracks-{PHONE_USER}-d{i:04d}" for i in range(PHONES)] + \
              [f"traccar-t{i:04d}" for i in range(PHONES)]
    engine, fleet = _fleet(Path(workdir), "http-units", devices)
    known = set(devices)
    app = FastAPI()
    app.state.adapters = Pipeline(None, fleet, known=known.__contains__)
    app.include_router(router)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    print(port, flush=True)
    sys.stdin.read()
    server.should_exit = True
    t.join(20)
    fleet.close()
    engine.dispose()
    print(json.dumps({"counts": dict(app.state.adapters.counts)}), flush=True)


def _child(args: list[str]) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-m", "simulators.bench.adapters", *args], cwd=REPO, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    if not line.strip().isdigit():
        child.kill()
        raise RuntimeError(f"child {args[0]} did not start: {line!r}")
    return child, int(line)


def _finish(child: subprocess.Popen) -> dict:
    child.stdin.close()
    try:
        out = child.stdout.read()
        child.wait(60)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(10)
        return {}
    lines = [x for x in out.splitlines() if x.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


# ---- GT06: connections, heartbeat + position, SOS latency ------------------------------------------
async def _gt06(port: int, n: int, budget_s: float, sos_samples: int, stream_positions: int,
                on_held=lambda: None) -> dict:
    from fleet_server.adapters.gt06.framing import FrameReader

    conns: list = []
    sem = asyncio.Semaphore(256)
    failures = 0
    deadline = time.monotonic() + budget_s

    async def read_frames(r, want: int, timeout: float) -> list:
        reader, got = FrameReader(), []
        end = time.monotonic() + timeout
        while len(got) < want:
            data = await asyncio.wait_for(r.read(256), max(0.05, end - time.monotonic()))
            if not data:
                break
            got += reader.feed(data)
        return got

    async def connect(i):
        nonlocal failures
        async with sem:
            if time.monotonic() > deadline:
                failures += 1
                return
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                w.write(_login(imei(i)))
                await w.drain()
                if not await read_frames(r, 1, 10):
                    raise ConnectionError("no login answer")
                conns.append((r, w))
            except (OSError, asyncio.TimeoutError, ConnectionError):
                failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(connect(i) for i in range(n)))
    connect_s = time.perf_counter() - t0
    held = len(conns)
    await asyncio.sleep(0.5)
    on_held()

    now = time.time()
    streams = conns[:min(STREAMS, len(conns))]
    per_stream = max(1, stream_positions // max(1, len(streams)))
    t_start = int(now) - 2 * per_stream - 30    # the streamed fixes end 30 s ago, after the first

    async def report(i, r, w):
        w.write(_heartbeat(2) + _gps_frame(3, t_start - 60, BASE[0] - (i % 100) * 0.001, BASE[1] + (i // 100) * 0.001))
        await w.drain()
        return len(await read_frames(r, 2, max(5.0, deadline + 120 - time.monotonic())))

    t0 = time.perf_counter()
    answered = await asyncio.gather(*(report(i, r, w) for i, (r, w) in enumerate(conns)), return_exceptions=True)
    report_s = time.perf_counter() - t0
    both = sum(1 for a in answered if a == 2)

    # Throughput: STREAMS of the held trackers send `per_stream` positions each, as fast as their
    # answers come back (a window of 8 frames in flight), the others holding their connections.
    async def stream(i, r, w):
        from fleet_server.adapters.gt06.framing import FrameReader
        reader, acked, sent = FrameReader(), 0, 0
        while acked < per_stream:
            while sent < per_stream and sent - acked < 8:
                lat = BASE[0] - (i % 100) * 0.001 + (sent + 1) * 0.00018
                w.write(_gps_frame(10 + sent, t_start + 2 * sent, lat, BASE[1] + (i // 100) * 0.001))
                sent += 1
            await w.drain()
            data = await asyncio.wait_for(r.read(4096), 30)
            if not data:
                break
            acked += len(reader.feed(data))
        return acked

    t0 = time.perf_counter()
    streamed = await asyncio.gather(*(stream(i, r, w) for i, (r, w) in enumerate(streams)), return_exceptions=True)
    stream_s = time.perf_counter() - t0
    stream_acked = sum(a for a in streamed if isinstance(a, int))

    # SOS: trackers beyond the held ones, one frame at a time, written -> answer read.
    sos_ms = []
    sos_conns = []
    for k in range(SOS_TRACKERS):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(_login(imei(n + k)))
        await w.drain()
        await read_frames(r, 1, 10)
        sos_conns.append((r, w))
    for j in range(sos_samples):
        r, w = sos_conns[j % SOS_TRACKERS]
        frame = _gps_frame(100 + j, time.time() - 1, type_=0x16)
        t1 = time.perf_counter()
        w.write(frame)
        await w.drain()
        got = await read_frames(r, 1, 10)
        if got:
            sos_ms.append((time.perf_counter() - t1) * 1000)
    for _r, w in conns + sos_conns:
        w.close()
    return {"held": held, "failed": failures, "connect_s": round(connect_s, 2),
            "heartbeat_and_position_answered": both, "report_s": round(report_s, 3),
            "all_at_once_positions_s": round(both / report_s, 1) if report_s else None,
            "streams": len(streams), "streamed_positions_acked": stream_acked, "stream_s": round(stream_s, 3),
            "positions_s": round(stream_acked / stream_s, 1) if stream_s else None,
            "sos_to_committed_ack_ms": percentiles([round(x, 2) for x in sos_ms]), "sos_sent": sos_samples}


def gt06(n: int, budget_s: float, sos_samples: int, stream_positions: int, workdir: Path) -> dict:
    limit = _raise_fd_limit()
    n = min(n, max(100, limit - 300))
    child, port = _child(["--serve-gt06", str(workdir), str(n)])
    try:
        time.sleep(0.3)
        rss0 = _rss_kib(child.pid)
        rss = {}
        res = asyncio.run(_gt06(port, n, budget_s, sos_samples, stream_positions,
                                on_held=lambda: rss.__setitem__("held", _rss_kib(child.pid))))
    finally:
        done = _finish(child)
    held = res["held"]
    res.update({"goal_connections": GOAL_CONNECTIONS, "attempted": n, "fd_limit": limit,
                "server_rss_kib_before": rss0, "server_rss_kib_held": rss.get("held"),
                "bytes_per_connection": int((rss["held"] - rss0) * 1024 / held) if held and rss.get("held") else None,
                "goal_bytes_per_connection": GOAL_BYTES_PER_CONNECTION,
                "incidents": done.get("incidents"), "server_counts": done.get("server"),
                "pipeline_counts": done.get("counts")})
    return res




# ---- phones and forwarding over HTTP, OwnTracks over the broker --------------------------------------
class _Track:
    """Each device's next plausible fix: north at 36 km/h, a fix every 2 s, times in the past."""

    def __init__(self, now: float, per_device: int):
        self.start = int(now) - 2 * per_device - 60
        self.k: dict[str, int] = {}

    def next(self, dev: str, i: int) -> tuple[int, float, float]:
        k = self.k.get(dev, 0)
        self.k[dev] = k + 1
        return self.start + 2 * k, BASE[0] + (i // 20) * 0.005 + k * 0.00018, BASE[1] + (i % 20) * 0.005


def _requests(kind: str, n: int, track: _Track, batch: int = 50) -> list[tuple[str, str, dict]]:
    """(method, path, httpx kwargs) for n fixes of `kind`, round robin over the phones."""
    out = []
    per = batch if kind == "osmand_batch" else 1
    for j in range(n // per):
        i = j % PHONES
        if kind == "osmand":
            ts, lat, lon = track.next(f"p{i}", i)
            out.append(("GET", "/adapters/osmand", {"params": {"id": f"p{i:04d}", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
                                                               "timestamp": str(ts), "speed": "19.4", "accuracy": "5"}}))
        elif kind == "osmand_batch":
            locs = []
            for _ in range(per):
                ts, lat, lon = track.next(f"p{i}", i)
                locs.append({"timestamp": ts, "coords": {"latitude": lat, "longitude": lon, "speed": 10, "accuracy": 5}})
            out.append(("POST", "/adapters/osmand", {"json": {"device_id": f"p{i:04d}", "location": locs}}))
        elif kind == "owntracks_http":
            ts, lat, lon = track.next(f"o{i}", i)
            out.append(("POST", "/adapters/owntracks", {
                "headers": {"X-Limit-U": PHONE_USER, "X-Limit-D": f"d{i:04d}"},
                "json": {"_type": "location", "tid": "bp", "tst": ts, "lat": lat, "lon": lon, "acc": 5, "vel": 36}}))
        elif kind == "traccar":
            ts, lat, lon = track.next(f"t{i}", i)
            out.append(("POST", "/adapters/traccar", {"json": {
                "device": {"uniqueId": f"t{i:04d}"},
                "position": {"id": j + 1, "latitude": lat, "longitude": lon, "valid": True, "speed": 19.4,
                             "fixTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))}}}))
    return out


def _wire(method: str, path: str, kw: dict) -> bytes:
    """One HTTP/1.1 request as bytes (keep-alive), so the client costs little beside the server."""
    from urllib.parse import urlencode
    if "params" in kw:
        path += "?" + urlencode(kw["params"])
    body = json.dumps(kw["json"]).encode() if "json" in kw else b""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in kw.get("headers", {}).items()]
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _post_all(port: int, reqs: list, concurrency: int = 16) -> dict:
    """Every request over `concurrency` keep-alive connections, one request in flight on each."""
    statuses: dict[int, int] = {}
    it = iter([_wire(*r) for r in reqs])

    async def worker():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        try:
            for data in it:
                w.write(data)
                await w.drain()
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if length:
                    await r.readexactly(length)
                code = int(head[9:12])
                statuses[code] = statuses.get(code, 0) + 1
        finally:
            w.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"seconds": time.perf_counter() - t0, "statuses": statuses}


def http_rates(n: int, workdir: Path, now: float) -> dict:
    child, port = _child(["--serve-http", str(workdir)])
    track = _Track(now, 4 * n // PHONES + 100)
    timings = {}
    try:
        for kind in ("osmand", "osmand_batch", "owntracks_http", "traccar"):
            timings[kind] = asyncio.run(_post_all(port, _requests(kind, n, track)))
    finally:
        done = _finish(child)
    counts = done.get("counts", {})
    out = {}
    for kind, key in (("osmand", "osmand"), ("osmand_batch", "osmand"), ("owntracks_http", "owntracks"),
                      ("traccar", "traccar")):
        out[kind] = {"seconds": round(timings[kind]["seconds"], 3), "statuses": timings[kind]["statuses"]}
    # The child counts per protocol; OsmAnd's two phases share one counter, so each phase's accepted
    # fixes are its 200 answers times the fixes a request carried, checked against the child's total.
    osm_ok = counts.get("osmand.pos.ok", 0)
    for kind, per in (("osmand", 1), ("osmand_batch", 50), ("owntracks_http", 1), ("traccar", 1)):
        ok = timings[kind]["statuses"].get(200, 0) * per
        out[kind]["positions"] = ok
        out[kind]["positions_s"] = round(ok / timings[kind]["seconds"], 1) if timings[kind]["seconds"] else None
    out["accepted_by_units_pipeline"] = {"osmand": osm_ok, "owntracks": counts.get("owntracks.pos.ok", 0),
                                         "traccar": counts.get("traccar.pos.ok", 0)}
    out["refused"] = {k: v for k, v in counts.items() if not k.endswith(".ok")}
    return out


def publish_owntracks(host: str, port: int, n: int, now: float) -> None:
    """Publisher process: n OwnTracks locations from PHONES phones of one account, QoS 1."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    track = _Track(now, n // PHONES + 10)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-phones")
    c.username_pw_set(PHONE_USER, PHONE_USER + "-secret")
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect(host, port, keepalive=60)
    c.loop_start()
    infos = []
    for j in range(n):
        i = j % PHONES
        ts, lat, lon = track.next(f"o{i}", i)
        msg = {"_type": "location", "tid": "bp", "tst": ts, "lat": lat, "lon": lon, "acc": 5, "vel": 36}
        infos.append(c.publish(f"owntracks/{PHONE_USER}/d{i:04d}", json.dumps(msg), qos=1))
    deadline = time.monotonic() + 300
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    print(sum(1 for i in infos if i.is_published()))
    c.disconnect()
    c.loop_stop()


def mqtt_rates(n: int, workdir: Path, now: float) -> dict:
    """In this process: the MQTT ingest (our own `pos`, the baseline) and OwnTracks over the broker,
    each draining n fixes the broker queued for its persistent session."""
    from fleet_server.adapters.binding import Pipeline
    from fleet_server.adapters.owntracks.mqtt_link import OwnTracksLink
    from fleet_server.broker import Mosquitto
    from simulators.bench import ingest

    broker = Mosquitto(workdir / "broker")
    ingest.accounts(broker)
    broker.add_account(PHONE_USER, PHONE_USER + "-secret")
    out = {}
    consumer = engine = fleet = None
    try:
        broker.start()
        ingest._session(broker.host, broker.port, "bench-ingest-nt")
        consumer = ingest.IngestConsumer(broker.host, broker.port, workdir, None, client_id="bench-ingest-nt")
        pub = subprocess.run([sys.executable, "-m", "simulators.bench.ingest", "--publish", broker.host,
                              str(broker.port), str(n), repr(now), "0", "1"], capture_output=True, text=True,
                             timeout=600, cwd=REPO)
        if pub.returncode != 0 or int(pub.stdout.strip() or 0) != n:
            raise RuntimeError(f"publisher failed: {pub.stdout[-500:]} {pub.stderr[-2000:]}")
        out["mqtt_ingest"] = consumer.drain(n, 120)

        devices = [f"owntracks-{PHONE_USER}-d{i:04d}" for i in range(PHONES)]
        engine, fleet = _fleet(workdir, "owntracks-units", devices)
        accepted = _Accepted(fleet)
        pipeline = Pipeline(None, fleet, known=set(devices).__contains__)
        link = OwnTracksLink(pipeline, broker.host, broker.port, ingest.USER, ingest.PASS, client_id="bench-owntracks")
        link.start()
        link.stop()          # the persistent session now holds the subscription
        env = dict(os.environ, PYTHONPATH=str(REPO))
        pub = subprocess.run([sys.executable, "-m", "simulators.bench.adapters", "--publish-owntracks", broker.host,
                              str(broker.port), str(n), repr(now)], capture_output=True, text=True, timeout=600,
                             cwd=REPO, env=env)
        if pub.returncode != 0 or int(pub.stdout.strip() or 0) != n:
            raise RuntimeError(f"OwnTracks publisher failed: {pub.stdout[-500:]} {pub.stderr[-2000:]}")
        accepted.expect(n)
        link = OwnTracksLink(pipeline, broker.host, broker.port, ingest.USER, ingest.PASS, client_id="bench-owntracks")
        t0 = time.perf_counter()
        link.start()
        accepted.done.wait(120)
        dt = time.perf_counter() - t0
        link.stop()
        out["owntracks_mqtt"] = {"received": link.received, "accepted": accepted.n, "seconds": round(dt, 3),
                                 "msgs_s": round(accepted.n / dt, 1)}
    finally:
        if consumer is not None:
            consumer.finish()
        if fleet is not None:
            fleet.close()
            engine.dispose()
        broker.stop()
    return out


def main(smoke: bool = False, connections: int | None = None) -> dict:
    n_conn = connections or (100 if smoke else GOAL_CONNECTIONS)
    n_pos = 400 if smoke else 20_000
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="siaga-bench-adapters-") as tmp:
        tmp = Path(tmp)
        mq = mqtt_rates(n_pos, tmp, now)
        http = http_rates(n_pos, tmp, now)
        g = gt06(n_conn, 60 if smoke else 600, 20 if smoke else 300, n_pos, tmp)
    base = mq["mqtt_ingest"]["msgs_s"]
    rates = {"mqtt_ingest": base, "gt06_tcp": g["positions_s"], "osmand_http": http["osmand"]["positions_s"],
             "osmand_http_batch50": http["osmand_batch"]["positions_s"],
             "owntracks_http": http["owntracks_http"]["positions_s"], "owntracks_mqtt": mq["owntracks_mqtt"]["msgs_s"],
             "traccar_http": http["traccar"]["positions_s"]}
    ratios = {k: (round(v / base, 3) if v and base else None) for k, v in rates.items() if k != "mqtt_ingest"}
    doc = {"goal": {"connections": GOAL_CONNECTIONS, "ratio_to_mqtt_ingest": GOAL_RATIO,
                    "bytes_per_connection": GOAL_BYTES_PER_CONNECTION},
           "loadavg_1m": os.getloadavg()[0],
           "positions_s": rates, "ratio_to_mqtt_ingest": ratios,
           "gt06": g, "http": http, "mqtt": mq,
           "plots": [
               {"title": "positions/s through each adapter vs the MQTT ingest (same run)", "kind": "bar",
                "series": [{"name": "", "x": list(rates), "y": [rates[k] or 0 for k in rates], "xlabel": "",
                            "ylabel": "positions/s"}]},
               {"title": "GT06: memory per connection and SOS to committed answer", "kind": "bar", "log": True,
                "series": [{"name": "", "x": ["bytes per connection", "SOS p50 ms", "SOS p99 ms"],
                            "y": [g["bytes_per_connection"] or 0, g["sos_to_committed_ack_ms"]["p50"] or 0,
                                  g["sos_to_committed_ack_ms"]["p99"] or 0], "xlabel": "", "ylabel": ""}]}]}
    path = write("adapters", doc, smoke=smoke)
    print(json.dumps({k: v for k, v in doc.items() if k != "plots"}, indent=1))
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    if "--serve-gt06" in sys.argv:
        i = sys.argv.index("--serve-gt06")
        serve_gt06(sys.argv[i + 1], int(sys.argv[i + 2]))
    elif "--serve-http" in sys.argv:
        serve_http(sys.argv[sys.argv.index("--serve-http") + 1])
    elif "--publish-owntracks" in sys.argv:
        i = sys.argv.index("--publish-owntracks")
        publish_owntracks(sys.argv[i + 1], int(sys.argv[i + 2]), int(sys.argv[i + 3]), float(sys.argv[i + 4]))
    else:
        conn = int(sys.argv[sys.argv.index("--connections") + 1]) if "--connections" in sys.argv else None
        main(smoke="--smoke" in sys.argv, connections=conn)
