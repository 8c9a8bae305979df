"""Several fleet-server workers on one broker and one PostgreSQL database, and a swarm of simulated
buttons at the protocol level, for the failure test (tests/server/test_workers.py) and the bench
(simulators/bench/workers.py).

- `Workers`: N `siaga serve` processes, worker ids w1..wN, each with its own broker server
  account (<base>-w<i>: client ids are bound to accounts), all on one database.
- `AlarmSwarm`: buttons that behave like the firmware's outbox: each alarm is published QoS 1 and
  published again every `resend_s` until its application ack arrives (a broker PUBACK is not
  enough). It records, per (device, boot, seq), the first press and the first ack.
- `leases(url)`: the lease table as the database holds it (holder, token, acquired_at)."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics

BASE = (-6_914_700, 107_609_800)    # Bandung
SPACING_UDEG = 3000                 # 330 m between buttons: beyond the 150 m fold radius


class Workers:
    def __init__(self, workdir: Path, broker, database_url: str, n: int, *, base_user: str = "fleet-server",
                 password: str = "server-secret", env: dict | None = None):
        from tests.support.server import FleetServer

        self.broker = broker
        for i in range(1, n + 1):
            broker.add_account(f"{base_user}-w{i}", password, role="server")
        broker.reload()
        self.servers = [FleetServer(Path(workdir) / f"w{i}", broker, database_url=database_url, mqtt_user=base_user,
                                    mqtt_password=password,
                                    env={"SIAGA_WORKER_ID": f"w{i}", **(env or {})})
                        for i in range(1, n + 1)]

    def start(self) -> "Workers":
        # The first one migrates the database; the others find it current (and would wait on the
        # migration lock if started together).
        for s in self.servers:
            s.start(timeout=60)
        return self

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    def __getitem__(self, i: int):
        return self.servers[i]

    def alive(self) -> list:
        return [s for s in self.servers if s.running]


def register_buttons(srv, ids: list[str], first: int = 0) -> None:
    import httpx
    with httpx.Client(base_url=srv.base_url + "/api/v1", headers=srv.auth(), timeout=30) as h:
        for k, dev in enumerate(ids, start=first):
            r = h.post("/devices", json={"id": dev, "kind": "button", "lat_udeg": BASE[0] - SPACING_UDEG * k,
                                         "lon_udeg": BASE[1], "category": "medical"})
            r.raise_for_status()


def register_trackers(srv, ids: list[str]) -> None:
    import httpx
    with httpx.Client(base_url=srv.base_url + "/api/v1", headers=srv.auth(), timeout=30) as h:
        for k, dev in enumerate(ids):
            h.post("/devices", json={"id": dev, "kind": "tracker", "lat_udeg": BASE[0], "lon_udeg": BASE[1],
                                     "category": "medical"}).raise_for_status()
            h.post("/units", json={"id": f"u-{dev}", "callsign": f"AMB {k}", "agency": "medical",
                                   "type": "ambulance", "device_id": dev}).raise_for_status()


def mqtt_client(broker, user: str, password: str, on_message=None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
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
        raise RuntimeError(f"{user} could not connect")
    return c


class AlarmSwarm:
    """Buttons `devices` (index k sits k * 330 m south of Bandung's center). One broker account of
    the server role publishes for them all and reads their acks (a test and bench account; each
    real button has its own)."""

    def __init__(self, broker, user: str, password: str, devices: list[str], resend_s: float = 1.0, boot: int = 1,
                 first: int = 0):
        """first: the location index of devices[0] (as register_buttons(first=...))."""
        broker.add_account(user, password, role="server")
        broker.reload()
        self.devices = devices
        self.index = {d: k for k, d in enumerate(devices, start=first)}
        self.resend_s = resend_s
        self.boot = boot
        self.pressed: dict[tuple, float] = {}      # (dev, boot, seq) -> first press (time.time())
        self.acked: dict[tuple, float] = {}        # -> first ack
        self.incident: dict[tuple, int] = {}
        self.acks = 0                              # every ack, resends' acks included
        self.resent = 0
        self._last: dict[tuple, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = mqtt_client(broker, user, password, self._on_ack)
        self.client.subscribe("siaga/v1/dev/+/down/ack", qos=1)
        time.sleep(0.3)
        self._thread = threading.Thread(target=self._resend_loop, name="swarm-outbox", daemon=True)
        self._thread.start()

    def _payload(self, dev: str, seq: int) -> bytes:
        k = self.index[dev]
        return codec_json.encode({"v": 1, "t": "alarm", "dev": dev, "boot": self.boot, "seq": seq,
                                  "ts": int(time.time()), "cat": "medical", "trig": "button", "presses": 1,
                                  "lat": BASE[0] - SPACING_UDEG * k, "lon": BASE[1], "src": "gps", "acc": 5,
                                  "age": 1})

    def press(self, dev: str, seq: int) -> None:
        key = (dev, self.boot, seq)
        now = time.time()
        with self._lock:
            self.pressed.setdefault(key, now)
            self._last[key] = now
        self.client.publish(topics.up(dev, "alarm"), self._payload(dev, seq), qos=1)

    def _on_ack(self, client, userdata, msg) -> None:
        a = codec_json.decode(msg.payload, msg.topic)
        if not isinstance(a, dict):
            return
        if a["dev"] not in self.index:
            return    # another device's ack (the subscription sees every ack)
        key = (a["dev"], a["boot"], a["seq"])
        now = time.time()
        with self._lock:
            self.acks += 1
            self.acked.setdefault(key, now)
            self.incident.setdefault(key, a["inc"])
            self._last.pop(key, None)

    def _resend_loop(self) -> None:
        while not self._stop.wait(0.1):
            now = time.time()
            with self._lock:
                due = [k for k, at in self._last.items() if now - at >= self.resend_s]
                for k in due:
                    self._last[k] = now
            for dev, _boot, seq in due:
                self.resent += 1
                self.client.publish(topics.up(dev, "alarm"), self._payload(dev, seq), qos=1)

    def wait_acked(self, dev: str, seq: int, timeout: float = 10.0) -> float | None:
        """Press -> ack of one alarm, seconds (None: no ack within timeout)."""
        key = (dev, self.boot, seq)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if key in self.acked:
                    return self.acked[key] - self.pressed[key]
            time.sleep(0.001)
        return None

    def pending(self) -> int:
        with self._lock:
            return len(self.pressed) - len(self.acked)

    def wait_all_acked(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.05)
        return self.pending() == 0

    def ack_delays(self, pressed_from: float = 0.0, pressed_until: float = float("inf")) -> list[float]:
        """Press -> first ack, seconds, of the alarms pressed in [from, until)."""
        with self._lock:
            return [self.acked[k] - t for k, t in self.pressed.items()
                    if k in self.acked and pressed_from <= t < pressed_until]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


class PositionStream:
    """`rate` pos messages/s, QoS 0, spread over `trackers` (one server-role account for them all)."""

    def __init__(self, broker, user: str, password: str, trackers: list[str], rate: int):
        broker.add_account(user, password, role="server")
        broker.reload()
        self.client = mqtt_client(broker, user, password)
        self.trackers, self.rate = trackers, rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="position-stream", daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        seq = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self.rate)
            while self.sent < due and not self._stop.is_set():
                dev = self.trackers[self.sent % len(self.trackers)]
                seq += 1
                msg = {"v": 1, "t": "pos", "dev": dev, "boot": 1, "seq": seq, "ts": int(time.time()),
                       "lat": BASE[0] + seq % 1000, "lon": BASE[1], "acc": 5, "spd": 800, "hdg": 90}
                self.client.publish(topics.up(dev, "pos"), codec_json.encode(msg), qos=0)
                self.sent += 1
            time.sleep(0.002)

    def start(self) -> "PositionStream":
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(10)
        self.client.loop_stop()
        self.client.disconnect()
        return self.sent


def leases(database_url: str) -> dict[str, tuple[str, int, float, float]]:
    """{name: (holder, token, acquired_at, expires_at)} as the database holds them now."""
    from sqlalchemy import create_engine, text
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            return {r[0]: (r[1], int(r[2]), float(r[3]), float(r[4])) for r in c.execute(
                text("SELECT name, holder, token, acquired_at, expires_at FROM leases"))}
    finally:
        engine.dispose()


def wait_takeover(database_url: str, dead: str, timeout: float = 15.0) -> dict[str, tuple[str, float]]:
    """Wait until no lease is held by `dead` any more; {name: (new holder, acquired_at)}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = leases(database_url)
        if now and all(h != dead for h, *_ in now.values()):
            return {n: (h, acq) for n, (h, _t, acq, _e) in now.items()}
        time.sleep(0.05)
    raise TimeoutError(f"leases still held by {dead} after {timeout}s: {leases(database_url)}")
