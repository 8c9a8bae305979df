"""The fleet server's side of the wire for firmware tests: a paho client logged in as the server
account that records every uplink (decoded with protocols.codec_json), acks alarms the way the
server does (app-level ack on topics.down(dev, "ack")) and sends commands. Every wait is bounded."""
from __future__ import annotations

import time

from protocols import codec_json, downlink, topics
from protocols.rejection import Rejection
from tests.support.mqtt import Recorder


class CenterStandIn:
    def __init__(self, host: str, port: int, username: str, password: str, auto_ack: bool = False):
        self.auto_ack = auto_ack
        self.inc = 1000
        self.acked: list[tuple[str, int, int]] = []
        self.rec = Recorder(host, port, username, password, topics=(topics.subscription_up("+"),))
        self.rec.client.on_message = self._on_message_and_ack
        # Tests restart the broker; come back within a second like the server would, not after
        # paho's default backoff of up to two minutes.
        self.rec.client.reconnect_delay_set(0.1, 1)

    def _on_message_and_ack(self, client, userdata, msg):
        self.rec._on_message(client, userdata, msg)
        if self.auto_ack and msg.topic.endswith("/up/alarm"):
            m = codec_json.decode(msg.payload, msg.topic)
            if not isinstance(m, Rejection):
                self.ack(m, wait=False)

    # ---- what the server saw ----------------------------------------------------------------
    def uplinks(self, kind: str, dev: str | None = None) -> list[dict]:
        out = []
        for m in self.rec.matching(lambda m: m.topic.endswith("/up/" + kind)):
            d = codec_json.decode(m.payload, m.topic)
            assert not isinstance(d, Rejection), f"firmware sent a message the protocol rejects: {d} {m.payload!r}"
            if dev is None or d["dev"] == dev:
                out.append(d)
        return out

    def wait_uplinks(self, kind: str, count: int = 1, timeout: float = 10.0, where=lambda d: True) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.uplinks(kind) if where(d)]
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            self.rec.wait_for(lambda m: False, timeout=min(0.1, max(0.0, deadline - time.monotonic())))

    def alarms(self, dev: str | None = None) -> list[dict]:
        return self.uplinks("alarm", dev)

    # ---- what the server says ---------------------------------------------------------------
    def ack(self, alarm: dict, inc: int | None = None, wait: bool = True) -> None:
        if inc is None:
            self.inc += 1
            inc = self.inc
        payload = downlink.ack(alarm["dev"], alarm["boot"], alarm["seq"], inc, int(time.time()))
        info = self.rec.client.publish(topics.down(alarm["dev"], "ack"), payload, qos=1)
        self.acked.append((alarm["dev"], alarm["boot"], alarm["seq"]))
        if wait:
            info.wait_for_publish(5)

    def command(self, dev: str, op: str, cmd_id: str, expires_in: int = 60, **fields) -> None:
        now = int(time.time())
        msg = {"v": 1, "t": "cmd", "dev": dev, "id": cmd_id, "ts": now, "exp": now + expires_in, "op": op, **fields}
        self.raw(topics.down(dev, "cmd"), codec_json.encode(msg))

    def raw(self, topic: str, payload: bytes) -> None:
        self.rec.publish(topic, payload, qos=1)

    def server_online(self, epoch: str) -> None:
        self.rec.publish(topics.SERVER_STATUS, downlink.server_status("online", epoch, int(time.time())),
                         qos=1, retain=True)

    def close(self) -> None:
        self.rec.close()
