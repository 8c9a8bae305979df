"""One simulated device on the wire: connection with retained birth and last will, heartbeats, and
the (boot, seq) counter every uplink carries. Buttons and trackers build on it.

As the firmware's link (firmware/app/mqtt_link.py): a subscription the broker refuses (SUBACK 0x80,
as the clustered broker does while JetStream re-elects) or does not answer within SUBACK_TIMEOUT_S
drops the connection and reconnects (gmqtt's fixed reconnect delay here, where the firmware backs
off), since a device that is not subscribed never hears its acks."""
from __future__ import annotations

import asyncio
import logging
import random
import time

from gmqtt import Client, Message

from protocols import codec_json, topics
from protocols.rejection import Rejection

log = logging.getLogger("siaga.sim")
# gmqtt warns on every write while the broker is away; an outage is part of the scenario, not news.
logging.getLogger("gmqtt").setLevel(logging.ERROR)
FW = "sim-0.1.0"
SUBACK_TIMEOUT_S = 5.0   # the firmware's connect_timeout_ms default (firmware/app/config.py)


class SimDevice:
    kind = "button"

    def __init__(self, device_id: str, password: str, host: str, port: int, *, boot: int | None = None,
                 heartbeat_s: float = 60.0, clock=time.time):
        self.device_id = device_id
        self.password = password
        self.host, self.port = host, port
        self.boot = boot if boot is not None else random.randint(1, 1_000_000)
        self.seq = 0
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.connected = asyncio.Event()
        self.sent: dict[str, int] = {}
        self.rejected_downlink: list[Rejection] = []
        self.server_epoch: str | None = None
        will = Message(topics.up(device_id, "status"), self._status("offline"), qos=1, retain=True)
        self.client = Client(device_id, clean_session=False, will_message=will)
        self.client.set_auth_credentials(device_id, password)
        self.client.set_config({"reconnect_retries": -1, "reconnect_delay": 1})
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._tasks: list[asyncio.Task] = []
        self._awaiting_suback: set[int] = set()
        self._connection = 0           # counts connects, so a stale SUBACK deadline does nothing
        self.subscription_refusals = 0
        self.suback_timeouts = 0

    # ---- wire -----------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def header(self, kind: str) -> dict:
        return {"v": 1, "t": kind, "dev": self.device_id, "boot": self.boot, "seq": self.next_seq()}

    def _status(self, state: str) -> bytes:
        return codec_json.encode({"v": 1, "t": "status", "dev": self.device_id, "boot": self.boot, "seq": 0,
                                  "state": state, "kind": self.kind, "fw": FW})

    def publish(self, msg: dict, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topics.up(self.device_id, msg["t"]), codec_json.encode(msg), qos=qos, retain=retain)
        self.sent[msg["t"]] = self.sent.get(msg["t"], 0) + 1

    stuck = False     # a key held down past stuck_s (buttons set it)

    def health(self) -> dict:
        return dict(self.header("health"), ts=self.now(), batt=3900, pct=80, rssi=-70, temp=300, tamper=False,
                    stuck=self.stuck, uptime=0, fw=FW)

    def send_health(self) -> None:
        if self.client.is_connected:
            self.publish(self.health())

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.client.connect(self.host, self.port, keepalive=60, version=4)
        self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
        if self.client.is_connected:
            self.client.publish(topics.up(self.device_id, "status"), self._status("offline"), qos=1, retain=True)
            await self.client.disconnect()

    def _on_connect(self, client, flags, rc, properties):
        self._connection += 1
        self._awaiting_suback = {client.subscribe(topics.subscription_down(self.device_id), qos=1),
                                 client.subscribe(topics.SERVER_STATUS, qos=1)}
        asyncio.ensure_future(self._suback_deadline(self._connection))
        self.publish_birth()
        self.connected.set()
        self.on_online()

    def publish_birth(self) -> None:
        self.client.publish(topics.up(self.device_id, "status"), self._status("online"), qos=1, retain=True)

    def _on_disconnect(self, client, packet, exc=None):
        self.connected.clear()

    def _on_subscribe(self, client, mid, qos, properties):
        self._awaiting_suback.discard(mid)
        if any(q >= 0x80 for q in qos):
            self.subscription_refusals += 1
            log.info("device %s: broker refused subscription (SUBACK %s); reconnecting", self.device_id, qos)
            self._reconnect()

    async def _suback_deadline(self, connection: int) -> None:
        await asyncio.sleep(SUBACK_TIMEOUT_S)
        if connection == self._connection and self._awaiting_suback and self.client.is_connected:
            self.suback_timeouts += 1
            log.info("device %s: no SUBACK in time; reconnecting", self.device_id)
            self._reconnect()

    def _reconnect(self) -> None:
        self._awaiting_suback = set()
        self._connection += 1
        asyncio.ensure_future(self.client.reconnect(delay=True))

    def _on_message(self, client, topic, payload, qos, properties):
        if topic == topics.SERVER_STATUS:
            st = codec_json.decode_server_status(payload)
            if isinstance(st, dict) and st["state"] == "online" and st["epoch"] != self.server_epoch:
                # A restarted server has lost nothing it committed, but re-announcing lets it mark
                # us online again at once instead of waiting for the next heartbeat.
                if self.server_epoch is not None:
                    self.publish_birth()
                self.server_epoch = st["epoch"]
            return 0
        msg = codec_json.decode(payload, topic)
        if isinstance(msg, Rejection):
            log.warning("device %s ignored downlink: %s", self.device_id, msg.reason)
            self.rejected_downlink.append(msg)
            return 0
        if msg["t"] == "ack":
            self.on_ack(msg)
        elif msg["t"] == "cmd":
            self.on_cmd(msg)
        return 0

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s * random.uniform(0.9, 1.1))
            self.send_health()

    def cmdres(self, cmd: dict, res: str, why: str | None = None) -> None:
        msg = dict(self.header("cmdres"), ts=self.now(), id=cmd["id"], res=res)
        if why:
            msg["why"] = why
        self.publish(msg)

    # ---- hooks ----------------------------------------------------------------------------
    def on_online(self) -> None:
        pass

    def on_ack(self, msg: dict) -> None:
        pass

    def on_cmd(self, msg: dict) -> None:
        if msg["exp"] < self.now():
            self.cmdres(msg, "expired", "received after expiry")
        else:
            self.cmdres(msg, "ok")
