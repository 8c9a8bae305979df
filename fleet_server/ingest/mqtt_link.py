"""The server's MQTT link. paho's network thread only timestamps and queues each message; one
worker thread decodes, commits through the IncidentService and then acknowledges, so the
database never stalls the socket. Alarms jump the queue ahead of positions and health.

Delivery: the session is persistent (clean_session false) and PUBACKs are sent manually after
the message is handled, so an alarm the server received but never committed is redelivered by the
broker after a crash; the device's outbox resends until the app-level ack anyway.

Alarm lane: alarms arrive on a connection of their own. With PUBACK-after-handling, the broker's
in-flight window of one connection fills with positions still waiting to be handled, and an SOS
then waits in the broker behind them, where no in-process priority can reach it (measured: alarm
to ack p99 1.7 s at half the position-ingest ceiling). A second session, subscribed to alarms only,
has its own window, queue and socket; it also publishes the acks."""
from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.domain.service import IncidentService, Refused
from fleet_server.logs import event
from fleet_server.metrics import Metrics
from protocols import MAJOR, codec_json, topics
from protocols.rejection import Rejection, UNKNOWN_DEVICE

log = logging.getLogger("siaga.ingest")

_PRIORITY = {"alarm": 0, "status": 1, "cmdres": 1, "health": 2, "crew": 2, "pos": 3}
_STOP = (99, -1, None)
LOG_PER_REASON = 20


def _no_nagle(client, userdata, sock) -> None:
    # paho leaves Nagle on: a PUBACK followed by a small ack publish then waits for the broker's
    # delayed TCP ACK, about 40 ms per alarm. Acks are latency-critical; turn it off.
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (e.g. a unix socket): nothing to tune


class MqttIngest:
    def __init__(self, settings, server_settings, service: IncidentService, metrics: Metrics):
        self.settings = settings
        self.tuning = server_settings
        self.service = service
        self.metrics = metrics
        self.epoch = uuid.uuid4().hex[:16]          # new per start: devices re-announce on a new epoch
        self.link_up = False
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self._active: set[str] = set()
        self._active_at = 0.0
        self._worker: threading.Thread | None = None
        self._log_budget: dict[str, tuple[float, int]] = {}
        self.fleet = None  # fleet_server.units.fleet.Fleet, set in the app's lifespan when units run
        self._stopping = threading.Event()
        self.client = self._make_client(s_id=settings.mqtt_client_id, kinds=[k for k in topics.UP_TYPES if k != "alarm"],
                                        will=True)
        self.alarm_client = self._make_client(s_id=settings.mqtt_client_id + "-alarms", kinds=["alarm"], will=False)
        self._up = {"main": False, "alarms": False}
        for name, help_ in (("siaga_ingest_messages_total", "device messages accepted, by type"),
                            ("siaga_ingest_rejected_total", "device messages rejected, by reason"),
                            ("siaga_alarms_total", "alarms handled, by result (created, folded, duplicate)"),
                            ("siaga_acks_published_total", "application acks published after commit"),
                            ("siaga_feedback_published_total", "feedback commands published to buttons"),
                            ("siaga_broker_disconnects_total", "times the broker link went down")):
            metrics.counter(name, help_)
        metrics.gauge("siaga_broker_link_up", "1 while the server's broker link is up", lambda: int(self.link_up))
        metrics.gauge("siaga_ingest_queue", "messages received and not yet handled", self._queue.qsize)
        service.listeners.append(self._on_service_event)

    # ---- paho ---------------------------------------------------------------------------------
    def _make_client(self, s_id: str, kinds: list[str], will: bool) -> mqtt.Client:
        s, t = self.settings, self.tuning
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s_id, clean_session=t.mqtt_clean_session,
                        userdata={"lane": "main" if will else "alarms", "kinds": kinds})
        if s.mqtt_username:
            c.username_pw_set(s.mqtt_username, s.mqtt_password)
        c.reconnect_delay_set(t.reconnect_min_s, t.reconnect_max_s)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.manual_ack_set(True)
        if will:
            c.will_set(topics.SERVER_STATUS, self._status("offline"), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_socket_open = _no_nagle
        for kind in kinds:
            c.message_callback_add(topics.subscription_up(kind), self._on_message)
        c.on_message = self._on_message
        return c

    def _status(self, state: str) -> bytes:
        return codec_json.server_status(state, self.epoch, int(time.time()))

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="siaga-ingest", daemon=True)
        self._worker.start()
        for c in (self.alarm_client, self.client):
            c.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, self.settings.mqtt_keepalive_s)
            c.loop_start()

    def stop(self) -> None:
        self._stopping.set()
        try:
            if self.link_up:
                self.client.publish(topics.SERVER_STATUS, self._status("offline"), qos=1, retain=True).wait_for_publish(2)
        except (RuntimeError, ValueError) as e:
            event(log, logging.WARNING, "could not publish offline status", error=repr(e))
        self._queue.put(_STOP)
        if self._worker:
            self._worker.join(10)
        for c in (self.client, self.alarm_client):
            c.disconnect()
            c.loop_stop()
        self.link_up = False

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        lane = userdata["lane"]
        if reason_code.is_failure:
            event(log, logging.ERROR, "broker refused the connection", reason=str(reason_code), lane=lane)
            return
        mine = userdata["kinds"]
        client.subscribe([(topics.subscription_up(k), 1) for k in mine])
        others = [topics.subscription_up(k) for k in topics.UP_TYPES if k not in mine]
        if others:
            # A persistent session keeps old subscriptions: make sure each lane gets only its kinds.
            client.unsubscribe(others)
        self._up[lane] = True
        if lane == "main":
            client.publish(topics.SERVER_STATUS, self._status("online"), qos=1, retain=True)
        self.link_up = all(self._up.values())
        event(log, logging.INFO, "broker link up", epoch=self.epoch, lane=lane, session_present=flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self.link_up:
            self.metrics.inc("siaga_broker_disconnects_total")
        self._up[userdata["lane"]] = False
        self.link_up = False
        if not self._stopping.is_set():
            event(log, logging.WARNING, "broker link down; paho reconnects with backoff", reason=str(reason_code))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        # paho's network thread: stamp and queue, nothing else.
        kind = msg.topic.rsplit("/", 1)[-1]
        self._queue.put((_PRIORITY.get(kind, 3), next(self._order),
                         (kind, msg.topic, msg.payload, msg.mid, msg.qos, time.time(), client)))

    # ---- worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item[2] is None:
                return
            batch = [item]
            if item[2][0] == "alarm":
                # Under load, commit many alarms at once: one transaction, then every ack.
                while len(batch) < self.tuning.ingest_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt[2] is None or nxt[2][0] != "alarm":
                        self._queue.put(nxt)
                        break
                    batch.append(nxt)
                self._guarded(self._handle_alarms, [b[2] for b in batch])
            else:
                self._guarded(self._handle_other, item[2])
            for b in batch:
                self._puback(b[2])

    def _guarded(self, fn, arg) -> None:
        try:
            fn(arg)
        except Exception as e:  # never let one message stop the ingest
            self.metrics.inc("siaga_ingest_rejected_total", reason="server_error")
            log.exception("ingest failed on a message", extra={"fields": {"error": repr(e)}})

    def _puback(self, entry) -> None:
        _kind, _topic, _payload, mid, qos, _at, client = entry
        if qos > 0:
            try:
                client.ack(mid, qos)   # on the connection that delivered it: mids are per session
            except Exception as e:  # the link dropped: the broker will redeliver
                event(log, logging.DEBUG, "puback not sent", error=repr(e))

    def _reject(self, topic: str, r: Rejection | Refused) -> None:
        code = r.code
        self.metrics.inc("siaga_ingest_rejected_total", reason=code)
        # Every rejection is counted; the log gets at most LOG_PER_REASON a minute per reason, so a
        # flood of garbage cannot drown the log (or the disk) while the count keeps the truth.
        now = time.monotonic()
        window, n = self._log_budget.get(code, (now, 0))
        if now - window > 60:
            window, n = now, 0
        if n < LOG_PER_REASON:
            event(log, logging.WARNING, "message rejected", reason=code, detail=r.reason, topic=topic[:120])
        elif n == LOG_PER_REASON:
            event(log, logging.WARNING, "more rejections this minute are counted, not logged", reason=code)
        self._log_budget[code] = (window, n + 1)

    def _decode(self, topic, payload):
        msg = codec_json.decode(payload, topic)
        if isinstance(msg, Rejection):
            self._reject(topic, msg)
            return None
        return msg

    def _handle_alarms(self, entries) -> None:
        batch, topics_ = [], []
        for kind, topic, payload, _mid, _qos, at, _client in entries:
            msg = self._decode(topic, payload)
            if msg is not None:
                batch.append((msg, "mqtt", at))
                topics_.append(topic)
        if not batch:
            return
        results = self.service.ingest_alarms(batch)
        if self.tuning.fault_delay_ack_s:
            time.sleep(self.tuning.fault_delay_ack_s)
        now = int(time.time())
        for (msg, _via, _at), topic, res in zip(batch, topics_, results):
            if isinstance(res, Refused):
                self._reject(topic, res)
                continue
            self.metrics.inc("siaga_ingest_messages_total", type="alarm")
            self.metrics.inc("siaga_alarms_total", result="duplicate" if res.duplicate_alarm
                             else "created" if res.created_incident else "folded")
            self.publish_ack(msg, res.incident_id, now)

    def publish_ack(self, alarm: dict, incident_id: int, now: int | None = None) -> None:
        """The app-level ack the device's outbox waits for; only after the incident is committed."""
        ack = {"v": MAJOR, "t": "ack", "dev": alarm["dev"], "boot": alarm["boot"], "seq": alarm["seq"],
               "inc": incident_id, "ts": now or int(time.time())}
        self.alarm_client.publish(topics.down(alarm["dev"], "ack"), codec_json.encode(ack), qos=1)
        self.metrics.inc("siaga_acks_published_total")

    def _handle_other(self, entry) -> None:
        kind, topic, payload, _mid, _qos, at, _client = entry
        msg = self._decode(topic, payload)
        if msg is None:
            return
        dev = msg["dev"]
        try:
            if kind == "status":
                self.service.device_status(dev, msg["state"], at, fw=msg.get("fw"), boot=msg["boot"])
            elif kind == "health":
                self.service.device_health(msg, at)
            else:
                # pos, crew, cmdres: units and dispatch own their meaning (fleet.handle); here they
                # also prove the device alive (batched into last_seen by the supervisor).
                if not self._is_active(dev):
                    raise Refused(UNKNOWN_DEVICE, f"device {dev} is not registered and active")
                with self._seen_lock:
                    self._seen[dev] = at
                if self.fleet is not None:
                    out = self.fleet.handle(kind, msg, at)
                    if isinstance(out, Rejection):
                        self._reject(topic, out)
                        return
        except Refused as e:
            self._reject(topic, e)
            return
        self.metrics.inc("siaga_ingest_messages_total", type=kind)

    def _is_active(self, dev: str) -> bool:
        # A miss refreshes at most every 2 s (an unknown device cannot make us hammer the database);
        # a hit is trusted for 30 s. Registrations and deactivations in this process invalidate at
        # once (_on_service_event); the 30 s bound covers those made by another server process.
        now = time.monotonic()
        age = now - self._active_at
        if (dev not in self._active and age > 2.0) or age > 30.0:
            from fleet_server.storage import devices as device_repo  # noqa: PLC0415 (read-only lookup)
            with self.service.db.read() as s:
                self._active = device_repo.active_ids(s)
            self._active_at = now
        return dev in self._active

    def take_seen(self) -> dict[str, float]:
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        return seen

    # ---- feedback ------------------------------------------------------------------------------
    def _on_service_event(self, ev: dict) -> None:
        if ev.get("type") == "device" and ev.get("event") in ("registered", "updated"):
            self._active_at = 0.0  # the registry changed: the next message re-reads who is active
            return
        if ev.get("event") != "transition" or not ev.get("feedback"):
            return
        inc = ev["incident"]
        now = int(time.time())
        for dev in ev.get("devices", []):
            cmd = {"v": MAJOR, "t": "cmd", "dev": dev, "id": f"fb{inc['id']}-{inc['state']}"[:32], "ts": now,
                   "exp": now + self.tuning.command_ttl_s, "op": "feedback", "state": ev["feedback"],
                   "inc": inc["id"]}
            self.client.publish(topics.down(dev, "cmd"), codec_json.encode(cmd), qos=1)
            self.metrics.inc("siaga_feedback_published_total")
