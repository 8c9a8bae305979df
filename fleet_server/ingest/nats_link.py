"""The server's link to the clustered broker (fleet_server.broker.nats_cluster; `broker.transport =
"nats"`). The domain side is MqttIngest's, unchanged: the same priority queue, one worker thread,
alarms batched, committed and then acked. Only the wire differs:

- Alarms: a JetStream stream (ALARM_STREAM, replicated on 3 nodes) captures every device's
  siaga.v1.dev.*.up.alarm; all workers pull from one durable consumer (ALARM_CONSUMER), so each
  alarm goes to one worker, and it is acked to the stream only after its incident is committed: an
  alarm a worker took and never committed is redelivered to another after ack_wait.
- Other uplinks (positions, health, status, crew, command results): a NATS queue group
  (WORK_QUEUE), each message to one of the workers; they are replaced by the next report anyway.
- Acks: a plain NATS publish on the device's down subject; NATS hands it to the device's MQTT
  subscription at QoS 0. That is enough: the device resends the alarm until the ack arrives, and
  every resend is acked again. Publishing them at QoS 1 over MQTT instead costs each ack a
  replicated JetStream write; under a burst of resends that fell behind (measured: 400 alarms from
  40 buttons not all acked within 120 s, against 0.6 s on Mosquitto; docs/adr).
- Commands (feedback) and the server's retained birth and will go over the cluster's MQTT listener
  with paho at QoS 1, so a device that is away finds them in its session.

nats-py is asyncio: its loop runs in a thread of its own; paho keeps its network threads."""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker.mosquitto import session_user
from fleet_server.broker.nats_cluster import ALARM_CONSUMER, ALARM_STREAM, ALARM_SUBJECT, WORK_QUEUE, subject
from fleet_server.ingest.mqtt_link import _PRIORITY, MqttIngest, _no_nagle, use_tls
from fleet_server.logs import event
from protocols import downlink, topics

log = logging.getLogger("siaga.ingest")

ACK_WAIT_S = 5      # an alarm a worker took and did not ack goes to another worker after this
FETCH_WAIT_S = 1.0


def servers_of(broker) -> list[str]:
    urls = [u.strip() for u in broker.nats_servers.split(",") if u.strip()]
    if not urls:
        raise ValueError("broker.transport is nats but broker.nats_servers is empty")
    return urls


class _StreamAcks:
    """What the worker thread calls `client.ack(mid, qos)` on for alarms: the JetStream ack, sent on
    the asyncio loop after the commit."""

    def __init__(self, link: "NatsIngest"):
        self.link = link
        self.pending: dict[int, object] = {}
        self.ids = itertools.count(1)

    def hold(self, msg) -> int:
        mid = next(self.ids)
        self.pending[mid] = msg
        return mid

    def ack(self, mid: int, qos: int) -> None:
        msg = self.pending.pop(mid, None)
        loop = self.link._loop
        if msg is not None and loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(msg.ack(), loop)


class NatsIngest(MqttIngest):
    def __init__(self, settings, service, metrics):
        self.nats_servers = servers_of(settings.broker)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._nc = None
        self._nats_up = False
        self._acks = _StreamAcks(self)
        super().__init__(settings, service, metrics)
        self._up["nats"] = False
        metrics.counter("siaga_stream_redeliveries_total", "alarms the stream delivered again (a worker died "
                        "or did not ack in time)", [])

    # ---- paho: downlinks, birth and will --------------------------------------------------------
    def _make_client(self, lane: str, kinds: list[str], will: bool) -> mqtt.Client:
        b = self.broker
        # NATS does not bind client ids to accounts: each worker's id must be unique of its own.
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{session_user(b.client_id, lane)}-{self.epoch}",
                        clean_session=True, userdata={"lane": lane, "kinds": []})
        if b.username:
            c.username_pw_set(session_user(b.username, lane), b.password)
        use_tls(c, b)
        c.reconnect_delay_set(b.reconnect_min_s, b.reconnect_max_s)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        if will:
            c.will_set(topics.SERVER_STATUS, self._status("offline"), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_socket_open = _no_nagle
        return c

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        lane = userdata["lane"]
        if reason_code.is_failure:
            event(log, logging.ERROR, "broker refused the connection", reason=str(reason_code), lane=lane)
            return
        self._up[lane] = True
        if lane == "main" and (not self.shared or self._announcing):   # several workers: the lease holder's
            client.publish(topics.SERVER_STATUS, self._status("online"), qos=1, retain=True)
        self.link_up = all(self._up.values())
        event(log, logging.INFO, "broker link up", epoch=self.epoch, lane=lane, transport="nats-mqtt")

    def publish_ack(self, alarm: dict, incident_id: int, now: int | None = None) -> None:
        payload = downlink.ack(alarm["dev"], alarm["boot"], alarm["seq"], incident_id, now or int(time.time()))
        nc, loop = self._nc, self._loop
        if nc is None or loop is None or loop.is_closed():
            return   # not connected: the device resends, and the next delivery is acked
        asyncio.run_coroutine_threadsafe(nc.publish(subject(topics.down(alarm["dev"], "ack")), payload), loop)
        self.metrics.inc("siaga_acks_published_total")

    # ---- NATS: uplinks ----------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._loop_thread = threading.Thread(target=self._run_loop, args=(ready,), name="siaga-nats", daemon=True)
        self._loop_thread.start()
        ready.wait(5)
        super().start()

    def _run_loop(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._main_task = self._loop.create_task(self._consume())
        ready.set()
        try:
            self._loop.run_until_complete(self._main_task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    async def _connect(self):
        import nats
        b = self.broker

        async def disconnected():
            self._nats_down("disconnected")

        async def reconnected():
            self._up["nats"] = True
            self.link_up = all(self._up.values())
            event(log, logging.INFO, "broker link up", lane="nats", url=str(nc.connected_url.netloc if nc.connected_url else ""))

        async def error(e):
            event(log, logging.WARNING, "nats link error", error=repr(e)[:200])

        nc = await nats.connect(servers=self.nats_servers, user=session_user(b.username, "main") if b.username else None,
                                password=b.password or None, name=f"siaga-worker-{self.epoch}",
                                max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2,
                                allow_reconnect=True, disconnected_cb=disconnected, reconnected_cb=reconnected,
                                error_cb=error, ping_interval=2, max_outstanding_pings=2)
        return nc

    def _nats_down(self, why: str) -> None:
        if self.link_up:
            self.metrics.inc("siaga_broker_disconnects_total")
        self._up["nats"] = False
        self.link_up = False
        if not self._stopping.is_set():
            event(log, logging.WARNING, "broker link down; nats reconnects", lane="nats", reason=why)

    async def _consume(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
        from nats.errors import TimeoutError as NatsTimeout
        while not self._stopping.is_set():
            try:
                nc = self._nc = await self._connect()
                break
            except Exception as e:  # no node reachable yet: try again, bounded by stop()
                event(log, logging.WARNING, "nats connect failed; retrying", error=repr(e)[:200])
                await asyncio.sleep(1)
        else:
            return
        js = nc.jetstream(timeout=5)
        kinds = [k for k in topics.UP_TYPES if k != "alarm"]
        for kind in kinds:
            await nc.subscribe(f"siaga.v1.dev.*.up.{kind}", queue=WORK_QUEUE, cb=self._on_nats_message,
                               pending_msgs_limit=1_000_000, pending_bytes_limit=512 * 1024 * 1024)
        sub = None
        while sub is None and not self._stopping.is_set():
            try:
                await js.add_stream(StreamConfig(name=ALARM_STREAM, subjects=[ALARM_SUBJECT], num_replicas=3,
                                                 storage=StorageType.FILE, retention=RetentionPolicy.WORK_QUEUE,
                                                 max_age=7 * 86400))
                sub = await js.pull_subscribe(ALARM_SUBJECT, durable=ALARM_CONSUMER, stream=ALARM_STREAM,
                                              config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
                                                                    max_ack_pending=20000, num_replicas=3,
                                                                    max_deliver=-1))
            except Exception as e:  # the cluster has no JetStream leader yet (a node just died)
                event(log, logging.WARNING, "alarm stream not ready; retrying", error=repr(e)[:200])
                await asyncio.sleep(0.5)
        self._up["nats"] = True
        self.link_up = all(self._up.values())
        event(log, logging.INFO, "broker link up", lane="nats", stream=ALARM_STREAM, consumer=ALARM_CONSUMER)
        batch = max(1, self.tuning.batch)
        while not self._stopping.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=FETCH_WAIT_S)
            except NatsTimeout:
                continue
            except Exception as e:  # a node died under us: the client reconnects, the consumer stays
                event(log, logging.DEBUG, "alarm fetch failed", error=repr(e)[:200])
                await asyncio.sleep(0.2)
                continue
            now = time.time()
            for m in msgs:
                if m.metadata.num_delivered > 1:
                    self.metrics.inc("siaga_stream_redeliveries_total")
                self._enqueue("alarm", m.subject, m.data, self._acks.hold(m), 1, now)
        await nc.drain()

    async def _on_nats_message(self, m) -> None:
        self._enqueue(m.subject.rsplit(".", 1)[-1], m.subject, m.data, 0, 0, time.time())

    def _enqueue(self, kind: str, subj: str, payload: bytes, mid: int, qos: int, at: float) -> None:
        topic = subj.replace(".", "/")   # device ids hold no '.', so this is the device's topic
        self._queue.put((_PRIORITY.get(kind, 3), next(self._order), (kind, topic, payload, mid, qos, at, self._acks)))

    def stop(self) -> None:
        super().stop()   # sets _stopping, drains the worker, closes paho
        if self._loop_thread is not None:
            self._loop_thread.join(FETCH_WAIT_S + 6)
            if self._loop_thread.is_alive() and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._main_task.cancel)
                self._loop_thread.join(3)
