"""A recording MQTT observer for tests: subscribes, keeps every message, and waits for them with
a deadline (every wait is bounded in time)."""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Recorder:
    def __init__(self, host: str, port: int, username: str, password: str, topics=("siaga/#",), client_id: str = ""):
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"rec-{time.monotonic_ns()}")
        self.client.username_pw_set(username, password)
        self._topics = topics
        self._connected = threading.Event()
        self.refused = None
        self._sub_mid = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise RuntimeError("recorder could not connect")
        if self.refused is not None:
            self.close()
            raise ConnectionRefusedError(f"broker refused {username}: {self.refused}")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.refused = reason_code   # e.g. "Not authorized": the caller learns it, not a silent timeout
            self._connected.set()
            return
        # Ready once the broker granted the subscriptions (SUBACK): a message published before
        # that is not delivered, and on a loaded machine the SUBACK can take longer than a guess.
        _rc, self._sub_mid = client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._sub_mid:
            return
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            self.refused = f"subscription refused: {', '.join(refused)}"
        self._connected.set()

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def matching(self, pred):
        with self._cond:
            return [m for m in self.messages if pred(m)]

    def wait_for(self, pred, count: int = 1, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if pred(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return found
                self._cond.wait(left)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
