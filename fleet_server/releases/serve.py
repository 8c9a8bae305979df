"""The server's side of an over-the-air update (protocols/ota.py): offers releases to devices,
answers each device's requests for parts of a release's files from the release store, and confirms
a trial boot once a heartbeat from the new release has arrived. It runs its own MQTT session (a
download never shares a socket or an in-flight window with the alarm lane) as the server account.

Every report a device sends goes to on_report(dev, message) (the campaign engine's progress);
nothing here decides who gets which release."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker.mosquitto import session_user
from fleet_server.ingest.mqtt_link import session_login
from fleet_server.logs import event
from fleet_server.releases.store import FILES, MANIFEST, SIGNATURE, WITHDRAWN
from protocols import codec_json, downlink, ota, release, topics
from protocols.rejection import Rejection

log = logging.getLogger("siaga.releases.serve")
CACHE_FILES = 64


class ReleaseFiles:
    """Bytes of the stored bundles, read once each (a release's files are small and many devices ask
    for the same ones)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def withdrawn(self, ver: str) -> bool:
        return (self.root / ver / WITHDRAWN).exists()

    def read(self, ver: str, path: str) -> bytes | None:
        if release.parse_version(ver) is None or not ota.path_ok(path):
            return None
        key = (ver, path)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        d = self.root / ver
        f = d / path if path in (MANIFEST, SIGNATURE) else d / FILES / path
        data = f.read_bytes() if f.is_file() and d in f.parents else None
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > CACHE_FILES:
                self._cache.popitem(last=False)
        return data


class OtaServer:
    def __init__(self, broker, files: ReleaseFiles, on_report: Callable[[str, dict], None] | None = None,
                 client_id: str | None = None, parts_per_s: float | None = None, alarm_quiet_s: float = 0.0):
        """parts_per_s caps what the whole fleet downloads (parts of at most 768 bytes): the broker keeps its
        headroom for alarms however many devices update at once. None: as fast as devices ask.
        alarm_quiet_s: after alarm_seen(), no part is sent for this long (alarms go first)."""
        self.broker = broker
        self.parts_per_s = parts_per_s
        self.alarm_quiet_s = alarm_quiet_s
        self._next_part = 0.0
        self._quiet_until = 0.0
        self.files = files
        self.on_report = on_report or (lambda dev, msg: None)
        self.stats = {"parts": 0, "part_bytes": 0, "refused": 0, "rejected": 0, "confirms": 0}
        self.served: Counter[tuple[str, str]] = Counter()     # (version, path) -> bytes sent
        self._fw: dict[str, str] = {}              # dev -> fw of its last heartbeat
        self._trial: dict[str, str] = {}           # dev -> version whose trial waits for a heartbeat
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=True,
                                  client_id=client_id or session_user(broker.client_id, "ota"))
        session_login(self.client, broker, "ota")   # its own account: the broker binds the client id to it
        self.client.reconnect_delay_set(0.1, 5)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def start(self) -> "OtaServer":
        self.client.connect_async(self.broker.host, self.broker.port, 30)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            event(log, logging.ERROR, "broker refused the update link", reason=str(reason_code))
            return
        client.subscribe([(topics.subscription_up(topics.OTA), 1), (topics.subscription_up("health"), 1)])
        self.connected.set()

    # ---- what the server says ---------------------------------------------------------------
    def alarm_seen(self) -> None:
        """An alarm reached this process (the ingest's alarm lane calls this from its network
        thread): parts wait alarm_quiet_s. Measured: with the update link serving parts flat out
        beside the acker in one process, alarm -> ack p50 rose 6x (docs/ota.md, Rollout at scale)."""
        if self.alarm_quiet_s:
            self._quiet_until = time.monotonic() + self.alarm_quiet_s

    def offer(self, dev: str, ver: str, trial_s: int) -> None:
        self.client.publish(topics.ota_down(dev), downlink.ota_offer(dev, ver, int(time.time()), trial_s), qos=1)

    def _confirm(self, dev: str, ver: str) -> None:
        self.stats["confirms"] += 1
        self.client.publish(topics.ota_down(dev), downlink.ota_confirm(dev, ver), qos=1)
        event(log, logging.INFO, "trial boot confirmed", device=dev, version=ver)

    # ---- what devices say -------------------------------------------------------------------
    def _on_message(self, client, userdata, msg) -> None:
        try:
            parsed = topics.parse(msg.topic)
            if isinstance(parsed, Rejection):
                return
            _, dev, kind = parsed
            if kind == "health":
                return self._on_health(dev, msg.payload)
            m = ota.parse_up(msg.payload)
            if isinstance(m, Rejection) or m["dev"] != dev:
                self.stats["rejected"] += 1
                why = m.reason if isinstance(m, Rejection) else f"names {m['dev']}"
                event(log, logging.WARNING, "update message refused", device=dev, reason=why)
                return
            if m["t"] == "get":
                self._serve(dev, m)
            else:
                self._on_device_report(dev, m)
        except Exception as e:   # one bad message never stops the update link
            event(log, logging.ERROR, "update message failed", error=repr(e)[:200])

    def _serve(self, dev: str, m: dict) -> None:
        ver, path = m["ver"], m["path"]
        data = None if self.files.withdrawn(ver) else self.files.read(ver, path)
        if data is None:
            self.stats["refused"] += 1
            why = f"release {ver} is withdrawn" if self.files.withdrawn(ver) else f"no {path} in release {ver}"
            self.client.publish(topics.ota_down(dev), downlink.ota_refuse(dev, ver, path, why), qos=1)
            return
        quiet = self._quiet_until - time.monotonic()
        if quiet > 0:
            # An alarm is being handled in this process: step aside (and off the interpreter,
            # whose lock the alarm's decode, commit and ack need) until it is through.
            time.sleep(min(quiet, self.alarm_quiet_s))
        if self.parts_per_s:
            # Paced here, on the update link's own thread: the requests wait in its socket, the
            # alarm lane (another session) does not.
            now = time.monotonic()
            self._next_part = max(self._next_part + 1 / self.parts_per_s, now)
            if self._next_part > now:
                time.sleep(self._next_part - now)
        piece = data[m["off"]:m["off"] + m["n"]]
        self.stats["parts"] += 1
        self.stats["part_bytes"] += len(piece)
        self.served[(ver, path)] += len(piece)
        # QoS 0: the device asks again when a part does not come; a broker queue of stale parts
        # for a device that went away would only cost memory.
        self.client.publish(topics.ota_down(dev), downlink.ota_part(dev, ver, path, m["off"], len(data), piece), qos=0)

    def _on_health(self, dev: str, payload: bytes) -> None:
        h = codec_json.decode(payload)
        if isinstance(h, Rejection) or h.get("t") != "health":
            return
        with self._lock:
            self._fw[dev] = h["fw"]
            ver = self._trial.get(dev)
            ready = ver is not None and h["fw"].endswith("-" + ver)
            if ready:
                del self._trial[dev]
        if ready:
            self._confirm(dev, ver)

    def _on_device_report(self, dev: str, m: dict) -> None:
        if m["state"] == "trial":
            if m.get("self") is not True:
                event(log, logging.WARNING, "trial boot failed its self-test", device=dev, version=m["ver"],
                      why=m.get("why", ""))
            else:
                with self._lock:
                    seen = self._fw.get(dev, "").endswith("-" + m["ver"])
                    if not seen:
                        self._trial[dev] = m["ver"]    # confirmed when its heartbeat comes
                if seen:
                    self._confirm(dev, m["ver"])
        self.on_report(dev, m)
