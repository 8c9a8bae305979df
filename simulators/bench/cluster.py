"""The clustered broker (fleet_server/broker/nats_cluster.py: 3 NATS nodes with JetStream and MQTT,
haproxy in front) against one Mosquitto, in the same run, with the real fleet server on each:

1. alarm -> ack latency: protocol-level buttons (simulators.fleet.button), one alarm at a time;
2. alarm ingest: every button presses at once, again and again; alarms/s until all are acked;
3. a broker node killed (SIGKILL) during an alarm storm: every alarm acked, ack delay p50/p99/max,
   devices back (p99), exactly one stored alarm per (device, boot, seq);
4. connected devices the cluster holds: raw MQTT 3.1.1 clients as the firmware connects (clean
   session, retained will, QoS 1 subscription to its downlink, retained birth), spread over the
   nodes, each sending a health heartbeat; ramped until the goal, a refusal or the time bound.

`python -m simulators.bench.cluster [--smoke] [--only latency|devices]` -> bench/results/cluster.json"""
from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import resource
import socket
import struct
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fleet_server.broker import Mosquitto
from fleet_server.broker.credentials import hash_password, new_secret
from fleet_server.broker.nats_cluster import NatsCluster
from fleet_server.process import FleetServer
from protocols import codec_json, topics
from simulators.api_client import FleetApi
from simulators.bench.results import percentiles, write
from simulators.fleet.button import SimButton

SERVER_USER, SERVER_PASS = "fleet-server", new_secret()
BASE = (-6914744, 107609810)
GOAL_DEVICES = 50_000


# ---- 1-3: the server through each topology -------------------------------------------------------
class Topology:
    def __init__(self, name: str, workdir: Path):
        self.name, self.workdir = name, workdir
        self.broker = (NatsCluster(workdir / "cluster") if name == "nats-cluster" else Mosquitto(workdir / "broker"))
        self.broker.add_account(SERVER_USER, SERVER_PASS, role="server")
        env = {"SIAGA_LOG_LEVEL": "WARNING"}
        if name == "nats-cluster":
            env |= {"SIAGA_MQTT_TRANSPORT": "nats"}
        self.env = env
        self.srv: FleetServer | None = None

    def start(self) -> "Topology":
        self.broker.start()
        if isinstance(self.broker, NatsCluster):
            self.env["SIAGA_MQTT_NATS_SERVERS"] = ",".join(self.broker.urls)
        self.srv = FleetServer(self.workdir / "server", self.broker.host, self.broker.port, mqtt_user=SERVER_USER,
                               mqtt_password=SERVER_PASS, env=self.env)
        self.srv.start(timeout=60)
        return self

    def stop(self) -> None:
        if self.srv is not None:
            self.srv.stop()
        self.broker.stop()


def _provision(topo: Topology, n: int) -> list[tuple[str, str, int, int]]:
    api = FleetApi(topo.srv.base_url, *topo.srv.admin)
    out = []
    try:
        for i in range(n):
            dev, pw = f"btn-cl{i:04d}", new_secret()
            lat, lon = BASE[0] - 3000 * (i // 20), BASE[1] - 3000 * (i % 20)
            api.register_device(id=dev, kind="button", site=f"bench site {i}", lat_udeg=lat, lon_udeg=lon,
                                category="medical", broker_password_hash=hash_password(pw))
            topo.broker.add_account(dev, pw)
            out.append((dev, pw, lat, lon))
    finally:
        api.close()
    topo.broker.reload()
    return out


async def _buttons(topo: Topology, devs) -> list[SimButton]:
    bs = [SimButton(d, pw, topo.broker.host, topo.broker.port, lat=lat, lon=lon, category="medical", resend_s=2.0,
                    active_s=0, heartbeat_s=600) for d, pw, lat, lon in devs]
    for b in bs:
        # as the firmware connects (firmware/app/mqtt_wire.py: clean=True); the simulator's default
        # persistent session costs NATS a replicated session record at every connect
        b.client._clean_session = True
    await asyncio.gather(*(b.start() for b in bs))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(b.client.is_connected for b in bs):
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)   # subscriptions in place on every node
    return bs


async def _wait_acked(bs, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(not b.outbox for b in bs):
            return True
        await asyncio.sleep(0.02)
    return False


async def _topology_run(topo: Topology, cfg: dict) -> dict:
    devs = _provision(topo, cfg["buttons"])
    bs = await _buttons(topo, devs)
    try:
        # 1. latency, one at a time
        lat = []
        for i in range(cfg["alarms"]):
            b = bs[i % len(bs)]
            before = len(b.ack_latency_s)
            b.press()
            deadline = time.monotonic() + 10
            while len(b.ack_latency_s) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            if len(b.ack_latency_s) > before:
                lat.append(b.ack_latency_s[-1] * 1000)
            await asyncio.sleep(cfg["gap_s"])
        # 2. ingest: every button presses, `rounds` times back to back
        n = 0
        t0 = time.monotonic()
        for _ in range(cfg["rounds"]):
            for b in bs:
                b.press()
                n += 1
            await asyncio.sleep(0)
        all_acked = await _wait_acked(bs, 120)
        dt = time.monotonic() - t0
        ingest = {"alarms": n, "seconds": round(dt, 3), "alarms_s": round(n / dt, 1), "all_acked": all_acked}
        out = {"alarm_to_ack_ms": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in percentiles(lat).items()},
               "ingest": ingest}
        # 3. a node killed in a storm (the cluster only)
        if isinstance(topo.broker, NatsCluster):
            out["node_kill"] = await _node_kill(topo, bs, cfg)
        return out
    finally:
        try:   # a device's DISCONNECT waits on the broker: bounded, a stalled node must not hang the bench
            await asyncio.wait_for(asyncio.gather(*(b.stop() for b in bs), return_exceptions=True), 20)
        except asyncio.TimeoutError:
            print("cluster: some devices did not disconnect within 20 s", flush=True)


async def _node_kill(topo: Topology, bs: list[SimButton], cfg: dict) -> dict:
    cl: NatsCluster = topo.broker
    victim = max(range(len(cl.nodes)), key=lambda i: cl.monitor(cl.nodes[i], "varz").get("connections", 0))
    pressed: dict[tuple[str, int, int], float] = {}
    back: dict[str, float] = {}
    down: set[str] = set()
    on_victim = {b.device_id for b in bs if cl.node_of_client(b.device_id) == victim}
    t_kill = None
    leader = None
    t0 = time.monotonic()
    storm = cfg["storm_alarms"]
    watching = True

    async def watch():   # from the kill on: who of the killed node's devices is back, and when
        while watching and time.monotonic() - (t_kill or time.monotonic()) < 60:
            if t_kill is not None:
                _seen_back(bs, on_victim, down, back, t_kill)
            await asyncio.sleep(0.02)
    watcher = asyncio.create_task(watch())
    for k in range(storm):
        b = bs[k % len(bs)]
        key = b.press()
        pressed[(b.device_id, *key)] = time.monotonic()
        if t_kill is None and k >= storm // 3:
            leader = (cl.monitor(cl.nodes[victim], "jsz").get("meta_cluster") or {}).get("leader")
            cl.kill_node(victim)         # in flight: a third of the storm pressed, most not yet acked
            t_kill = time.monotonic()
        await asyncio.sleep(cfg["storm_gap_s"])
    acked = await _wait_acked(bs, cfg["storm_wait_s"])
    watching = False
    await watcher
    dt = time.monotonic() - t0
    delays = []
    for b in bs:
        delays += b.ack_latency_s[-storm:]   # the last acks of each button: the storm's (upper bound)
    pending = sum(len(b.outbox) for b in bs)
    api = FleetApi(topo.srv.base_url, *topo.srv.admin)
    try:
        stored = {}
        for inc in api.incidents(limit=1000):
            for a in api.incident(inc["id"])["alarms"]:
                stored[(a.get("device_id") or inc.get("origin_device_id"), a["boot"], a["seq"])] = \
                    stored.get((a.get("device_id") or inc.get("origin_device_id"), a["boot"], a["seq"]), 0) + 1
    finally:
        api.close()
    storm_keys = set(pressed)
    dup = sum(1 for k in storm_keys if stored.get(k, 0) > 1)
    missing = sum(1 for k in storm_keys if k not in stored)
    logs = "".join((cl.workdir / n.name / "nats.log").read_text(errors="replace") for n in cl.nodes)
    cl.start_node(victim)
    cl.wait_ready(30)
    return {"node_killed": cl.nodes[victim].name, "meta_leader_at_kill": leader, "alarms": storm, "seconds": round(dt, 2), "all_acked": acked,
            "pending_on_devices": pending, "stored_missing": missing, "stored_more_than_once": dup,
            "devices_on_killed_node": len(on_victim),
            "pending_devices": sorted(b.device_id for b in bs if b.outbox),
            "node_log_subscription_consumer_failures": logs.count("Unable to add JetStream consumer"),
            "node_log_session_failures": logs.count("unable to connect:"),
            # the devices' own count over the run: SUBACKs that refused a filter, SUBACKs not in time
            "device_subscription_refusals": sum(b.subscription_refusals for b in bs),
            "device_suback_timeouts": sum(b.suback_timeouts for b in bs),
            "devices_back_s": {k: (round(v, 2) if isinstance(v, float) else v)
                               for k, v in percentiles(list(back.values())).items()},
            "ack_delay_ms": {k: (round(v * 1000, 1) if isinstance(v, float) else v)
                             for k, v in percentiles(delays).items()}}


def _seen_back(bs, on_victim, down, back, t_kill) -> None:
    """A device of the killed node is back once it was seen disconnected and is connected again."""
    for b in bs:
        if b.device_id not in on_victim or b.device_id in back:
            continue
        if not b.client.is_connected:
            down.add(b.device_id)
        elif b.device_id in down:
            back[b.device_id] = time.monotonic() - t_kill


def latency_main(smoke: bool) -> dict:
    cfg = {"buttons": 6 if smoke else 40, "alarms": 6 if smoke else 100, "gap_s": 0.05,
           "rounds": 2 if smoke else 10, "storm_alarms": 60 if smoke else 1000, "storm_gap_s": 0.005,
           "storm_wait_s": 15 if smoke else 60}
    out = {"config": cfg}
    with tempfile.TemporaryDirectory(prefix="siaga-bench-cluster-") as tmp:
        for name in ("mosquitto", "nats-cluster"):
            topo = Topology(name, Path(tmp) / name)
            try:
                topo.start()
                out[name] = asyncio.run(_topology_run(topo, cfg))
            finally:
                topo.stop()
            print(f"cluster: {name} {json.dumps(out[name])}", flush=True)
    m, c = out["mosquitto"], out["nats-cluster"]
    out["ratio_cluster_to_mosquitto"] = {
        "alarm_to_ack_p50": round(c["alarm_to_ack_ms"]["p50"] / m["alarm_to_ack_ms"]["p50"], 2),
        "alarm_to_ack_p99": round(c["alarm_to_ack_ms"]["p99"] / m["alarm_to_ack_ms"]["p99"], 2),
        "ingest_alarms_s": round(c["ingest"]["alarms_s"] / m["ingest"]["alarms_s"], 2)}
    return out


# ---- 4: devices held ------------------------------------------------------------------------------
def _s(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    n, rem = len(body), b""
    while True:
        d, n = n % 128, n // 128
        rem += bytes([d | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + rem + body


def _connect(dev: str, pw: str, keepalive: int) -> bytes:
    will_t, will_p = topics.up(dev, "status").encode(), b'{"state":"offline"}'
    flags = 0x02 | 0x04 | (1 << 3) | 0x20 | 0x80 | 0x40   # clean, will QoS 1 retained, user, password
    body = _s(b"MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + _s(dev.encode()) + _s(will_t) + _s(will_p) \
        + _s(dev.encode()) + _s(pw.encode())
    return _packet(0x10, body)


def _subscribe(dev: str) -> bytes:
    return _packet(0x82, struct.pack("!H", 1) + _s(topics.subscription_down(dev).encode()) + b"\x01")


def _publish(topic: str, payload: bytes, retain: bool = False) -> bytes:
    return _packet(0x30 | (1 if retain else 0), _s(topic.encode()) + payload)   # QoS 0


async def _device(dev, pw, host, port, stats, hold_until, heartbeat_s):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 20)
        w.write(_connect(dev, pw, 120))
        head = await asyncio.wait_for(r.readexactly(4), 30)
        if head[0] != 0x20 or head[3] != 0:
            stats["refused"] += 1
            w.close()
            return
        w.write(_subscribe(dev))
        w.write(_publish(topics.up(dev, "status"), b'{"state":"online"}', retain=True))
        stats["connected"] += 1
        reader = asyncio.create_task(_drain(r))
        await asyncio.sleep(heartbeat_s * (hash(dev) % 1000) / 1000)
        while time.monotonic() < hold_until:
            w.write(_publish(topics.up(dev, "health"), b'{"t":"health"}'))
            stats["heartbeats"] += 1
            await asyncio.sleep(heartbeat_s)
            if reader.done():
                stats["dropped"] += 1
                return
        reader.cancel()
        w.close()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        stats["failed"] += 1


async def _drain(r):
    while await r.read(4096):
        pass


def _device_proc(devs, ports, rate, hold_until, heartbeat_s, q):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stats = {"connected": 0, "refused": 0, "failed": 0, "dropped": 0, "heartbeats": 0}

    async def run():
        tasks = []
        for i, (dev, pw) in enumerate(devs):
            tasks.append(asyncio.create_task(_device(dev, pw, "127.0.0.1", ports[i % len(ports)], stats, hold_until,
                                                     heartbeat_s)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def report():
        while time.monotonic() < hold_until + 5:
            q.put(dict(stats, pid=os.getpid(), t=time.time()))
            await asyncio.sleep(2)

    async def both():
        await asyncio.gather(run(), report())
    asyncio.run(both())
    q.put(dict(stats, pid=os.getpid(), t=time.time(), final=True))


def devices_main(smoke: bool) -> dict:
    goal = 500 if smoke else GOAL_DEVICES
    per_proc = 9000          # under the per-process descriptor limit (20,000 here)
    rate = 250 if smoke else 400   # connects a second, over all processes
    hold_s = 10 if smoke else 60
    heartbeat_s = 10 if smoke else 30
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    with tempfile.TemporaryDirectory(prefix="siaga-bench-devices-") as tmp:
        cl = NatsCluster(Path(tmp) / "cluster")
        cl.add_account(SERVER_USER, SERVER_PASS, role="server")
        # Every bench device is an account of its own with its own permissions; they share one
        # password so the bench does not spend minutes on bcrypt (the nodes check it at every connect).
        shared_pw = new_secret()
        devs = [(f"hb-{i:05d}", shared_pw) for i in range(goal)]
        t0 = time.monotonic()
        from fleet_server.broker.nats_cluster import bcrypt_hash
        shared_hash = bcrypt_hash(shared_pw)
        for d, _pw in devs:
            cl.add_hashed(d, shared_hash)
        accounts_s = time.monotonic() - t0
        cl.start(timeout=120)
        result = {"goal": goal, "accounts_s": round(accounts_s, 1), "fd_limit": list(limit), "connect_rate_s": rate,
                  "heartbeat_s": heartbeat_s}
        try:
            hb = _HeartbeatCounter(cl)
            ports = [n.mqtt_port for n in cl.nodes]   # straight to the nodes: haproxy would need 2 fds each
            procs, q = [], mp.Queue()
            chunks = [devs[i:i + per_proc] for i in range(0, goal, per_proc)]
            ramp_s = goal / rate
            hold_until = time.monotonic() + ramp_s + hold_s
            for ch in chunks:
                p = mp.Process(target=_device_proc, args=(ch, ports, rate / len(chunks), hold_until, heartbeat_s, q))
                p.start()
                procs.append(p)
            last: dict[int, dict] = {}
            peak = {"connected_at_nodes": 0}
            deadline = hold_until + 30
            while time.monotonic() < deadline and any(p.is_alive() for p in procs):
                while not q.empty():
                    s = q.get()
                    last[s["pid"]] = s
                try:
                    at_nodes = sum(cl.monitor(n, "varz").get("connections", 0) for n in cl.nodes)
                except OSError:
                    at_nodes = -1
                if at_nodes > peak["connected_at_nodes"]:
                    peak = {"connected_at_nodes": at_nodes, "at_s": round(time.monotonic() - (hold_until - ramp_s - hold_s), 1)}
                time.sleep(2)
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.kill()
            while not q.empty():
                s = q.get()
                last[s["pid"]] = s
            tot = {k: sum(s[k] for s in last.values()) for k in ("connected", "refused", "failed", "dropped", "heartbeats")}
            result.update({"devices": tot, "peak": peak, "heartbeats_received": hb.count,
                           "per_node_connections": {n.name: _safe_conns(cl, n) for n in cl.nodes},
                           "node_rss_mb": {n.name: _rss_mb(n.proc.pid) for n in cl.nodes if n.proc}})
            hb.stop()
        finally:
            cl.stop()
    return result


def _safe_conns(cl, n):
    try:
        return cl.monitor(n, "varz").get("connections")
    except OSError:
        return None


def _rss_mb(pid: int):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None


class _HeartbeatCounter:
    """A NATS queue subscriber on every device's health: the heartbeats reaching the workers' side."""

    def __init__(self, cl: NatsCluster):
        import threading
        self.count = 0
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, args=(cl.urls,), daemon=True)
        self.thread.start()

    def _run(self, urls):
        import nats

        async def main():
            nc = await nats.connect(servers=urls, user=SERVER_USER, password=SERVER_PASS)

            async def cb(m):
                self.count += 1
            await nc.subscribe("siaga.v1.dev.*.up.health", queue="siaga-workers", cb=cb)
            await self._stop.wait()
            await nc.close()
        self.loop.run_until_complete(main())

    def stop(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


def main(smoke: bool = False, only: str | None = None) -> dict:
    data = {}
    if only in (None, "latency"):
        data["latency"] = latency_main(smoke)
    if only in (None, "devices"):
        data["devices_held"] = devices_main(smoke)
        print(f"cluster: devices {json.dumps(data['devices_held'])}", flush=True)
    path = write("cluster" if only is None else f"cluster-{only}", data, smoke=smoke)
    print(f"cluster: {path}")
    return data


if __name__ == "__main__":
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    main(smoke="--smoke" in sys.argv, only=only)
