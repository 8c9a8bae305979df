"""A scripted device for dispatch tests: a paho client logged in with the device's own broker
account (so the broker's ACL applies), publishing encoded protocol messages on its uplink and
recording the commands on its downlink. The tracker and button firmware are other modules' work;
this stands in for them on the real broker."""
from __future__ import annotations

import itertools
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics


class ScriptedDevice:
    def __init__(self, broker, dev: str, password: str = "pw"):
        broker.add_account(dev, password)
        broker.reload()
        self.dev = dev
        self.commands: list[dict] = []
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=dev)
        self.client.username_pw_set(dev, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.down(dev, "cmd"), qos=1)
        self.client.on_subscribe = lambda c, u, mid, rc, p: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        if not self._ready.wait(10):
            self.close()
            raise RuntimeError(f"{dev} could not subscribe")

    def _on_message(self, client, userdata, msg):
        decoded = codec_json.decode(msg.payload, None)
        with self._cond:
            self.commands.append(decoded)
            self._cond.notify_all()

    def wait_command(self, pred, timeout: float = 5.0) -> dict | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for c in self.commands:
                    if isinstance(c, dict) and pred(c):
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def send(self, kind: str, **fields) -> None:
        msg = {"v": 1, "t": kind, "dev": self.dev, "boot": 1, "seq": next(self._seq), **fields}
        self.client.publish(topics.up(self.dev, kind), codec_json.encode(msg), qos=1).wait_for_publish(5)

    def report(self, lat: int, lon: int, ts: float, acc: int = 6, spd: int | None = None) -> None:
        extra = {} if spd is None else {"spd": spd}
        self.send("pos", ts=int(ts), lat=lat, lon=lon, acc=acc, fixq=1, sats=9, **extra)

    def answer(self, order_id: str, res: str, why: str | None = None) -> None:
        extra = {} if why is None else {"why": why}
        self.send("cmdres", ts=int(time.time()), id=order_id, res=res, **extra)

    def close(self) -> None:
        # Disconnect first: it wakes paho's network thread, so loop_stop() returns at once.
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(pred, timeout: float = 5.0, every: float = 0.02):
    """Poll pred() until it returns something truthy or the deadline passes (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(every)
