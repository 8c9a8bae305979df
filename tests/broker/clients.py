"""paho clients for the broker tests: connect with a given account, client id, protocol and
listener, and remember whether the broker ever dropped them. Every wait is bounded."""
from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PROTOCOLS = {"mqtt5": mqtt.MQTTv5, "mqtt311": mqtt.MQTTv311}


class Client:
    def __init__(self, broker, user: str, password: str, client_id: str, protocol: str = "mqtt311",
                 tls: bool = False, clean: bool = True, host: str | None = None, port: int | None = None):
        version = PROTOCOLS[protocol]
        kw = {} if version == mqtt.MQTTv5 else {"clean_session": clean}
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, **kw)
        self.c.username_pw_set(user, password)
        if tls:
            ctx = ssl.create_default_context(cafile=str(broker.tls.ca))
            self.c.tls_set_context(ctx)
        self.version = version
        self.connected = threading.Event()
        self.reason = None
        self.drops: list[str] = []
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda c, u, f, rc, p: self.drops.append(str(rc))
        self.host = host or broker.host
        self.port = port or (broker.tls.port if tls else broker.port)
        self.clean = clean

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.connected.set()

    def connect(self, timeout: float = 10.0) -> "Client":
        kw = {"clean_start": self.clean} if self.version == mqtt.MQTTv5 else {}
        self.c.connect(self.host, self.port, keepalive=30, **kw)
        self.c.loop_start()
        assert self.connected.wait(timeout), f"no CONNACK from {self.host}:{self.port}"
        assert not self.reason.is_failure, f"broker refused: {self.reason}"
        return self

    def publish(self, topic: str, payload: bytes, qos: int = 1):
        info = self.c.publish(topic, payload, qos=qos)
        info.wait_for_publish(5)
        return info

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
