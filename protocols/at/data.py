# Cellular data through the modem, shaped like the firmware's other links so the button can run
# "Wi-Fi or GSM" behind one interface:
#   GsmNet      SIM800 TCP (AT+CIPSTART/CIPSEND, data as +IPD) with the network-link interface of
#               firmware.hal.tcp.TcpNet: up(), open(host, port) -> socket (send/recv/close),
#               writable(sock), wait(ms, sock). The firmware's own MQTT client runs over it.
#   CmqttLink   SIM7600 AT+CMQTT*: the modem is the MQTT client, over TLS when opts["tls"] (the
#               modem's own SSL context, AT+CSSLCFG, with the CA put on the modem by AT+CCERTDOWN);
#               same surface as firmware.app.mqtt_link.MqttLink: is_up(), publish(), step(),
#               close(), security(), on_message, on_up, on_puback.
#   CmqttNet    a SIM7600 as the board's network: the session asks it for its MQTT link (Link:
#               CmqttLink built like MqttLink, from the net) instead of opening a socket.
# Both block for the length of one AT exchange (tens to hundreds of ms), never longer than the
# timeouts given; neither raises out of step()/wait().
from protocols.at.modem import AtError, ticks_ms, ticks_diff, ticks_add
from protocols.at import parse

EAGAIN = 11


def _q(s):
    return '"%s"' % s.replace('"', "")


CA_NAME = "siaga-ca.pem"   # the city CA on the modem's file system (AT+CCERTDOWN)
SSL_CTX = 0                # the modem's SSL context the MQTT client is bound to
# +CMQTTCONNECT <err> codes a technician can act on (SIM7500/SIM7600 MQTT AT manual); others are
# logged as their number.
CONNECT_ERRORS = {3: "socket connect failed", 11: "no connection", 25: "DNS error",
                  26: "socket closed by the broker", 28: "client id rejected",
                  30: "bad user name or password", 31: "not authorized",
                  32: "TLS handshake failed: the broker's certificate is not signed by the provisioned CA",
                  33: "no CA certificate set", 34: "SSL session failed"}


class ModemSocket:
    """One SIM800 TCP connection (single-connection mode, CIPMUX=0)."""

    def __init__(self, net):
        self.net = net
        self.rx = b""
        self.state = "connecting"  # connecting | open | failed | closed

    def send(self, data):
        if self.state != "open":
            raise OSError(EAGAIN if self.state == "connecting" else 104)
        data = bytes(data)[:1024]  # SIM800 takes at most 1460; stay well under
        m = self.net.modem
        try:
            # SIM800 ends a CIPSEND with SEND OK / SEND FAIL (or DATA ACCEPT:<n>), not with OK.
            lines = m.command("AT+CIPSEND=%d" % len(data), 10000, expect="SEND", data=data,
                              done=lambda l: l.startswith("SEND") or l.startswith("DATA ACCEPT"))
        except AtError:
            self._closed()
            raise OSError(104)
        ev = lines[-1] if lines else ""
        if ev.startswith("SEND OK") or ev.startswith("DATA ACCEPT"):
            return len(data)
        self._closed()
        raise OSError(104)

    def recv(self, n):
        if self.rx:
            out, self.rx = self.rx[:n], self.rx[n:]
            return out
        if self.state in ("closed", "failed"):
            return b""
        raise OSError(EAGAIN)

    def close(self):
        if self.state in ("open", "connecting"):
            try:
                self.net.modem.command("AT+CIPCLOSE", 5000, done=lambda l: l.startswith("CLOSE OK"))
            except AtError:
                pass
        self.state = "closed"
        if self.net.sock is self:
            self.net.sock = None

    def _closed(self):
        self.state = "closed"


class GsmNet:
    def __init__(self, modem, apn, log=None, check_every_ms=10000):
        self.modem = modem
        self.apn = apn
        self.log = log
        self.sock = None
        self._up = None
        self._checked = None
        self.check_every_ms = check_every_ms
        modem.tcp_handler = self._on_data
        modem.tcp_closed_handler = self._on_closed

    def _on_data(self, data):
        if self.sock is not None:
            self.sock.rx += data

    def _on_closed(self):
        if self.sock is not None:
            self.sock.state = "closed"

    def up(self):
        now = ticks_ms()
        if self._checked is None or ticks_diff(now, self._checked) > self.check_every_ms:
            self._checked = now
            try:
                self._up = self.modem.registration("CREG")["registered"]
            except AtError:
                self._up = False
        return bool(self._up)

    def open(self, host, port):
        m = self.modem
        if self.sock is not None:
            self.sock.close()
        try:
            m.command("AT+CIPSHUT", 10000, done=lambda l: l.startswith("SHUT OK"))
            m.command("AT+CIPMUX=0")
            m.command("AT+CIPHEAD=1")
            m.command("AT+CSTT=%s" % _q(self.apn))
            m.command("AT+CIICR", 30000)
            m.command("AT+CIFSR", 5000, done=lambda l: l.count(".") == 3)
            m.command('AT+CIPSTART="TCP",%s,%d' % (_q(host), port), 10000)
        except AtError as e:
            self._up = None
            raise OSError(113, str(e))
        self.sock = ModemSocket(self)
        return self.sock

    def writable(self, sock):
        if sock.state == "open":
            return True
        if sock.state != "connecting":
            return None
        self.modem.poll(0)
        for i in range(len(self.modem._events)):
            ev = self.modem._events[i]
            if ev.startswith("CONNECT OK") or ev.startswith("ALREADY CONNECT"):
                del self.modem._events[i]
                sock.state = "open"
                return True
            if ev.startswith("CONNECT FAIL"):
                del self.modem._events[i]
                sock.state = "failed"
                return None
        return False

    def secure(self, sock, host):
        raise OSError(95, "TLS over SIM800 TCP is not supported; use the SIM7600 CMQTT link")

    def wait(self, ms, sock=None):
        deadline = ticks_add(ticks_ms(), ms)
        while ticks_diff(deadline, ticks_ms()) > 0:
            self.modem.poll(min(20, max(0, ticks_diff(deadline, ticks_ms()))))
            if sock is not None and (sock.rx or sock.state != "connecting" and sock.state != "open"):
                return

    def rssi(self):
        try:
            return self.modem.signal()["dbm"]
        except AtError:
            return None


class CmqttLink:
    """MQTT through a SIM7600's own client. opts as for MqttLink: client_id, user, password, host,
    port, keepalive_s, subscriptions [(filter, qos)], backoff_min_ms, backoff_max_ms,
    connect_timeout_ms."""

    def __init__(self, modem, opts, log=None, on_message=None, on_up=None, on_puback=None, index=0, ca=None):
        self.modem = modem
        self.o = opts
        self.ca = ca      # PEM bytes of the CA the broker's certificate must chain to (with opts["tls"])
        self.log = log
        self.on_message = on_message
        self.on_up = on_up
        self.on_puback = on_puback
        self.index = index
        self.sock = None  # the button passes link.sock to net.wait(); there is no socket here
        self.out = b""    # nothing waits in a queue: publish() hands each message to the modem
        self.state = "down"
        self.pid = 0
        self.attempt = 0
        self.next_try = ticks_ms()
        self.connects = 0
        self.started = False
        self.ca_written = False
        modem.mqtt_handler = self._rx
        modem.mqtt_lost_handler = self._lost

    def _say(self, level, event, **kw):
        if self.log:
            self.log(level, event, **kw)

    def _rx(self, topic, payload):
        if self.on_message:
            self.on_message(topic, payload)

    def _lost(self, cause):
        self._drop("connection lost (cause %d)" % cause)

    def is_up(self):
        return self.state == "up"

    def security(self):
        # What the heartbeat's "sec" says (protocols.messages.LINK_SECURITY), as MqttLink.security().
        if not self.o.get("tls"):
            return "plain"
        return "tls" if self.ca else "tls_unverified"

    def _result(self, prefix, timeout_ms):
        line = self.modem.wait_event(prefix, timeout_ms)
        v = parse.numbers(line, prefix) if line else None
        if v is None:
            return None
        return v[-1]

    def _connect(self):
        m, o, i = self.modem, self.o, self.index
        t = o.get("connect_timeout_ms", 30000)
        if not self.started:
            m.command("AT+CMQTTSTART", 5000)
            err = self._result("+CMQTTSTART:", 5000)
            if err not in (0, 23):  # 23: already started (seen on first runs)
                raise AtError("error", "AT+CMQTTSTART", err)
            self.started = True
        tls = o.get("tls")
        if tls:
            self._ssl_context()
        try:
            # server_type 1: the client speaks SSL/TLS (the SSL context bound below)
            m.command("AT+CMQTTACCQ=%d,%s%s" % (i, _q(o["client_id"]), ",1" if tls else ""), 5000)
        except AtError:
            pass  # already acquired by an earlier attempt
        if tls:
            m.command("AT+CMQTTSSLCFG=%d,%d" % (i, SSL_CTX), 5000)
        # The URL says tcp:// over TLS too: the client's server_type decides.
        cmd = "AT+CMQTTCONNECT=%d,%s,%d,1" % (i, _q("tcp://%s:%d" % (o["host"], o["port"])), o.get("keepalive_s", 60))
        if o.get("user"):
            cmd += ",%s,%s" % (_q(o["user"]), _q(o.get("password") or ""))
        m.command(cmd, t)
        err = self._result("+CMQTTCONNECT:", t)
        if err != 0:
            raise AtError("error", "AT+CMQTTCONNECT", err, CONNECT_ERRORS.get(err, ""))
        for flt, qos in o.get("subscriptions", ()):
            b = flt.encode()
            m.command("AT+CMQTTSUB=%d,%d,%d" % (i, len(b), qos), 5000, data=b)
            err = self._result("+CMQTTSUB:", 10000)
            if err != 0:
                raise AtError("error", "AT+CMQTTSUB", err)

    def _ssl_context(self):
        """SSL context SSL_CTX for the MQTT client: any TLS version the modem has, and with a CA the
        broker's certificate checked against it (authmode 1, server authentication). The CA is
        written to the modem once per boot of this link (the file a previous release left there may
        be another city's or an expired CA), replacing a file of the same name."""
        m = self.modem
        m.command('AT+CSSLCFG="sslversion",%d,4' % SSL_CTX, 5000)
        if not self.ca:
            m.command('AT+CSSLCFG="authmode",%d,0' % SSL_CTX, 5000)
            return
        if not self.ca_written:
            if any(_q(CA_NAME) in line for line in m.command("AT+CCERTLIST", 5000)):
                m.command("AT+CCERTDELE=%s" % _q(CA_NAME), 5000)
            m.command("AT+CCERTDOWN=%s,%d" % (_q(CA_NAME), len(self.ca)), 10000, data=bytes(self.ca))
            self.ca_written = True
            self._say("info", "modem_ca_written", name=CA_NAME, size=len(self.ca))
        m.command('AT+CSSLCFG="authmode",%d,1' % SSL_CTX, 5000)
        m.command('AT+CSSLCFG="cacert",%d,%s' % (SSL_CTX, _q(CA_NAME)), 5000)

    def step(self):
        now = ticks_ms()
        try:
            if self.state == "down" and ticks_diff(now, self.next_try) >= 0:
                self._connect()
                self.state = "up"
                self.attempt = 0
                self.connects += 1
                self._say("info", "mqtt_up", via="cmqtt", connects=self.connects)
                if self.on_up:
                    self.on_up()
            self.modem.poll(0)
        except AtError as e:
            self._drop(str(e))
        except OSError as e:
            self._drop("uart error %s" % e)

    def publish(self, topic, payload, qos=1, retain=False):
        """-> packet id (1..65535, 0 for QoS 0) once the modem confirmed the publish, else None."""
        if self.state != "up":
            return None
        m, i = self.modem, self.index
        t = topic.encode() if type(topic) is str else bytes(topic)
        p = payload.encode() if type(payload) is str else bytes(payload)
        try:
            m.command("AT+CMQTTTOPIC=%d,%d" % (i, len(t)), 5000, data=t)
            m.command("AT+CMQTTPAYLOAD=%d,%d" % (i, len(p)), 5000, data=p)
            m.command("AT+CMQTTPUB=%d,%d,60%s" % (i, qos, ",1" if retain else ""), 5000)
            err = self._result("+CMQTTPUB:", 20000)
        except AtError as e:
            self._drop(str(e))
            return None
        if err != 0:
            self._drop("publish failed (err %s)" % err)
            return None
        if not qos:
            return 0
        self.pid = self.pid % 65535 + 1
        if self.on_puback:
            self.on_puback(self.pid)
        return self.pid

    def close(self):
        if self.state == "up":
            try:
                self.modem.command("AT+CMQTTDISC=%d,60" % self.index, 5000)
                self._result("+CMQTTDISC:", 5000)
            except AtError:
                pass
        self.state = "down"

    def _drop(self, why):
        was = self.state
        self.state = "down"
        cap = self.o.get("backoff_min_ms", 1000) << min(self.attempt, 16)
        cap = min(cap, self.o.get("backoff_max_ms", 60000))
        self.attempt += 1
        self.next_try = ticks_add(ticks_ms(), cap)
        self._say("warn", "mqtt_down", via="cmqtt", why=why, was=was, retry_ms=cap)


class NetCmqttLink(CmqttLink):
    """CmqttLink made as the firmware's session makes MqttLink, (net, opts, log, rand, ...), with the
    net's CA; topics handed over as bytes, as MqttLink does."""

    def __init__(self, net, opts, log, rand=None, on_message=None, on_up=None, on_puback=None):
        CmqttLink.__init__(self, net.modem, opts, log, on_message, on_up, on_puback, ca=getattr(net, "ca", None))
        self.net = net

    def step(self):
        if self.state == "down" and not self.net.up():
            return   # not registered (or the network is off): no attempt, as MqttLink waits for net.up()
        CmqttLink.step(self)

    def _rx(self, topic, payload):
        if self.on_message:
            self.on_message(topic.encode(), payload)


class CmqttNet(GsmNet):
    """A SIM7500/SIM7600 as the board's network: up(), wait() and rssi() as GsmNet (registration,
    the modem's URCs, the signal); MQTT is the modem's own client, so the session builds Link over
    it instead of its MqttLink. ca: set by the app from ca_file, as on TcpNet."""
    Link = NetCmqttLink
    ca = None

    def secure(self, sock, host):
        raise OSError(95, "the SIM7600 speaks TLS itself (CmqttLink); there is no socket to secure")


SIMCOM_MQTT_MODELS = ("SIM7500", "SIM7600", "SIM7800")   # AT+CMQTT* and AT+CSSLCFG in their firmware


def has_cmqtt(model):
    """Whether the modem's AT+CGMM answer names a module with its own MQTT(S) client."""
    model = (model or "").upper()
    for name in SIMCOM_MQTT_MODELS:
        if name in model:
            return True
    return False
