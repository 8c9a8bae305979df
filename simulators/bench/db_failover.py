"""The PostgreSQL primary killed in a storm of alarms: Patroni (three nodes, etcd, a synchronous
standby; fleet_server/ops/db_cluster.py), a real Mosquitto, the fleet server process on the
cluster's multi-host URL, and simulated buttons at protocol level pressing alarms at a steady
rate. When a share of them has been pressed, the primary's postmaster gets SIGKILL; the buttons
keep pressing. Then, bounded in time: every alarm acked, nothing pending on any button, exactly
one stored alarm per (device, boot, seq), one incident per button (its later alarms fold in).

Figures: the promotion (kill -> Patroni names a new leader), the database failover (kill -> the
first commit on the new primary, from PostgreSQL's commit timestamps), the ack delay (press ->
ack at the button) of the alarms the fault hit (unacked at the kill, or pressed before the first
commit on the new primary) against the alarms pressed and acked before the kill, in the same run.

`python -m simulators.bench.db_failover [--smoke]`  -> bench/results/db_failover.json
The CI case (tests/ops/test_db_failover.py) runs run() with a short burst."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fleet_server.broker import Mosquitto, hash_password, new_secret
from fleet_server.broker.mosquitto import listen_ports
from fleet_server.ops.db_cluster import PatroniCluster
from fleet_server.process import FleetServer
from simulators.api_client import FleetApi
from simulators.bench.results import percentiles, write
from simulators.fleet.button import SimButton

SERVER_USER = "fleet-server"
BASE = (-6_914_700, 107_609_800)
SPACING_UDEG = 20_000          # ~2.2 km between buttons: each its own incident (fold radius 150 m)
FIRMWARE_RESEND_S = 10.0       # firmware/app/config.py resend_s: the server's retries do the work


@dataclass
class Config:
    buttons: int = 20
    alarms: int = 200
    rate_per_s: float = 50.0
    kill_at: float = 0.4        # share of the alarms pressed when the primary is killed
    settle_s: float = 60.0      # every alarm acked within this after the last press, or the run fails
    dcs: str = "etcd"           # Patroni's consensus store: etcd, or its built-in Raft
    rejoin_s: float = 0.0       # wait this long for the old primary to stream again as a standby (0: not)


class _Button(SimButton):
    """A SimButton that also remembers when each alarm's ack arrived."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.acked_at: dict[tuple[int, int], float] = {}

    def on_ack(self, msg: dict) -> None:
        fresh = (msg["boot"], msg["seq"]) in self.outbox
        super().on_ack(msg)
        if fresh:
            self.acked_at[(msg["boot"], msg["seq"])] = time.monotonic()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_block(n: int, taken: set[int]) -> int:
    """The first of n consecutive free loopback ports (none in `taken`)."""
    span = listen_ports()
    for _ in range(500):
        base = random.randint(span.start, span.stop - n)
        ports = range(base, base + n)
        if not taken.intersection(ports) and all(_free(p) for p in ports):
            taken.update(ports)
            return base
    raise RuntimeError(f"no {n} consecutive free ports on loopback")


def new_cluster(directory: Path, dcs: str = "etcd") -> PatroniCluster:
    taken: set[int] = set()
    return PatroniCluster(directory, pg_port=free_block(3, taken), rest_port=free_block(3, taken),
                          dcs_port=free_block(6, taken), dcs=dcs)


class _LeaderWatch(threading.Thread):
    """Polls Patroni's REST API every 0.1 s; records when a new leader is first named."""

    def __init__(self, cluster: PatroniCluster, old: str):
        super().__init__(daemon=True, name="leader-watch")
        self.cluster, self.old = cluster, old
        self.new: str | None = None
        self.at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.at is None:
            st = self.cluster.status()
            if st["primary"] and st["primary"] != self.old:
                self.new, self.at = st["primary"], time.monotonic()
            self.stop.wait(0.1)


def _provision(api: FleetApi, broker: Mosquitto, n: int) -> dict[str, str]:
    secrets_ = {}
    for i in range(n):
        dev, pw = f"btn-fo{i:04d}", new_secret()
        api.register_device(id=dev, kind="button", site=f"failover site {i}", category="medical",
                            lat_udeg=BASE[0] - SPACING_UDEG * (i // 10), lon_udeg=BASE[1] + SPACING_UDEG * (i % 10),
                            broker_password_hash=hash_password(pw))
        broker.add_account(dev, pw)
        secrets_[dev] = pw
    broker.reload()
    return secrets_


async def _storm(cfg: Config, broker: Mosquitto, secrets_: dict[str, str], cluster: PatroniCluster) -> dict:
    buttons = []
    for i, (dev, pw) in enumerate(secrets_.items()):
        buttons.append(_Button(dev, pw, broker.host, broker.port, lat=BASE[0] - SPACING_UDEG * (i // 10),
                               lon=BASE[1] + SPACING_UDEG * (i % 10), category="medical", heartbeat_s=300.0,
                               resend_s=FIRMWARE_RESEND_S, active_s=0))
    try:
        await asyncio.gather(*(b.start() for b in buttons))
        await asyncio.wait_for(asyncio.gather(*(b.connected.wait() for b in buttons)), 30)
        before = cluster.status()
        old_primary, sync_standby = before["primary"], before["sync_standby"]
        pm = cluster.postmaster_pid(cluster.node(old_primary))
        if not (pm and sync_standby):
            raise RuntimeError(f"cluster not ready for the kill: {before}")
        pressed: list[tuple[_Button, tuple[int, int], float]] = []
        kill_mono = kill_wall = None
        unacked_at_kill: set = set()
        watch = _LeaderWatch(cluster, old_primary)
        gap = 1.0 / cfg.rate_per_s
        t0 = time.monotonic()
        for i in range(cfg.alarms):
            await asyncio.sleep(max(0.0, t0 + i * gap - time.monotonic()))   # steady rate, no drift
            b = buttons[i % len(buttons)]
            key = b.press("medical")
            pressed.append((b, key, b.sent_at[key]))
            if kill_mono is None and i + 1 >= cfg.alarms * cfg.kill_at:
                unacked_at_kill = {(b.device_id, k) for b in buttons for k in b.outbox}
                kill_wall, kill_mono = time.time(), time.monotonic()
                os.kill(pm, signal.SIGKILL)
                watch.start()
        last_press = time.monotonic()
        while any(b.outbox for b in buttons) and time.monotonic() - last_press < cfg.settle_s:
            await asyncio.sleep(0.05)
        settled = time.monotonic()
        watch.stop.set()
        watch.join(2)
        rejoined = None
        while cfg.rejoin_s and time.monotonic() - settled < cfg.rejoin_s:
            old = next((m for m in cluster.status()["members"] if m["name"] == old_primary), None)
            if old and old["role"] in ("replica", "sync_standby") and old["state"] in ("running", "streaming"):
                rejoined = time.monotonic()
                break
            await asyncio.sleep(0.25)
        return {"buttons": buttons, "pressed": pressed, "kill_mono": kill_mono, "kill_wall": kill_wall,
                "unacked_at_kill": unacked_at_kill, "old_primary": old_primary, "sync_standby": sync_standby,
                "new_primary": watch.new, "promoted_mono": watch.at, "rejoined_mono": rejoined,
                "burst_s": last_press - t0,
                "settle_s": settled - last_press}
    finally:
        await asyncio.gather(*(b.stop() for b in buttons), return_exceptions=True)


def _stored(cluster: PatroniCluster, kill_wall: float) -> dict:
    import psycopg

    with psycopg.connect(cluster.libpq_dsn()) as c:
        keys = c.execute("SELECT device_id, boot, seq FROM alarms WHERE device_id LIKE 'btn-fo%'").fetchall()
        incidents = c.execute("SELECT count(DISTINCT ia.incident_id) FROM incident_alarms ia "
                              "JOIN alarms a ON a.id = ia.alarm_id WHERE a.device_id LIKE 'btn-fo%'").fetchone()[0]
        first = c.execute("SELECT extract(epoch FROM min(pg_xact_commit_timestamp(xmin))) FROM alarms "
                          "WHERE pg_xact_commit_timestamp(xmin) > to_timestamp(%s)", (kill_wall,)).fetchone()[0]
        on = c.execute("SELECT inet_server_port()").fetchone()[0]
    return {"keys": keys, "incidents": incidents, "first_commit_wall": float(first) if first is not None else None,
            "port": on}


def _ms(xs: list[float]) -> dict:
    return {k: (round(v * 1000, 1) if isinstance(v, float) else v) for k, v in percentiles(xs).items()}


def run(cfg: Config, workdir: Path, cluster: PatroniCluster | None = None) -> dict:
    """One storm with the primary killed in it; the figures and the checks (never asserts: the
    caller does). `cluster`: one already started (left running at the end), else a new one."""
    t_start = time.monotonic()
    own = cluster is None
    cluster = cluster or new_cluster(workdir / "pg", cfg.dcs)
    broker = Mosquitto(workdir / "broker")
    server_pw = new_secret()
    broker.add_account(SERVER_USER, server_pw, role="server")
    srv = FleetServer(workdir / "server", broker.host, broker.port, mqtt_user=SERVER_USER, mqtt_password=server_pw,
                      database_url=None, env={"SIAGA_LOG_LEVEL": "WARNING"})
    phases = {}
    try:
        t0 = time.monotonic()
        if own:
            cluster.start(timeout_s=120)
        phases["cluster_start_s"] = time.monotonic() - t0
        srv.database_url = srv.env["SIAGA_DATABASE_URL"] = cluster.url()
        broker.start()
        t0 = time.monotonic()
        srv.start(timeout=60)
        phases["server_start_s"] = time.monotonic() - t0
        api = FleetApi(srv.base_url, *srv.admin)
        try:
            secrets_ = _provision(api, broker, cfg.buttons)
        finally:
            api.close()
        t0 = time.monotonic()
        s = asyncio.run(_storm(cfg, broker, secrets_, cluster))
        phases["storm_s"] = time.monotonic() - t0
        stored = _stored(cluster, s["kill_wall"])
        server_alive = srv.running
        log_tail = srv.output()[-2000:]
        after = cluster.status()
    finally:
        srv.stop()
        broker.stop()
        t0 = time.monotonic()
        if own:
            cluster.stop()
        phases["cluster_stop_s"] = time.monotonic() - t0
    buttons, pressed, kill = s["buttons"], s["pressed"], s["kill_mono"]
    first_commit_s = stored["first_commit_wall"] - s["kill_wall"] if stored["first_commit_wall"] else None
    lat_all, lat_before, lat_fault = [], [], []
    for b, key, at in pressed:
        if key not in b.acked_at:
            continue
        d = b.acked_at[key] - at
        lat_all.append(d)
        if (b.device_id, key) in s["unacked_at_kill"] or (kill <= at and (first_commit_s is None
                                                                          or at <= kill + first_commit_s)):
            lat_fault.append(d)
        elif b.acked_at[key] < kill:
            lat_before.append(d)
    sent = {(b.device_id, *key) for b, key, _ in pressed}
    rows = [tuple(k) for k in stored["keys"]]
    fault, base = percentiles(lat_fault), percentiles(lat_before)
    return {
        "config": vars(cfg),
        "pressed": len(pressed), "acked": len(lat_all),
        "pending_on_devices": sum(len(b.outbox) for b in buttons),
        "stored": len(rows), "stored_distinct": len(set(rows)),
        "exactly_once": set(rows) == sent and len(rows) == len(set(rows)),
        "missing": len(sent - set(rows)), "incidents": stored["incidents"], "incidents_expected": cfg.buttons,
        "in_flight_at_kill": len(s["unacked_at_kill"]),
        "killed": s["old_primary"], "sync_standby_before": s["sync_standby"], "promoted": s["new_primary"],
        "promoted_the_sync_standby": s["new_primary"] == s["sync_standby"],
        "written_on": next((m["name"] for m in after["members"] if m["port"] == stored["port"]), None),
        "cluster_after": after["members"],
        "promotion_s": round(s["promoted_mono"] - kill, 2) if s["promoted_mono"] else None,
        "failover_s": round(first_commit_s, 2) if first_commit_s is not None else None,
        "failover_target_s": 30.0,
        # kill -> the old primary streams again as a standby (pg_rewind); None: not waited for
        "old_primary_rejoined_s": round(s["rejoined_mono"] - kill, 2) if s["rejoined_mono"] else None,
        "ack_ms_during_fault": _ms(lat_fault), "ack_ms_before_kill": _ms(lat_before), "ack_ms_all": _ms(lat_all),
        "fault_p99_to_baseline_p99": round(fault["p99"] / base["p99"], 1) if fault["n"] and base["n"] else None,
        "burst_s": round(s["burst_s"], 2), "settle_s": round(s["settle_s"], 2),
        "server_survived": server_alive,
        "phase_s": {k: round(v, 2) for k, v in phases.items()}, "run_s": round(time.monotonic() - t_start, 1),
        "server_log_tail": log_tail if not server_alive else "",
    }


def main(smoke: bool = False) -> dict:
    """The storm on etcd (the default consensus store) and, in the full run, on Patroni's Raft."""
    cfgs = [Config(buttons=10, alarms=60, rate_per_s=30)] if smoke else [
        Config(buttons=100, alarms=1500, rate_per_s=75, kill_at=0.5, dcs=dcs, rejoin_s=60) for dcs in ("etcd", "raft")]
    runs = {}
    for cfg in cfgs:
        with tempfile.TemporaryDirectory(prefix="siaga-bench-dbfo-") as tmp:
            os.chmod(tmp, 0o755)   # as root the cluster's directory inside belongs to the postgres user
            runs[cfg.dcs] = run(cfg, Path(tmp))
    doc = {**runs["etcd"], "by_dcs": {k: {f: v[f] for f in SUMMARY} for k, v in runs.items()}}
    doc["method"] = ("Patroni 3 nodes (etcd, synchronous_mode) on loopback, one fleet server on the multi-host URL "
                     "(target_session_attrs=read-write), SimButtons (protocol level, firmware resend period) "
                     "press at a steady rate; SIGKILL to the primary's postmaster at kill_at of the alarms. "
                     "failover_s = kill -> first commit on the new primary (pg_xact_commit_timestamp); ack delay = "
                     "press -> app-level ack at the button; baseline = alarms acked before the kill, same run. "
                     "by_dcs: the same storm with Patroni's built-in Raft instead of etcd.")
    path = write("db_failover", doc, smoke=smoke)
    for k, v in runs.items():
        print(f"db_failover ({k}): failover {v['failover_s']} s, promotion {v['promotion_s']} s, fault ack "
              f"{v['ack_ms_during_fault']}, exactly once {v['exactly_once']}, pending {v['pending_on_devices']}",
              flush=True)
    print(f"db_failover -> {path}")
    return doc


SUMMARY = ("pressed", "acked", "pending_on_devices", "exactly_once", "incidents", "in_flight_at_kill",
           "promoted_the_sync_standby", "promotion_s", "failover_s", "old_primary_rejoined_s", "ack_ms_during_fault",
           "ack_ms_before_kill",
           "fault_p99_to_baseline_p99", "phase_s")


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv[1:])
