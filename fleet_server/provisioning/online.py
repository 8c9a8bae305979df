"""Watch the broker for a freshly provisioned device's retained birth (status "online") and its
first heartbeat (health), as the server's or an observer's account. Topics and payloads through
protocols/ only."""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.provisioning.errors import NeverOnline
from protocols import codec_json, topics
from protocols.rejection import Rejection


class OnlineWatch:
    """Subscribe before the reboot so nothing is missed; `wait()` returns (birth, health) messages
    published after the subscription."""

    def __init__(self, host: str, port: int, username: str, password: str, device_id: str):
        self.device_id = device_id
        self.status_topic = topics.up(device_id, "status")
        self.health_topic = topics.up(device_id, "health")
        self.birth: dict | None = None
        self.health: dict | None = None
        self.rejected: list[str] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"siaga-provision-{device_id}-{time.monotonic_ns() % 10**6}")
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.where = f"{host}:{port}"
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as e:
            raise NeverOnline(f"cannot reach the broker at {self.where} to watch the device: {e}",
                              "is the broker running, and --mqtt-host/--mqtt-port right?") from None
        self.client.loop_start()
        if not self._subscribed.wait(10) or self._refused:
            self.close()
            raise NeverOnline(f"could not watch the broker at {self.where}: {self._refused or 'no answer'}",
                              "the watcher account (--mqtt-user/--mqtt-password, the server's or an observer's)")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._refused = f"broker refused the watcher: {reason_code}"
            return
        client.subscribe([(self.status_topic, 1), (self.health_topic, 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            # A device account, say, on a broker that reports ACL refusals in SUBACK (Mosquitto
            # 2.0 under MQTT 3.1.1 grants and then delivers nothing: the hint below covers that).
            self._refused = f"the broker refused the subscription ({', '.join(str(rc) for rc in reason_codes)})"
        self._subscribed.set()

    def _on_message(self, client, userdata, msg):
        decoded = codec_json.decode(msg.payload, msg.topic)
        if isinstance(decoded, Rejection):
            self.rejected.append(str(decoded))
            return
        with self._cond:
            if msg.topic == self.status_topic:
                # The device publishes its birth retained; a copy flagged retain on delivery is what
                # the broker kept from an earlier life (before a --replace), not this boot's.
                if msg.retain:
                    return
                if decoded.get("state") == "online":
                    self.birth = decoded
            elif msg.topic == self.health_topic:
                # kept even before the birth: the clustered broker delivers each subscription on its
                # own (NATS: a JetStream consumer each), so a heartbeat may overtake its birth;
                # wait() pairs them by boot
                self.health = decoded
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget what arrived so far: wait() then needs a birth and heartbeat from after this call."""
        with self._cond:
            self.birth = self.health = None
            self.rejected.clear()

    def _paired(self) -> bool:
        """A birth and a heartbeat of the same boot of the device."""
        return self.birth is not None and self.health is not None and self.health.get("boot") == self.birth.get("boot")

    def wait(self, timeout_s: float) -> tuple[dict, dict]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._paired():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._paired():
                return self.birth, self.health
        seen = "neither its birth nor a heartbeat" if self.birth is None else "its birth but no heartbeat"
        raise NeverOnline(
            f"{self.device_id} did not come online within {timeout_s:g} s: the broker saw {seen}"
            + (f" (rejected payloads: {'; '.join(self.rejected[:3])})" if self.rejected else ""),
            "Wi-Fi name and password in the config, that the board reaches the broker host and port "
            "(firewall, APN for GSM), the board's console (mpremote connect <port>) for config_error, "
            "the broker log for 'not authorised', and that the watcher (--mqtt-user) is the server's or an "
            "observer's account, not a device's")

    def close(self) -> None:
        self.client.loop_stop()
        try:
            self.client.disconnect()
        except OSError:
            pass
