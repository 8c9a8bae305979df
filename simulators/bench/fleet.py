"""Connected devices at scale: N protocol-level buttons held by ONE simulator process
against one broker and the real fleet server (registered through its API), with heartbeats flowing.
Records how many connected, connect rate, heartbeats delivered, how many the server shows online,
and memory per device for the simulator, the broker and the server.
`python -m simulators.bench.fleet [--smoke] [--devices N]`"""
from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import httpx

from fleet_server.broker import Mosquitto, hash_password
from fleet_server.process import FleetServer
from protocols import topics
from simulators.bench.results import write
from simulators.fleet.button import SimButton


def rss_kb(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class HeartbeatCounter:
    def __init__(self, host, port, user, password):
        self.count = 0
        self.devices: set[str] = set()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-observer")
        self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.subscription_up("health"), qos=0)
        self.c.on_message = self._msg
        self.c.connect(host, port, 60)
        self.c.loop_start()

    def _msg(self, c, u, m):
        self.count += 1
        self.devices.add(m.topic.split("/")[3])

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


async def _hold(n: int, host: str, port: int, heartbeat_s: float, hold_s: float, counter: HeartbeatCounter,
                at_end=None):
    rss0 = rss_kb()
    buttons = [SimButton(f"bench-{i:05d}", f"pw-{i}", host, port, lat=-6914744, lon=107609810,
                         heartbeat_s=heartbeat_s) for i in range(n)]
    t0 = time.monotonic()
    sem = asyncio.Semaphore(200)  # connect in waves: a thundering herd only measures the SYN backlog

    async def connect(b):
        async with sem:
            await b.start()

    await asyncio.gather(*(connect(b) for b in buttons))
    connect_s = time.monotonic() - t0
    connected = sum(1 for b in buttons if b.client.is_connected)
    await asyncio.sleep(hold_s)
    still = sum(1 for b in buttons if b.client.is_connected)
    rss1 = rss_kb()
    seen_by_server = await asyncio.to_thread(at_end) if at_end else None   # while all are still up
    await asyncio.gather(*(b.stop() for b in buttons), return_exceptions=True)
    return {"connected": connected, "still_connected_after_hold": still, "connect_s": round(connect_s, 2),
            "connects_per_s": round(n / connect_s, 1), "sim_rss_kb_per_device": round((rss1 - rss0) / n, 2),
            "server_devices_online_at_end": seen_by_server}


def _register(base_url: str, token: str, n: int) -> float:
    """Register n buttons through the API (one keep-alive connection); returns seconds taken."""
    t0 = time.monotonic()
    pw_hash = hash_password("unused-here")   # the broker has the real secrets; the server only needs a hash
    with httpx.Client(base_url=base_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for i in range(n):
            r = c.post("/devices", json={"id": f"bench-{i:05d}", "kind": "button", "category": "medical",
                                         "lat_udeg": -6914744, "lon_udeg": 107609810,
                                         "broker_password_hash": pw_hash})
            if r.status_code != 201:
                raise RuntimeError(f"registering bench-{i:05d}: {r.status_code} {r.text[:200]}")
    return time.monotonic() - t0


def _online(base_url: str, token: str) -> int:
    total, page = 0, 5000   # the API pages at most 5,000 devices at a time
    with httpx.Client(base_url=base_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for offset in range(0, 1_000_000, page):
            r = c.get("/devices", params={"status": "online", "limit": page, "offset": offset})
            r.raise_for_status()
            total += len(r.json())
            if len(r.json()) < page:
                return total
    return total


def main(smoke: bool = False, devices: int | None = None) -> dict:
    n = devices or (200 if smoke else 10000)
    heartbeat_s = 2.0 if smoke else 20.0
    hold_s = 5.0 if smoke else 60.0
    hard = _raise_fd_limit()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.add_account("observer", "obs", role="observer")
        broker.add_account("fleet-server", "srv", role="server")
        for i in range(n):
            broker.add_account(f"bench-{i:05d}", f"pw-{i}")
        broker.start()
        server = FleetServer(Path(tmp) / "server", broker.host, broker.port, mqtt_password="srv",
                             env={"SIAGA_SUPERVISE_EVERY_S": "5", "SIAGA_LOG_LEVEL": "WARNING"})
        try:
            server.start(60)
            server_rss0 = rss_kb(server.proc.pid)
            register_s = _register(server.base_url, server.token, n)
            broker_rss0 = rss_kb(broker.proc.pid)
            counter = HeartbeatCounter(broker.host, broker.port, "observer", "obs")
            res = asyncio.run(_hold(n, broker.host, broker.port, heartbeat_s, hold_s, counter,
                                    at_end=lambda: (_online(server.base_url, server.token), rss_kb(server.proc.pid))))
            online, server_rss1 = res.pop("server_devices_online_at_end")
            broker_rss1 = rss_kb(broker.proc.pid)
            counter.close()
        finally:
            server.stop()
            broker.stop()
    expected_beats = n * hold_s / heartbeat_s
    out = {"devices": n, "heartbeat_s": heartbeat_s, "hold_s": hold_s, "fd_limit": hard, **res,
           "heartbeats_received": counter.count, "devices_heard": len(counter.devices),
           "heartbeats_expected_approx": int(expected_beats),
           "broker_rss_kb_per_connection": round((broker_rss1 - broker_rss0) / n, 2),
           "server_register_s": round(register_s, 1), "server_devices_online_at_end": online,
           "server_rss_kb_before": server_rss0, "server_rss_kb_after": server_rss1,
           "server_rss_kb_per_device": round((server_rss1 - server_rss0) / n, 2)}
    path = write("fleet", out, smoke=smoke)
    print(out)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    argv = sys.argv[1:]
    main(smoke="--smoke" in argv, devices=int(argv[argv.index("--devices") + 1]) if "--devices" in argv else None)
