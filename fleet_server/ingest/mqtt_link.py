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
has its own window, queue and socket; it also publishes the acks.

Several workers (settings.worker.id set): each worker's sessions speak MQTT v5 and subscribe
through shared subscriptions, `$share/<group>/siaga/v1/dev/+/up/<kind>`, so the broker hands each
message to one worker of the group (the alarm lane is its own shared subscription, on each
worker's alarm session). A worker's sessions end with its connection (session expiry 0 unless
set): a killed worker holds no alarm in a session nobody reads; the alarms it had not acked are
resent by the devices' outboxes and go to the living workers. Dedupe on (device, boot, seq) is the
database's unique key, so two workers handling the same alarm still make one.

Per-device order: a shared subscription gives no order across workers. What needs order holds
without it: alarms are keyed by (device, boot, seq) and idempotent; a device's status carries its
boot and the database keeps the newest; positions carry the device's fix time and a unit keeps the
newest (an older fix arriving late is kept in the history, not as the unit's position);
cmdres answers one order id. docs/deploy.md, "Several workers", writes this down."""
from __future__ import annotations

import itertools
import logging
import queue
import socket
import ssl
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker.mosquitto import session_user
from fleet_server.domain.repositories import StoreUnavailable
from fleet_server.domain.service import IncidentService, Refused
from fleet_server.logs import event
from fleet_server.metrics import ACK_BUCKETS, Metrics
from protocols import codec_json, downlink, topics
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


def use_tls(client: mqtt.Client, broker) -> None:
    """TLS on a paho client when the broker settings ask for it (tls, or a ca_file to pin): the
    broker's certificate must chain to ca_file (or the system's CAs) and name the host."""
    if not (broker.tls or broker.ca_file):
        return
    ctx = ssl.create_default_context(cafile=str(broker.ca_file) if broker.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    client.tls_set_context(ctx)


def session_login(client: mqtt.Client, broker, session: str) -> None:
    """The account of one of the server's sessions: the broker binds the client id to it."""
    if broker.username:
        client.username_pw_set(session_user(broker.username, session), broker.password)
    use_tls(client, broker)


class MqttIngest:
    def __init__(self, settings, service: IncidentService, metrics: Metrics):
        self.broker = settings.broker
        self.tuning = settings.ingest
        self.worker = settings.worker
        self.shared = settings.clustered
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
        self.fleet = None  # fleet_server.domain.fleet.Fleet, set in the app's lifespan when units run
        self.on_alarm = lambda: None   # an alarm arrived (network thread): the update link steps aside
        self._stopping = threading.Event()
        # One of several workers sets no will on the server status: one worker dying is not the
        # server going away. The worker holding the presence lease says "online" (announce()).
        self.client = self._make_client("main", kinds=[k for k in topics.UP_TYPES if k != "alarm"],
                                        will=not self.shared)
        self.alarm_client = self._make_client("alarms", kinds=["alarm"], will=False)
        self._up = {"main": False, "alarms": False}
        self._started: list[mqtt.Client] = []
        for name, help_, labels in (("siaga_ingest_messages_total", "device messages accepted, by type", ["type"]),
                                    ("siaga_ingest_rejected_total", "device messages rejected, by reason", ["reason"]),
                                    ("siaga_alarms_total", "alarms handled, by result (created, folded, duplicate)",
                                     ["result"]),
                                    ("siaga_acks_published_total", "application acks published after commit", []),
                                    ("siaga_feedback_published_total", "feedback commands published to buttons", []),
                                    ("siaga_broker_disconnects_total", "times the broker link went down", []),
                                    ("siaga_store_retries_total", "transactions retried while the database was "
                                     "unavailable", [])):
            metrics.counter(name, help_, labels)
        metrics.gauge("siaga_broker_link_up", "1 while the server's broker link is up", lambda: int(self.link_up))
        metrics.gauge("siaga_ingest_queue", "messages received and not yet handled", self._queue.qsize)
        metrics.gauge("siaga_ingest_lag_seconds", "age of the message being handled (0: idle)",
                      lambda: time.time() - self._handling_since if self._handling_since else 0.0)
        metrics.histogram("siaga_ingest_wait_seconds", "receipt to handling of device messages", ACK_BUCKETS)
        metrics.histogram("siaga_alarm_ack_seconds", "alarm receipt to its application ack published",
                          ACK_BUCKETS)
        self._handling_since = 0.0
        service.listeners.append(self._on_service_event)

    # ---- paho ---------------------------------------------------------------------------------
    def _make_client(self, lane: str, kinds: list[str], will: bool) -> mqtt.Client:
        b = self.broker
        if self.shared:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=session_user(b.client_id, lane),
                            protocol=mqtt.MQTTv5, userdata={"lane": lane, "kinds": kinds})
        else:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=session_user(b.client_id, lane),
                            clean_session=b.clean_session, userdata={"lane": lane, "kinds": kinds})
        session_login(c, b, lane)
        c.reconnect_delay_set(b.reconnect_min_s, b.reconnect_max_s)
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

    def subscription(self, kind: str) -> str:
        """The uplink filter of one message kind: shared among the workers when there are several."""
        plain = topics.subscription_up(kind)
        return f"$share/{self.worker.share_group}/{plain}" if self.shared else plain

    _announcing = False

    def announce(self) -> None:
        """This worker holds the presence lease: it tells the devices the server is online (its
        epoch; devices re-announce themselves on a new one)."""
        self._announcing = True
        if self._up.get("main"):
            self.client.publish(topics.SERVER_STATUS, self._status("online"), qos=1, retain=True)

    def devices_changed(self) -> None:
        """Another worker registered or changed a device: re-read who is active at the next message."""
        self._active_at = 0.0

    def _status(self, state: str) -> bytes:
        return downlink.server_status(state, self.epoch, int(time.time()))

    def start(self) -> None:
        """Both lanes (those not started yet by start_alarms)."""
        self._start_lanes(self.alarm_client, self.client)

    def start_alarms(self) -> None:
        """The alarm lane alone, its acks included: the server's start-up path, before the rest
        of the server (units, dispatch) exists. Positions, health and command results wait on the
        broker until start() connects the main lane."""
        self._start_lanes(self.alarm_client)

    def _start_lanes(self, *clients: mqtt.Client) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="siaga-ingest", daemon=True)
            self._worker.start()
        for c in clients:
            if c in self._started:
                continue
            self._started.append(c)
            if self.shared:
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.worker.session_expiry_s
                c.connect_async(self.broker.host, self.broker.port, self.broker.keepalive_s,
                                clean_start=self.worker.session_expiry_s == 0, properties=props)
            else:
                c.connect_async(self.broker.host, self.broker.port, self.broker.keepalive_s)
            c.loop_start()

    def stop(self) -> None:
        self._stopping.set()
        try:
            if self.link_up and not self.shared:
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
        client.subscribe([(self.subscription(k), 1) for k in mine])
        others = [topics.subscription_up(k) for k in topics.UP_TYPES if k not in mine]
        if others and not self.shared:
            # A persistent session keeps old subscriptions: make sure each lane gets only its kinds.
            client.unsubscribe(others)
        self._up[lane] = True
        if lane == "main" and (not self.shared or self._announcing):
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
        if kind == "alarm":
            self.on_alarm()
        self._queue.put((_PRIORITY.get(kind, 3), next(self._order),
                         (kind, msg.topic, msg.payload, msg.mid, msg.qos, time.time(), client)))

    # ---- worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item[2] is None:
                return
            batch = [item]
            self._handling_since = item[2][5]
            if item[2][0] == "alarm":
                # Under load, commit many alarms at once: one transaction, then every ack.
                while len(batch) < self.tuning.batch:
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
            now = time.time()
            for b in batch:
                self.metrics.observe("siaga_ingest_wait_seconds", now - b[2][5])
                self._puback(b[2])
            self._handling_since = 0.0

    def _guarded(self, fn, arg) -> None:
        try:
            self._retried(fn, arg)
        except Exception as e:  # never let one message stop the ingest
            self.metrics.inc("siaga_ingest_rejected_total", reason="server_error")
            log.exception("ingest failed on a message", extra={"fields": {"error": repr(e)}})

    def _retried(self, fn, arg) -> None:
        """fn(arg), again while the database is unavailable (a failover: libpq finds the new
        primary once it accepts writes), for at most store_retry_s. Nothing was acked for a
        failed try, and an alarm committed by a try whose COMMIT reply was lost comes back as
        a duplicate and is acked then. Meanwhile messages wait in the queue and the broker."""
        deadline = time.monotonic() + self.tuning.store_retry_s
        pause = 0.05
        while True:
            try:
                return fn(arg)
            except StoreUnavailable as e:
                if time.monotonic() + pause > deadline or self._stopping.is_set():
                    raise
                self.metrics.inc("siaga_store_retries_total")
                if pause == 0.05:
                    event(log, logging.WARNING, "database unavailable; retrying", error=str(e)[:200])
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

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
        for (msg, _via, at), topic, res in zip(batch, topics_, results):
            if isinstance(res, Refused):
                self._reject(topic, res)
                continue
            self.metrics.inc("siaga_ingest_messages_total", type="alarm")
            self.metrics.inc("siaga_alarms_total", result="duplicate" if res.duplicate_alarm
                             else "created" if res.created_incident else "folded")
            self.publish_ack(msg, res.incident_id, now)
            self.metrics.observe("siaga_alarm_ack_seconds", time.time() - at)

    def publish_ack(self, alarm: dict, incident_id: int, now: int | None = None) -> None:
        """The app-level ack the device's outbox waits for; only after the incident is committed."""
        payload = downlink.ack(alarm["dev"], alarm["boot"], alarm["seq"], incident_id, now or int(time.time()))
        self.alarm_client.publish(topics.down(alarm["dev"], "ack"), payload, qos=1)
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
            with self.service.store.read() as tx:
                self._active = tx.devices.active_ids()
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
            payload = downlink.feedback(dev, inc["id"], ev["feedback"], now, self.tuning.command_ttl_s)
            self.client.publish(topics.down(dev, "cmd"), payload, qos=1)
            self.metrics.inc("siaga_feedback_published_total")
