"""Alarm -> ack latency under background position load, in ONE run on ONE broker
against the real fleet server process (SQLite in a temp dir).

1. Ceiling C: the ingest benchmark's method (simulators.bench.ingest) applied to the server process.
   The server is stopped, its persistent QoS 1 session keeps subscribing; N valid `pos` reports
   (ingest.stream, for registered trackers) are queued on the broker; the server starts and drains
   them. C = positions handled per second between the first and the last /metrics sample of the
   drain (siaga_ingest_messages_total{type="pos"}).
2. Latency: at 0, 25, 50 and 75 % of C, a paced publisher (its own process, so it does not share
   a GIL with the buttons) puts `pos` reports on the broker for the registered trackers while
   protocol-level SimButtons press one alarm at a time; each alarm's latency is press -> the
   server's application ack at the button (SimButton.ack_latency_s). Per level: offered and
   achieved load, p50/p99/max, and zero loss (every alarm acked, none pending; every position the
   publisher got a PUBACK for was handled by the server).

The load goes through one MQTT connection with a server-role account publishing on behalf of the
trackers: thousands of tracker connections would cost this 2-core machine more CPU than the
server itself, and the server cannot tell the difference (it reads the device id from the topic).

`python -m simulators.bench.latency [--smoke]`  -> bench/results/latency.json"""
from __future__ import annotations

import asyncio
import inspect
import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker import Mosquitto, hash_password, new_secret
from fleet_server.process import FleetServer
from simulators.api_client import FleetApi
from simulators.bench.ingest import BASE, stream
from simulators.bench.results import REPO, percentiles, write
from simulators.fleet.button import SimButton

LEVELS = (0, 25, 50, 75)
# Smoke mode proves the harness in seconds: a tiny share of the ceiling, so a noisy 1-second
# ceiling estimate cannot leave the server with a backlog to drain.
SMOKE_LEVELS = (0, 5, 10, 15)
SERVER_USER, SERVER_PASS = "fleet-server", "server-secret"
LOAD_USER = "bench-load"
# The ceiling is measured at QoS 1 (a PUBACK per message, as the ingest bench does); the load
# uses the same QoS so "75 % of C" means 75 % of the same work per message. QoS 1 also lets the
# loss check count positions: every PUBACKed report must reach the server.
LOAD_QOS = 1
# Rounds of one fix per tracker that the publisher can draw from (ingest.stream's round scheme:
# a round continues each tracker's seq and ts where the previous stopped, so every report of the
# whole run is plausible for one tracker). This bounds a run at ROUNDS x trackers reports.
ROUNDS = 20_000
# Positions the publisher may have in flight or queued in its own client before it skips what it
# is offered: paho numbers messages with 16-bit ids, so past 65,535 outstanding it reuses ids and
# PUBACKs no longer match their messages.
MAX_OUTSTANDING = 20_000
METRIC_POS = 'siaga_ingest_messages_total{type="pos"}'
METRIC_QUEUE = "siaga_ingest_queue"
SLOW_MS = 250  # an alarm slower than this is listed with its press time (the promise is 5 minutes, the target p99 50 ms)


# ---- the load publisher (its own process) ------------------------------------------------------
def load_main(host: str, port: int, password: str, trackers: int, now: float, max_s: float) -> None:
    """The publisher process, driven by lines on stdin (one process for the whole run: starting an
    interpreter per level costs seconds on a busy machine):
      `burst N`  publish N reports as fast as possible, wait for every PUBACK, report;
      `rate R`   publish R reports a second until the next line, then wait for the PUBACKs, report;
      `end`      nothing (ends a `rate` segment without starting another).
    Each report is one JSON line {"sent", "acked", "skipped", "seconds"}. Stops at EOF or after max_s."""
    commands: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [commands.put(line.split()) for line in sys.stdin] + [commands.put(["eof"])],
                     daemon=True).start()
    acked = [0]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-load-{os.getpid()}")
    c.username_pw_set(LOAD_USER, password)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    c.connect(host, port, keepalive=60)
    c.loop_start()
    print("ready", flush=True)
    round_, pending, total = 0, [], 0
    end = time.monotonic() + max_s

    def publish_one() -> None:
        nonlocal round_, pending, total
        if not pending:
            # One fix per tracker a round, generated as needed: a precomputed list would stall
            # the pacing for seconds at the start of a long level.
            pending = stream(trackers, trackers, now=now, round_=round_, rounds=ROUNDS)[::-1]
            round_ += 1
        topic, payload = pending.pop()
        c.publish(topic, payload, qos=LOAD_QOS)
        total += 1

    cmd = commands.get(timeout=max_s)
    while cmd[0] != "eof" and time.monotonic() < end:
        if cmd[0] == "end":  # the segment before it has reported; idle until the next command
            cmd = commands.get(timeout=max(0.1, end - time.monotonic()))
            continue
        t0, sent, skipped, nxt = time.monotonic(), 0, 0, None
        if cmd[0] == "burst":
            for _ in range(int(cmd[1])):
                while total - acked[0] >= MAX_OUTSTANDING and time.monotonic() < end:
                    time.sleep(0.005)  # a burst waits for the broker instead of skipping
                publish_one()
                sent += 1
        else:
            rate = float(cmd[1])
            while nxt is None and time.monotonic() < end:
                due = int((time.monotonic() - t0) * rate)
                while sent + skipped < due:
                    if total - acked[0] >= MAX_OUTSTANDING:
                        skipped += 1  # the path is saturated: offered, not published
                        continue
                    publish_one()
                    sent += 1
                try:
                    nxt = commands.get(timeout=0.002)
                except queue.Empty:
                    pass
        seconds = time.monotonic() - t0
        deadline = time.monotonic() + 120
        while acked[0] < total and time.monotonic() < deadline:
            time.sleep(0.005)
        print(json.dumps({"sent": sent, "acked": sent - (total - acked[0]), "skipped": skipped,
                          "seconds": round(seconds, 3)}), flush=True)
        cmd = nxt or commands.get(timeout=max(0.1, end - time.monotonic()))
    c.disconnect()
    c.loop_stop()


class LoadPublisher:
    """The publisher process seen from the benchmark: one segment of load at a time."""

    def __init__(self, broker: Mosquitto, password: str, trackers: int, now: float, max_s: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.bench.latency", "--load", broker.host, str(broker.port), password,
             str(trackers), repr(now), repr(max_s)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        if self._line(30) != "ready":
            self.stop()
            raise RuntimeError(f"load publisher did not connect within 30 s: {self.stderr()}")

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else ""

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def report(self, timeout: float = 180) -> dict:
        line = self._line(timeout)
        if not line:
            raise RuntimeError(f"load publisher gave no report within {timeout} s: {self.stderr()}")
        return json.loads(line)

    def burst(self, n: int, timeout: float = 300) -> dict:
        self.send(f"burst {n}")
        return self.report(timeout)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read()[-2000:]

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                self.proc.wait(10)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            for f in (self.proc.stdout, self.proc.stderr):
                f.close()


# ---- watching the server ------------------------------------------------------------------------
class ServerGauge:
    """Samples the server's /metrics in a thread: (monotonic time, positions handled, queue)."""

    def __init__(self, base_url: str, every_s: float = 0.05):
        self.url = base_url + "/metrics"
        self.every_s = every_s
        self.samples: list[tuple[float, float, float]] = []
        self.last: dict[str, float] = {}
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-gauge", daemon=True)

    def start(self) -> "ServerGauge":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as h:
            while not self._stop.is_set():
                try:
                    values = self.last = read_metrics(h.get(self.url).text)
                    self.samples.append((time.monotonic(), values.get(METRIC_POS, 0.0), values.get(METRIC_QUEUE, 0.0)))
                except httpx.HTTPError as e:
                    self.last_error = repr(e)  # the server is (re)starting: no sample
                self._stop.wait(self.every_s)

    def positions(self) -> float:
        return self.samples[-1][1] if self.samples else 0.0

    def window(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        return [s for s in self.samples if t0 <= s[0] <= t1]


def read_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def wait_for(cond, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def drain_rate(samples: list[tuple[float, float, float]], n: float) -> dict:
    """Rate between the first sample that saw any position and the first that saw all n."""
    moving = [s for s in samples if s[1] > 0]
    if not moving:
        return {"msgs_s": None, "handled": 0, "seconds": None}
    first = moving[0]
    last = next((s for s in moving if s[1] >= n), moving[-1])
    dt = last[0] - first[0]
    rate = (last[1] - first[1]) / dt if dt > 0 else None
    return {"msgs_s": round(rate, 1) if rate else None, "handled": int(last[1]), "seconds": round(dt, 3),
            "samples": len(moving), "peak_queue": int(max(s[2] for s in moving))}


# ---- the run ------------------------------------------------------------------------------------
def _register_unit(api: FleetApi, unit: dict) -> None:
    # The server's units module only tracks a tracker that is bound to a unit.
    api.register_unit(**unit)


def _provision(api: FleetApi, broker: Mosquitto, trackers: int, buttons: int) -> dict[str, str]:
    """Trackers as ingest.stream names them, each bound to an ambulance unit; buttons a few hundred
    metres apart; each device registered through the API with a broker account whose secret only
    the device and the broker know."""
    secrets_: dict[str, str] = {}
    for d in range(trackers):
        dev, pw = f"trk-b{d:04d}", new_secret()
        lat, lon = BASE[0] + (d // 25) * 5000, BASE[1] + (d % 25) * 5000
        api.register_device(id=dev, kind="tracker", site=f"B{d}", lat_udeg=lat, lon_udeg=lon, category="medical",
                            agency="medical", broker_password_hash=hash_password(pw))
        _register_unit(api, {"id": f"B{d:04d}", "callsign": f"B{d}", "agency": "medical", "type": "ambulance",
                             "home_lat": lat, "home_lon": lon, "device_id": dev})
        broker.add_account(dev, pw)
        secrets_[dev] = pw
    for i in range(buttons):
        dev, pw = f"btn-lat{i:03d}", new_secret()
        api.register_device(id=dev, kind="button", site=f"bench site {i}", lat_udeg=BASE[0] - 3000 * (i + 1),
                            lon_udeg=BASE[1] - 3000 * (i % 7), category="medical",
                            broker_password_hash=hash_password(pw))
        broker.add_account(dev, pw)
        secrets_[dev] = pw
    broker.reload()
    return secrets_


async def _alarms(buttons: list[SimButton], n: int, gap_s: float, ack_timeout_s: float,
                  max_s: float = 3600.0) -> dict:
    """Up to n alarms (fewer when max_s runs out), one at a time, rotating over the buttons; each
    waits (bounded) for its ack."""
    before = {b.device_id: len(b.ack_latency_s) for b in buttons}
    pressed, slow, t0 = 0, [], time.monotonic()
    for i in range(n):
        if time.monotonic() - t0 > max_s:
            break  # an overloaded level would otherwise grow a backlog for many minutes
        b = buttons[i % len(buttons)]
        acks_before = len(b.ack_latency_s)
        key = b.press("medical")
        pressed += 1
        deadline = time.monotonic() + ack_timeout_s
        while key not in b.acked and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        # One alarm in flight at a time: the ack that arrived during this wait is this alarm's.
        if key in b.acked and len(b.ack_latency_s) == acks_before + 1 and b.ack_latency_s[-1] * 1000 > SLOW_MS:
            # When each slow alarm was pressed (s into the level): stalls at a fixed period point
            # at a periodic job in the server rather than at the load itself.
            slow.append((round(b.sent_at[key] - t0, 2), round(b.ack_latency_s[-1] * 1000, 1)))
        await asyncio.sleep(gap_s)
    seconds = time.monotonic() - t0
    lat = [x for b in buttons for x in b.ack_latency_s[before[b.device_id]:]]
    return {"pressed": pressed, "acked": len(lat), "seconds": seconds, "latency_s": lat, "slow": slow}


async def _settle(buttons: list[SimButton], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while any(b.outbox for b in buttons) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return sum(len(b.outbox) for b in buttons)


async def _level(cfg: dict, level: int, ceiling: float, load: LoadPublisher, buttons: list[SimButton],
                 gauge: ServerGauge) -> dict:
    """One load level: start the paced load, press the alarms, stop the load, check nothing was lost."""
    rate = ceiling * level / 100
    handled0 = gauge.positions()
    if rate:
        load.send(f"rate {rate:.1f}")
        await asyncio.sleep(cfg["warmup_s"])  # the load runs steady before the first press
    t0, load0 = time.monotonic(), gauge.positions()
    la = await _alarms(buttons, cfg["alarms"], cfg["gap_s"], cfg["ack_timeout_s"], cfg["level_max_s"])
    t1, load1 = time.monotonic(), gauge.positions()
    pub = {"sent": 0, "acked": 0, "skipped": 0, "seconds": 0.0}
    if rate:
        load.send("end")
        pub = await asyncio.to_thread(load.report)
    pending = await _settle(buttons, cfg["ack_timeout_s"])
    # Positions still queued (an overloaded level leaves a backlog) drain before the next level,
    # so levels do not overlap; the bound allows the backlog at half the measured ceiling.
    drain_s = cfg["drain_timeout_s"] + 2 * max(0, pub["acked"] - (gauge.positions() - handled0)) / ceiling
    caught_up = await asyncio.to_thread(wait_for, lambda: gauge.positions() - handled0 >= pub["acked"], drain_s)
    pct = percentiles([x * 1000 for x in la["latency_s"]])
    res = {
        "level_pct": level,
        "offered_msgs_s": round(rate, 1),
        "published_msgs_s": round(pub["sent"] / pub["seconds"], 1) if pub["seconds"] else 0.0,
        "achieved_msgs_s": round((load1 - load0) / (t1 - t0), 1),
        "kept_up": bool(rate == 0 or (load1 - load0) / (t1 - t0) >= 0.95 * rate),
        "positions_published": pub["sent"], "positions_puback": pub["acked"],
        "positions_skipped_publisher_saturated": pub["skipped"],
        # Handed to the publisher's MQTT client but never PUBACKed by the broker (still in the
        # publisher's own queue when it gave up): offered load the machine could not carry, not
        # messages the broker or the server lost.
        "positions_never_reached_broker": pub["sent"] - pub["acked"],
        "positions_handled": int(gauge.positions() - handled0),
        "peak_ingest_queue": int(max((s[2] for s in gauge.window(t0, t1)), default=0)),
        "alarms": la["pressed"], "acked": la["acked"], "pending_after": pending, "seconds": round(t1 - t0, 2),
        "ack_ms": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in pct.items()},
        # Every alarm acked and none pending; every position the broker accepted (PUBACK) was
        # handled by the server.
        "zero_loss": la["acked"] == la["pressed"] and pending == 0 and caught_up,
        "slow_alarms": {"over_ms": SLOW_MS, "count": len(la["slow"]), "pressed_at_s_and_ms": la["slow"][:20]},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"latency: {level}% of C ({rate:.0f} msgs/s offered, {res['achieved_msgs_s']} handled): ack ms "
          f"p50 {res['ack_ms']['p50']}, p99 {res['ack_ms']['p99']}, max {res['ack_ms']['max']}; "
          f"zero loss {res['zero_loss']}", flush=True)
    return res


async def _levels(cfg: dict, broker: Mosquitto, gauge: ServerGauge, load: LoadPublisher, secrets_: dict,
                  ceiling: float) -> list[dict]:
    # Every press must be a new alarm: a SimButton that folds presses like the firmware (within
    # active_s of the last alarm) is told not to. (Older SimButtons have no such knob.)
    no_fold = {"active_s": 0} if "active_s" in inspect.signature(SimButton.__init__).parameters else {}
    buttons = [SimButton(dev, pw, broker.host, broker.port, lat=BASE[0], lon=BASE[1], category="medical",
                         heartbeat_s=30.0, resend_s=2.0, **no_fold)
               for dev, pw in secrets_.items() if dev.startswith("btn-")]
    out = []
    try:
        await asyncio.gather(*(b.start() for b in buttons))
        for b in buttons:
            await asyncio.wait_for(b.connected.wait(), 10)
        await asyncio.sleep(0.5)  # births handled before the first level
        # Unrecorded warm-up alarms: the first incidents pay for cold caches (SQL compilation,
        # first pages of the database) that would otherwise land on the 0 % level only.
        await _alarms(buttons, len(buttons), cfg["gap_s"], cfg["ack_timeout_s"])
        for level in cfg["levels"]:
            out.append(await _level(cfg, level, ceiling, load, buttons, gauge))
    finally:
        await asyncio.gather(*(b.stop() for b in buttons), return_exceptions=True)
    return out


def _plots(levels: list[dict], ceiling: float) -> list[dict]:
    x = [lv["level_pct"] for lv in levels]
    lat = [{"name": p, "x": x, "y": [lv["ack_ms"][p] for lv in levels], "xlabel": "background load (% of ceiling)",
            "ylabel": "alarm→ack ms"} for p in ("p50", "p99", "max")]
    offered = [lv["offered_msgs_s"] for lv in levels]
    load = [{"name": name, "x": offered, "y": [lv[key] for lv in levels],
             "xlabel": "offered position load (msgs/s)", "ylabel": "positions/s"}
            for name, key in (("offered", "offered_msgs_s"), ("handled by the server", "achieved_msgs_s"))]
    load.append({"name": "ceiling C (backlog drain)", "x": offered, "y": [ceiling] * len(levels),
                 "xlabel": "offered position load (msgs/s)", "ylabel": "positions/s"})
    # Log scale: p50 is tens of ms, max can be seconds; on a linear axis p50 is a flat line.
    return [{"title": "alarm → ack latency under position load", "log": True, "series": lat},
            {"title": "position throughput vs offered load (server process)", "series": load}]


def main(smoke: bool = False, trackers: int | None = None) -> dict:
    cfg = {"trackers": trackers or (50 if smoke else 500), "buttons": 3 if smoke else 10,
           "ceiling_messages": 3000 if smoke else 30_000, "alarms": 5 if smoke else 150,
           "gap_s": 0.05 if smoke else 0.1, "warmup_s": 0.5 if smoke else 2.0, "ack_timeout_s": 10.0,
           "level_max_s": 10.0 if smoke else 60.0,
           "drain_timeout_s": 30.0, "load_password": new_secret(), "levels": SMOKE_LEVELS if smoke else LEVELS}
    # The publisher process ends itself after this, whatever happens to this one.
    max_s = 120 if smoke else 600 + len(LEVELS) * cfg["alarms"] * (cfg["gap_s"] + cfg["ack_timeout_s"])
    now = time.time()
    t_start = time.monotonic()
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="siaga-bench-latency-") as tmp:
        tmp = Path(tmp)
        broker = Mosquitto(tmp / "broker")
        broker.add_account(SERVER_USER, SERVER_PASS, role="server")
        broker.add_account(LOAD_USER, cfg["load_password"], role="server")
        srv = FleetServer(tmp / "server", broker.host, broker.port, mqtt_user=SERVER_USER, mqtt_password=SERVER_PASS,
                          env={"SIAGA_LOG_LEVEL": "WARNING"})
        gauge = load = None
        try:
            broker.start()
            t0 = time.monotonic()
            srv.start(timeout=60)
            phases["server_start"] = time.monotonic() - t0
            load = LoadPublisher(broker, cfg["load_password"], cfg["trackers"], now, max_s)
            api = FleetApi(srv.base_url, *srv.admin)
            try:
                t0 = time.monotonic()
                secrets_ = _provision(api, broker, cfg["trackers"], cfg["buttons"])
                phases["provision"] = time.monotonic() - t0
            finally:
                api.close()
            # 1. the ceiling: queue N on the stopped server's persistent session, then drain
            srv.stop()
            t0 = time.monotonic()
            n = cfg["ceiling_messages"]
            pub = load.burst(n)
            if pub["acked"] != n:
                raise RuntimeError(f"ceiling publisher got {pub['acked']} of {n} PUBACKs")
            phases["queue_ceiling_load"] = time.monotonic() - t0
            gauge = ServerGauge(srv.base_url).start()
            t0 = time.monotonic()
            srv.start(timeout=60)
            drained = wait_for(lambda: gauge.positions() >= n, cfg["drain_timeout_s"] + n / 1000)
            ceiling = drain_rate(gauge.samples, n)
            ceiling["zero_loss"] = drained and gauge.positions() == n
            ceiling["queued"] = n
            phases["restart_and_drain"] = time.monotonic() - t0
            print(f"latency: ceiling {ceiling}", flush=True)
            if not ceiling["msgs_s"]:
                rejected = {k: v for k, v in gauge.last.items() if k.startswith("siaga_ingest")}
                raise RuntimeError(f"no ceiling measured: {ceiling}; server metrics {rejected}; last gauge error "
                                   f"{gauge.last_error}; server log:\n{srv.output()[-3000:]}")
            # 2. latency at each level of the ceiling, same broker, same server process
            t0 = time.monotonic()
            levels = asyncio.run(_levels(cfg, broker, gauge, load, secrets_, ceiling["msgs_s"]))
            phases["levels"] = time.monotonic() - t0
            time.sleep(3 * gauge.every_s)
            rejections = dict(gauge.last)
        finally:
            if load is not None:
                load.stop()
            if gauge is not None:
                gauge.stop()
            srv.stop()
            broker.stop()
    doc = {
        "trackers": cfg["trackers"], "buttons": cfg["buttons"], "alarms_per_level": cfg["alarms"],
        "alarm_gap_s": cfg["gap_s"], "load_qos": LOAD_QOS, "database": "sqlite",
        "ceiling": ceiling,
        "levels": levels,
        "zero_loss": ceiling["zero_loss"] and all(lv["zero_loss"] for lv in levels),
        "server_kept_up_at_every_level": all(lv["kept_up"] for lv in levels),
        # Anything the server refused over the whole run (a position the filter rejected is not lost,
        # but it is not counted as handled either, so it would show up here first).
        "server_rejections": {k: v for k, v in rejections.items() if k.startswith("siaga_ingest_rejected_total")},
        "run_s": round(time.monotonic() - t_start, 1),
        "phase_s": {k: round(v, 2) for k, v in phases.items()},
        "plots": _plots(levels, ceiling["msgs_s"]),
        "method": ("C = drain rate of N queued QoS 1 pos reports by the fleet server process (ingest bench "
                   "method); then per level a paced QoS 1 publisher process at that share of C while "
                   "SimButtons press one alarm at a time; latency = press -> app-level ack at the button."),
    }
    path = write("latency", doc, smoke=smoke)
    print(f"latency: ceiling {ceiling['msgs_s']} pos/s; zero loss {doc['zero_loss']} -> {path}")
    return doc


if __name__ == "__main__":
    if len(sys.argv) >= 8 and sys.argv[1] == "--load":
        a = sys.argv[2:]
        load_main(a[0], int(a[1]), a[2], int(a[3]), float(a[4]), float(a[5]))
    else:
        argv = sys.argv[1:]
        main(smoke="--smoke" in argv, trackers=int(argv[argv.index("--trackers") + 1]) if "--trackers" in argv else None)
