"""OwnTracks phones in MQTT mode: the app publishes to owntracks/<user>/<device> (and transitions
to .../event) on the center's broker, where the ACL pattern `owntracks/%u/#` lets a phone account
write only under its own user name. This link reads them into the Pipeline."""
from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols.rejection import Rejection
from fleet_server.adapters.binding import Pipeline
from fleet_server.adapters.owntracks import decoder
from fleet_server.logs import event

log = logging.getLogger("siaga.adapters.owntracks")
SUBSCRIPTIONS = ("owntracks/+/+", "owntracks/+/+/event")


class OwnTracksLink:
    def __init__(self, pipeline: Pipeline, host: str, port: int, username: str, password: str,
                 key: bytes | None = None, client_id: str = "siaga-owntracks"):
        self.pipeline = pipeline
        self.key = key
        self.host, self.port = host, port
        self.received = 0
        self._ready = threading.Event()
        self._sub_mid = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> "OwnTracksLink":
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._ready.wait(timeout):
            event(log, logging.WARNING, "OwnTracks link not subscribed yet; it keeps trying", host=self.host,
                  port=self.port)
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            event(log, logging.WARNING, "OwnTracks link refused by the broker", reason=str(reason_code))
            return
        self._sub_mid = client.subscribe([(t, 1) for t in SUBSCRIPTIONS])[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid == self._sub_mid:
            self._ready.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        self.received += 1
        now = time.time()
        dev = decoder.identity_from_topic(msg.topic)
        result = dev if isinstance(dev, Rejection) else decoder.decode(msg.payload, dev, msg.topic, self.key)
        if isinstance(result, Rejection):
            self.pipeline.note("owntracks", "message", result)
            return
        try:
            self.pipeline.deliver("owntracks", result, now)
        except Exception:  # one message's bug must not stop the link
            log.exception("OwnTracks message on %s failed", msg.topic[:80])
