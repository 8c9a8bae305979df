# MQTT link layer: one non-blocking socket, driven by step() from the button loop. It connects,
# keeps alive, notices a dead link and reconnects with capped exponential backoff and jitter. It
# never blocks: a socket that is not ready is tried again on the next step (mqtt_as's split of
# link and protocol, without its asyncio). Delivery guarantees are the application's: the link
# only reports PUBACKs; the outbox resends until the fleet server's own ack.
# Up (publishing) from the CONNACK, so an SOS leaves at once; the SUBACK must then grant every
# subscription within the connect timeout, or the link drops and reconnects: a device the broker
# did not subscribe (a cluster refuses while it re-elects, 0x80) would never hear its ack. The
# backoff restarts from its minimum only once subscribed, so a broker that keeps refusing is not
# hammered; an unacked SOS stays in the outbox and goes again after the reconnect.
import time
from firmware.app import mqtt_wire as wire

DOWN = "down"          # waiting for the backoff to expire
TCP = "tcp"            # TCP (and TLS) connect in progress
MQTT = "mqtt"          # CONNECT sent, waiting for CONNACK
UP = "up"

OUT_MAX = 8192         # bytes queued for the socket; beyond that publish() says "not now"
READS_PER_STEP = 8     # bounded work per step keeps the button loop responsive
EAGAIN = (11, 115, 119)  # EAGAIN, EINPROGRESS, EALREADY (unix numbers; lwIP uses the same)
CONNACK_REASONS = {1: "protocol version refused", 2: "client id refused", 3: "broker unavailable",
                   4: "bad username or password", 5: "not authorised"}


class MqttLink:
    def __init__(self, net, opts, log, rand, on_message=None, on_up=None, on_puback=None):
        # opts: client_id, user, password, host, port, tls, keepalive_s, will_topic, will_payload,
        # subscriptions [(filter, qos)], backoff_min_ms, backoff_max_ms, connect_timeout_ms
        self.net = net
        self.o = opts
        self.log = log
        self.rand = rand
        self.on_message = on_message
        self.on_up = on_up
        self.on_puback = on_puback
        self.state = DOWN
        self.sock = None
        self.parser = None
        self.out = bytearray()
        self.inflight = {}
        self.pid = 0
        self.sub_pid = 0       # the SUBSCRIBE whose SUBACK is awaited (0: none)
        self.attempt = 0
        self.next_try = time.ticks_ms()
        self.since = self.next_try
        self.last_rx = self.last_tx = self.next_try
        self.ping_sent = None
        self.connects = 0

    # ---- public -------------------------------------------------------------------------------
    def is_up(self):
        return self.state == UP

    def security(self):
        # What every heartbeat says of this link (protocols.messages.LINK_SECURITY): the center sees a
        # device on plain MQTT (a SIM800 has no TLS) or on TLS that does not check the broker.
        if not self.o["tls"]:
            return "plain"
        return "tls" if getattr(self.net, "ca", None) else "tls_unverified"

    def publish(self, topic, payload, qos=1, retain=False):
        """Queue a PUBLISH. Returns its packet id (1..65535; 0 for QoS 0), or None when the link is
        not up or the socket queue is full: the caller keeps the message and tries later."""
        if self.state != UP:
            return None
        pid = 0
        if qos:
            pid = self._next_pid()
        pkt = wire.publish(topic, payload, qos, retain, pid)
        if len(self.out) + len(pkt) > OUT_MAX:
            return None
        self.out.extend(pkt)
        if qos:
            self.inflight[pid] = time.ticks_ms()
        return pid

    def step(self):
        now = time.ticks_ms()
        try:
            if self.state == DOWN:
                if time.ticks_diff(now, self.next_try) >= 0 and self.net.up():
                    self._open(now)
            elif self.state == TCP:
                self._check_tcp(now)
            if self.state in (MQTT, UP):
                self._read(now)
            if self.state in (MQTT, UP):
                self._keepalive(now)
            if self.sock is not None and self.out:
                self._flush(now)
        except wire.ProtocolError as e:
            self._drop("protocol error: %s" % e)
        except OSError as e:
            self._drop("socket error %s" % (e.args[0] if e.args else e))
        except Exception as e:
            # e.g. TLS setup refusing a certificate: a link problem, retried with backoff, never a
            # reason to stop the button loop.
            self._drop("link error %s" % repr(e)[:60])

    def close(self):
        if self.state == UP:
            try:
                self.sock.send(wire.disconnect())
            except Exception:
                pass
        self._drop("closed by the device", quiet=True)

    # ---- connection ---------------------------------------------------------------------------
    def _open(self, now):
        o = self.o
        self.since = now
        self.sock = self.net.open(o["host"], o["port"])
        self.state = TCP

    def _check_tcp(self, now):
        if time.ticks_diff(now, self.since) > self.o["connect_timeout_ms"]:
            self._drop("connect timed out")
            return
        ready = self.net.writable(self.sock)
        if ready is None:
            self._drop("connection refused")
            return
        if not ready:
            return
        o = self.o
        if o.get("tls"):
            self.sock = self.net.secure(self.sock, o["host"])
        self.parser = wire.Parser()
        self.out = bytearray(wire.connect(o["client_id"], o["keepalive_s"], o.get("user"), o.get("password"),
                                          o.get("will_topic"), o.get("will_payload", b""), 1, True, False))
        self.state = MQTT
        self.last_rx = self.last_tx = now

    def _drop(self, why, quiet=False):
        if self.sock is not None:
            try:
                self.sock.close()
            except Exception:
                pass
        was = self.state
        self.sock = None
        self.parser = None
        self.out = bytearray()
        self.inflight = {}
        self.ping_sent = None
        self.sub_pid = 0
        self.state = DOWN
        cap = min(self.o["backoff_max_ms"], self.o["backoff_min_ms"] << min(self.attempt, 16))
        # "Equal jitter": at least half the cap, so a fleet that lost the same broker does not
        # come back in one synchronized wave, yet no device retries immediately in a loop.
        delay = cap // 2 + self.rand(cap // 2 + 1)
        self.attempt += 1
        self.next_try = time.ticks_add(time.ticks_ms(), delay)
        if not quiet:
            self.log("warn", "mqtt_down", why=why, was=was, retry_ms=delay)

    # ---- traffic ------------------------------------------------------------------------------
    def _read(self, now):
        for _ in range(READS_PER_STEP):
            try:
                data = self.sock.recv(512)
            except OSError as e:
                if e.args and e.args[0] in EAGAIN:
                    return
                raise
            if data is None:
                return
            if not data:
                self._drop("broker closed the connection")
                return
            self.last_rx = now
            self.parser.feed(data)
            for kind, flags, body in self.parser.packets():
                self._packet(kind, flags, body, now)
                if self.state == DOWN:
                    return

    def _packet(self, kind, flags, body, now):
        if kind == wire.CONNACK:
            rc = body[1] if len(body) > 1 else 255
            if rc != 0:
                self._drop("broker refused: %s" % CONNACK_REASONS.get(rc, "code %d" % rc))
                return
            self.state = UP
            self.connects += 1
            self.since = now
            self.sub_pid = self._next_pid()
            self.out.extend(wire.subscribe(self.sub_pid, self.o["subscriptions"]))
            self.log("info", "mqtt_up", host=self.o["host"], port=self.o["port"], connects=self.connects)
            if self.on_up:
                self.on_up()
        elif kind == wire.PUBLISH:
            topic, payload, qos, pid, _retain = wire.parse_publish(flags, body)
            if qos:
                self.out.extend(wire.puback(pid))
            if self.on_message:
                self.on_message(topic, payload)
        elif kind == wire.PUBACK:
            pid = (body[0] << 8) | body[1] if len(body) >= 2 else 0
            if self.inflight.pop(pid, None) is not None and self.on_puback:
                self.on_puback(pid)
        elif kind == wire.PINGRESP:
            self.ping_sent = None
        elif kind == wire.SUBACK:
            subs = self.o["subscriptions"]
            if len(body) != 2 + len(subs) or (body[0] << 8) | body[1] != self.sub_pid:
                raise wire.ProtocolError("SUBACK does not answer the SUBSCRIBE")
            bad = [f for (f, _q), c in zip(subs, body[2:]) if c > 2]
            if bad:
                self._drop("broker refused subscription %s" % " ".join(bad))
                return
            self.sub_pid = 0
            self.attempt = 0
        else:
            raise wire.ProtocolError("unexpected packet type %d" % kind)

    def _keepalive(self, now):
        ka = self.o["keepalive_s"] * 1000
        late = time.ticks_diff(now, self.since) > self.o["connect_timeout_ms"]
        if self.state == MQTT:
            if late:
                self._drop("no CONNACK in time")
            return
        if self.sub_pid and late:
            self._drop("no SUBACK in time")
            return
        if time.ticks_diff(now, self.last_rx) > ka + ka // 2:
            self._drop("no traffic from the broker for 1.5 keepalives")
            return
        if self.ping_sent is None and (time.ticks_diff(now, self.last_tx) >= ka // 2
                                       or time.ticks_diff(now, self.last_rx) >= ka // 2):
            self.out.extend(wire.pingreq())
            self.ping_sent = now

    def _flush(self, now):
        try:
            n = self.sock.send(self.out)
        except OSError as e:
            if e.args and e.args[0] in EAGAIN:
                return
            raise
        if n:
            self.out = self.out[n:]
            self.last_tx = now

    def _next_pid(self):
        for _ in range(65535):
            self.pid = self.pid % 65535 + 1
            if self.pid not in self.inflight:
                return self.pid
        raise wire.ProtocolError("no free packet id")
