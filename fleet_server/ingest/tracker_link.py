"""An MQTT route for tracker uplinks (pos, crew, cmdres) into a Fleet, and the publish callable
for its downlinks. The server's ingest (mqtt_link.py) routes these three types to Fleet.handle()
itself; this link is the same path as a standalone client, used by the ingest
benchmark and the dispatch tests, and by a deployment that runs tracking as its own worker
(with an MQTT v5 shared subscription, `$share/<group>/...`, several workers split the load)."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols import codec_json, topics
from protocols.rejection import Rejection
from fleet_server.domain.fleet import Fleet
from fleet_server.logs import event

log = logging.getLogger("siaga.ingest.trackers")
KINDS = ("pos", "crew", "cmdres")


class TrackerLink:
    def __init__(self, fleet: Fleet, host: str, port: int, username: str, password: str,
                 client_id: str = "siaga-tracking", share_group: str | None = None, clean_start: bool = True):
        self.fleet = fleet
        self.received = 0
        self.rejected: Counter[str] = Counter()
        self._connected = threading.Event()
        self._share = share_group
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_start,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._sub_mid = None
        self.client.max_inflight_messages_set(1000)
        self.host, self.port = host, port

    def start(self, timeout: float = 10.0) -> "TrackerLink":
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.stop()
            raise RuntimeError(f"tracker link could not connect to {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1):
        """The Publish callable for Dispatch: orders and button feedback go out on this client."""
        return self.client.publish(topic, payload, qos=qos)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        subs = []
        for k in KINDS:
            t = topics.subscription_up(k)
            subs.append(((f"$share/{self._share}/" + t) if self._share else t, 1))
        self._sub_mid = client.subscribe(subs)[1]
        if flags.session_present:
            # The broker kept our session and its subscriptions: queued messages are already on
            # their way, ahead of this SUBACK, so waiting for it would wait for the whole backlog.
            self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        # Ready only once the broker confirmed the subscriptions: nothing published after start()
        # returns can be missed.
        if mid == self._sub_mid:
            self._connected.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        self.received += 1
        at = time.time()
        decoded = codec_json.decode(msg.payload, msg.topic)
        if isinstance(decoded, Rejection):
            self._reject(msg.topic, decoded)
            return
        try:
            out = self.fleet.handle(decoded["t"], decoded, at)
        except Exception:  # a bug in one message's handling must not stop the link
            log.exception("tracker message on %s failed", msg.topic)
            self.rejected["error"] += 1
            return
        if isinstance(out, Rejection):
            self._reject(msg.topic, out)

    def _reject(self, topic: str, r: Rejection) -> None:
        self.rejected[r.code] += 1
        if self.rejected[r.code] <= 3 or self.rejected[r.code] % 1000 == 0:
            event(log, logging.INFO, "tracker message rejected", topic=topic[:80], code=r.code, reason=r.reason,
                  count=self.rejected[r.code])
