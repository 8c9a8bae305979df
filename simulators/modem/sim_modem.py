"""A virtual SIM800L / SIM7600E on a pseudo-terminal, speaking the AT dialect of the captures in
../shared/data/gsm: echo until ATE0, '\\r\\n<line>\\r\\n' framing, the CR LF '>' SP prompt, +CME/+CMS
errors, +CMTI/+CREG URCs, SIM7600 AT+CMQTT* bridged to a real MQTT broker with paho (over TLS when
the client was acquired with server_type 1: the SSL context of AT+CSSLCFG/AT+CMQTTSSLCFG, the
broker's certificate checked against the CA written with AT+CCERTDOWN, a refusal reported as
+CMQTTCONNECT: <idx>,32 with the reason kept in tls_errors), SIM800 AT+CIPSTART TCP on real
loopback sockets.

Faults (set at any time, e.g. modem.faults.add("hang")):
  no_network  registration 'searching', CSQ 99, SMS fails with +CMS ERROR: 331, data refused
  sms_fail    every send answers +CMS ERROR: 500
  data_drop   the data link drops now and refuses to come back (+CMQTTCONNLOST / CLOSED)
  hang        no answer to anything until reset() (the reset pin)
  garbage     noise bytes between answers
  slow        every answer delayed by slow_ms
vanish() closes the pty (a modem unplugged) and reappear() opens a new one behind the same
symlink path, as a USB modem comes back."""
from __future__ import annotations

import os
import random
import select
import socket
import ssl
import threading
import time
import tty
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols.sms import pdu as sms_pdu
from protocols.at import parse

MODELS = {
    "SIM800": ("SIM800 R14.18", "SIMCOM_Ltd", "SIM800L"),
    "SIM7600": ("SIM7600M21-A_V1.1", "SIMCOM INCORPORATED", "SIMCOM_SIM7600E"),
}
STAT_NAMES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT")


class SimModem:
    def __init__(self, link: Path, number: str, network=None, model: str = "SIM7600", pin: str | None = None,
                 capacity: int = 30, slow_ms: int = 300, seed: int = 112):
        self.link = Path(link)
        self.number = number
        self.network = network
        self.model = model
        self.pin = pin
        self.capacity = capacity
        self.slow_ms = slow_ms
        self.faults: set[str] = set()
        self.rand = random.Random(seed)
        self.storage: dict[int, list] = {}   # index -> [stat, pdu_hex, tpdu_length]
        self.sent: list[dict] = []           # every SMS this modem sent (decoded)
        self.commands: list[str] = []        # every command line received
        self.resets = 0
        self.certs: dict[str, bytes] = {}    # AT+CCERTDOWN files: kept across resets, as on flash
        self.tls_errors: list[str] = []      # why each TLS handshake to a broker failed
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self._master = None
        self._slave = None
        self._power_on_state()
        if network is not None:
            network.attach(number, self)

    # --- life cycle -----------------------------------------------------------------------------

    def _power_on_state(self):
        self.echo = True
        self.pdu_mode = True
        self.cnmi_mt = 1
        self.pin_ok = self.pin is None
        self.mqtt_started = False
        self.mqtt_clients: dict[int, dict] = {}
        self.ssl_ctx: dict[int, dict] = {}   # AT+CSSLCFG context -> {"sslversion", "authmode", "cacert"}
        self.tcp = None
        self.tcp_state = "IP INITIAL"
        self._rx = b""
        self._pending = None  # (kind, args, length or None) while collecting data after '>'

    @property
    def port(self) -> str:
        return str(self.link)

    def start(self) -> "SimModem":
        self._open_pty()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"simmodem-{self.number}", daemon=True)
        self._thread.start()
        return self

    def _open_pty(self):
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self._master, self._slave = master, slave
        tmp = self.link.with_suffix(".tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._close_data()
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        if self.network is not None:
            self.network.detach(self.number)

    def vanish(self) -> None:
        """The modem is unplugged: the pty goes away, whoever had it open gets an I/O error."""
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self.link.is_symlink():
            self.link.unlink()

    def reappear(self) -> None:
        """Plugged back in, freshly booted (storage on the SIM survives)."""
        self._power_on_state()
        self.start()

    def reset(self) -> None:
        """The reset pin: a hung modem boots again, echo on, data links gone."""
        with self._lock:
            self.faults.discard("hang")
            self._close_data()
            self._power_on_state()
            self.resets += 1
        self._emit("RDY")

    # --- the network side ---------------------------------------------------------------------

    def receive(self, pdu_hex: str, tpdu_length: int) -> bool:
        """An SMS-DELIVER from the network; stored and announced by +CMTI. False when storage is
        full or there is no network."""
        with self._lock:
            if "no_network" in self.faults:
                return False
            free = [i for i in range(self.capacity) if i not in self.storage]
            if not free:
                return False
            idx = free[0]
            self.storage[idx] = [0, pdu_hex, tpdu_length]
        if self.cnmi_mt and self._master is not None and "hang" not in self.faults:
            self._emit('+CMTI: "SM",%d' % idx)
        return True

    # --- pty I/O -----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        fd = self._master
        if fd is None:
            return
        try:
            os.write(fd, data)
        except OSError:
            pass

    def _emit(self, *lines: str) -> None:
        if "garbage" in self.faults:
            self._write(bytes(self.rand.randrange(1, 256) for _ in range(self.rand.randrange(1, 6))) + b"\r\n")
        self._write(b"".join(b"\r\n" + l.encode("latin-1") + b"\r\n" for l in lines))

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._master
            if fd is None:
                return
            try:
                r, _, _ = select.select([fd], [], [], 0.05)
                if not r:
                    continue
                data = os.read(fd, 4096)
            except OSError:
                return
            with self._lock:
                if "hang" in self.faults:
                    continue
                self._rx += data
                try:
                    self._consume()
                except Exception as e:  # the simulator must not die on what a host sends
                    self._emit("ERROR")
                    self._rx = b""
                    print(f"simmodem {self.number}: {e!r}")

    def _consume(self) -> None:
        while self._rx:
            if self._pending is not None:
                kind, args, length = self._pending
                if length is None:  # SMS body: ends with Ctrl-Z, ESC aborts
                    for i, b in enumerate(self._rx):
                        if b in (0x1A, 0x1B):
                            body, self._rx = self._rx[:i], self._rx[i + 1:]
                            self._pending = None
                            if b == 0x1B:
                                self._emit("OK")
                            else:
                                self._finish(kind, args, body)
                            break
                    else:
                        return
                else:
                    if len(self._rx) < length:
                        return
                    body, self._rx = self._rx[:length], self._rx[length:]
                    self._pending = None
                    self._finish(kind, args, body)
                continue
            i = -1
            for k, b in enumerate(self._rx):
                if b in (13, 10):
                    i = k
                    break
            if i < 0:
                if self._rx[:1] == b"\x1b":
                    self._rx = self._rx[1:]
                    continue
                return
            line, self._rx = self._rx[:i], self._rx[i + 1:]
            line = line.replace(b"\x1b", b"").decode("latin-1").strip()
            if not line:
                continue
            if self.echo:
                self._write(line.encode("latin-1") + b"\r")
            self.commands.append(line)
            self._command(line)

    def _reply(self, *lines: str, final: str = "OK") -> None:
        if "slow" in self.faults:
            time.sleep(self.slow_ms / 1000)
        self._emit(*(list(lines) + ([final] if final else [])))

    def _prompt(self, kind: str, args, length: int | None) -> None:
        self._pending = (kind, args, length)
        self._write(b"\r\n> ")

    # --- commands ----------------------------------------------------------------------------

    def _command(self, line: str) -> None:
        up = line.upper()
        if not up.startswith("AT"):
            self._reply(final="ERROR")
            return
        cmd = line[2:]
        ucmd = up[2:]
        if ucmd in ("", "&F", "Z"):
            return self._reply()
        if ucmd in ("E0", "E1"):
            self.echo = ucmd == "E1"
            return self._reply()
        if ucmd == "I":
            rev, man, model = MODELS[self.model]
            return self._reply(f"Manufacturer: {man}", f"Model: {model}", f"Revision: {rev}", "IMEI: 867000000000001", "+GCAP: +CGSM")
        if ucmd == "+CGMM":
            return self._reply(MODELS[self.model][2])
        if ucmd.startswith("+CMEE") or ucmd.startswith("+CSCS") or ucmd.startswith("+CPMS") or ucmd.startswith("+CSMP") or ucmd.startswith("+CFUN="):
            return self._reply()
        if ucmd == "+CPIN?":
            return self._reply("+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN")
        if ucmd.startswith("+CPIN="):
            given = cmd[6:].strip().strip('"')
            if self.pin is not None and given != self.pin:
                return self._reply(final="+CME ERROR: 16")
            self.pin_ok = True
            return self._reply()
        if not self.pin_ok and ucmd.startswith(("+CMG", "+CREG", "+CGREG", "+CEREG", "+COPS", "+CMQTT", "+CIP")):
            return self._reply(final="+CME ERROR: 11")
        for kind in ("+CREG", "+CGREG", "+CEREG"):
            if ucmd == kind + "?":
                stat = 2 if "no_network" in self.faults else 1
                return self._reply(f"{kind}: 0,{stat}")
            if ucmd.startswith(kind + "="):
                return self._reply()
        if ucmd == "+CSQ":
            return self._reply("+CSQ: 99,99" if "no_network" in self.faults else "+CSQ: 18,99")
        if ucmd == "+COPS?":
            return self._reply("+COPS: 0" if "no_network" in self.faults else '+COPS: 0,0,"TELKOMSEL",7')
        if ucmd.startswith("+CMGF="):
            self.pdu_mode = cmd[6:].strip() == "0"
            return self._reply()
        if ucmd.startswith("+CNMI="):
            f = cmd[6:].split(",")
            self.cnmi_mt = int(f[1]) if len(f) > 1 and f[1].strip().isdigit() else 0
            return self._reply()
        if ucmd == "+CSCA?":
            smsc = self.network.smsc if self.network else "+6281100000"
            return self._reply(f'+CSCA: "{smsc}",145')
        if ucmd.startswith("+CMGS="):
            arg = cmd[6:].strip()
            if self.pdu_mode:
                if not arg.isdigit():
                    return self._reply(final="+CMS ERROR: 304")
                return self._prompt("cmgs", int(arg), None)
            return self._prompt("cmgs_text", arg.split(",")[0].strip('"'), None)
        if ucmd.startswith("+CMGR="):
            return self._cmgr(cmd[6:])
        if ucmd.startswith("+CMGL"):
            return self._cmgl(cmd[6:] if "=" in cmd else "4")
        if ucmd.startswith("+CMGD="):
            f = cmd[6:].split(",")
            idx = int(f[0])
            flag = int(f[1]) if len(f) > 1 else 0
            if flag == 4:
                self.storage.clear()
            else:
                self.storage.pop(idx, None)
            return self._reply()
        if ucmd.startswith("+CUSD="):
            self._reply()
            return self._emit('+CUSD: 0,"Sisa pulsa Anda Rp 10.000",15')
        if ucmd.startswith("+CMQTT"):
            return self._cmqtt(ucmd, cmd)
        if ucmd.startswith(("+CSSLCFG", "+CCERT")):
            return self._ssl_cmd(ucmd, cmd)
        if ucmd.startswith("+CIP") or ucmd.startswith("+CSTT") or ucmd.startswith("+CIICR") or ucmd == "+CIFSR":
            return self._cip(ucmd, cmd)
        return self._reply(final="ERROR")

    def _stored_lines(self, idx: int, header: str) -> list[str]:
        stat, pdu, n = self.storage[idx]
        if self.pdu_mode:
            return [f"{header} {stat},,{n}" if header == "+CMGR:" else f"{header} {idx},{stat},,{n}", pdu]
        msg = sms_pdu.decode(pdu)
        when = msg["time"]
        scts = "%02d/%02d/%02d,%02d:%02d:%02d%+03d" % (when[0] % 100, when[1], when[2], when[3], when[4], when[5], when[6])
        head = f'"{STAT_NAMES[stat]}","{msg["number"]}",,"{scts}"'
        return [f"{header} {head}" if header == "+CMGR:" else f"{header} {idx},{head}", msg["text"]]

    def _cmgr(self, arg: str) -> None:
        idx = int(arg.strip())
        if idx not in self.storage:
            return self._reply()  # an empty slot answers only OK, as SIM800 does
        lines = self._stored_lines(idx, "+CMGR:")
        self.storage[idx][0] = 1 if self.storage[idx][0] == 0 else self.storage[idx][0]
        self._reply(*lines)

    def _cmgl(self, arg: str) -> None:
        arg = arg.strip().strip('"').upper()
        want = {"4": None, "ALL": None, "0": 0, "REC UNREAD": 0, "1": 1, "REC READ": 1}.get(arg, None)
        lines = []
        for idx in sorted(self.storage):
            if want is None or self.storage[idx][0] == want:
                lines += self._stored_lines(idx, "+CMGL:")
                if self.storage[idx][0] == 0:
                    self.storage[idx][0] = 1
        self._reply(*lines)

    def _finish(self, kind: str, args, body: bytes) -> None:
        if kind in ("cmgs", "cmgs_text"):
            return self._send_sms(kind, args, body)
        if kind == "mqtt_topic":
            self.mqtt_clients.setdefault(args, {})["topic"] = body.decode("utf-8", "replace")
            return self._reply()
        if kind == "mqtt_payload":
            self.mqtt_clients.setdefault(args, {})["payload"] = body
            return self._reply()
        if kind == "mqtt_sub":
            idx, qos = args
            c = self.mqtt_clients.get(idx, {})
            self._reply()
            if not c.get("paho"):
                return self._emit(f"+CMQTTSUB: {idx},11")
            c["paho"].subscribe(body.decode(), qos)
            return self._emit(f"+CMQTTSUB: {idx},0")
        if kind == "cipsend":
            return self._tcp_send(body)
        if kind == "certdown":
            self.certs[args] = body
            return self._reply()

    def _send_sms(self, kind: str, args, body: bytes) -> None:
        if "no_network" in self.faults:
            return self._reply(final="+CMS ERROR: 331")
        if "sms_fail" in self.faults:
            return self._reply(final="+CMS ERROR: 500")
        try:
            if kind == "cmgs":
                msg = sms_pdu.decode(body.decode("ascii").strip())
                if msg["type"] != sms_pdu.SUBMIT or msg["tpdu_length"] != args:
                    return self._reply(final="+CMS ERROR: 304")
            else:
                msg = {"type": sms_pdu.SUBMIT, "number": args, "text": body.decode("latin-1"), "concat": None}
        except (ValueError, UnicodeDecodeError):
            return self._reply(final="+CMS ERROR: 304")
        ref = self.network.next_reference() if self.network else 1
        self.sent.append(msg)
        if self.network is not None:
            self.network.submit(self.number, msg)
        self._reply(f"+CMGS: {ref}")

    # --- SIM7600 MQTT -------------------------------------------------------------------------

    def _cmqtt(self, ucmd: str, cmd: str) -> None:
        if self.model != "SIM7600":
            return self._reply(final="ERROR")
        name, _, arg = cmd[1:].partition("=")
        name = name.upper()
        f = parse.fields(arg) or []
        vals = [v for v, _q in f]
        if name == "CMQTTSTART":
            if self.mqtt_started:
                self._reply(final="ERROR")
                return self._emit("+CMQTTSTART: 23")
            self.mqtt_started = True
            self._reply()
            return self._emit("+CMQTTSTART: 0")
        if name == "CMQTTSTOP":
            self._close_data()
            self.mqtt_started = False
            self._reply()
            return self._emit("+CMQTTSTOP: 0")
        if not self.mqtt_started:
            return self._reply(final="ERROR")
        idx = int(vals[0]) if vals and vals[0].isdigit() else 0
        if name == "CMQTTACCQ":
            if idx in self.mqtt_clients and self.mqtt_clients[idx].get("id"):
                return self._reply(final="ERROR")
            # server_type: 0 TCP (the default), 1 SSL/TLS
            self.mqtt_clients[idx] = {"id": vals[1], "server_type": int(vals[2]) if len(vals) > 2 else 0}
            return self._reply()
        if name == "CMQTTSSLCFG":
            if idx not in self.mqtt_clients or len(vals) < 2 or not vals[1].isdigit():
                return self._reply(final="ERROR")
            self.mqtt_clients[idx]["ssl_ctx"] = int(vals[1])
            return self._reply()
        if name == "CMQTTREL":
            self.mqtt_clients.pop(idx, None)
            return self._reply()
        if name == "CMQTTCONNECT":
            self._reply()
            return self._mqtt_connect(idx, vals)
        if name == "CMQTTDISC":
            c = self.mqtt_clients.get(idx, {})
            if c.get("paho"):
                c["paho"].loop_stop()
                c["paho"].disconnect()
                c["paho"] = None
            self._reply()
            return self._emit(f"+CMQTTDISC: {idx},0")
        if name in ("CMQTTTOPIC", "CMQTTPAYLOAD"):
            return self._prompt("mqtt_topic" if name == "CMQTTTOPIC" else "mqtt_payload", idx, int(vals[1]))
        if name == "CMQTTSUB":
            return self._prompt("mqtt_sub", (idx, int(vals[2]) if len(vals) > 2 else 1), int(vals[1]))
        if name == "CMQTTPUB":
            return self._mqtt_publish(idx, int(vals[1]) if len(vals) > 1 else 1, len(vals) > 3 and vals[3] == "1")
        return self._reply(final="ERROR")

    def _mqtt_connect(self, idx: int, vals: list[str]) -> None:
        c = self.mqtt_clients.get(idx)
        if c is None or "no_network" in self.faults or "data_drop" in self.faults:
            return self._emit(f"+CMQTTCONNECT: {idx},{6 if c is None else 3}")
        url = vals[1]
        host, port = url.split("://", 1)[-1].rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            return self._emit(f"+CMQTTCONNECT: {idx},3")  # the simulator only reaches loopback
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c["id"], clean_session=vals[3] != "0" if len(vals) > 3 else True)
        if len(vals) > 5:
            client.username_pw_set(vals[4], vals[5])

        def on_message(_c, _u, m, idx=idx):
            self._mqtt_rx(idx, m.topic.encode(), m.payload)

        def on_disconnect(_c, _u, _flags, rc, _p, idx=idx):
            if self.mqtt_clients.get(idx, {}).get("paho") is _c:
                self._emit(f"+CMQTTCONNLOST: {idx},1")

        client.on_message = on_message
        if c.get("server_type") == 1:
            err = self._tls_for(client, c)
            if err:
                return self._emit(f"+CMQTTCONNECT: {idx},{err}")
        try:
            rc = client.connect("127.0.0.1", int(port), keepalive=int(vals[2]) if len(vals) > 2 else 60)
        except ssl.SSLError as e:   # an OSError too: the handshake, not the socket
            if isinstance(e, ssl.SSLCertVerificationError):
                self.tls_errors.append(f"certificate verify failed: {e.verify_message}")
            else:
                self.tls_errors.append(f"handshake failed: {e.reason or e}")
            return self._emit(f"+CMQTTCONNECT: {idx},32")
        except OSError:
            return self._emit(f"+CMQTTCONNECT: {idx},3")
        ok = threading.Event()
        result = {}

        def on_connect(_c, _u, _f, reason, _p):
            result["rc"] = reason.value if hasattr(reason, "value") else int(reason)
            ok.set()

        client.on_connect = on_connect
        client.loop_start()
        if not ok.wait(10) or result.get("rc") != 0:
            client.loop_stop()
            return self._emit(f"+CMQTTCONNECT: {idx},{11 if not result else 13}")
        client.on_disconnect = on_disconnect
        c["paho"] = client
        self._emit(f"+CMQTTCONNECT: {idx},0")

    def _tls_for(self, client, c: dict) -> int:
        """TLS for a client acquired with server_type 1, from its SSL context: 0, or the +CMQTTCONNECT
        error (33: authentication wanted but no CA set or written). The module checks the chain to
        the CA, not the host name (no SNI is configured here)."""
        cfg = self.ssl_ctx.get(c.get("ssl_ctx", 0), {})
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        if cfg.get("sslversion") == 3:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cfg.get("authmode", 0) == 0:
            ctx.verify_mode = ssl.CERT_NONE
        else:
            pem = self.certs.get(cfg.get("cacert") or "")
            if pem is None:
                self.tls_errors.append("no CA certificate set for SSL context %d" % c.get("ssl_ctx", 0))
                return 33
            try:
                ctx.load_verify_locations(cadata=pem.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as e:
                self.tls_errors.append(f"CA file {cfg.get('cacert')} unreadable: {e}")
                return 33
        client.tls_set_context(ctx)
        return 0

    # --- SIM7600 SSL context and certificates ---------------------------------------------------

    def _ssl_cmd(self, ucmd: str, cmd: str) -> None:
        if self.model != "SIM7600":
            return self._reply(final="ERROR")
        name, _, arg = cmd[1:].partition("=")
        name = name.upper()
        vals = [v for v, _q in parse.fields(arg) or []]
        if name == "CSSLCFG":
            # AT+CSSLCFG="<item>",<ssl_ctx_index>,<value>
            if len(vals) < 3 or not vals[1].isdigit():
                return self._reply(final="ERROR")
            item, ctx, value = vals[0].lower(), int(vals[1]), vals[2]
            cfg = self.ssl_ctx.setdefault(ctx, {})
            if item in ("sslversion", "authmode"):
                if not value.isdigit() or int(value) > (4 if item == "sslversion" else 2):
                    return self._reply(final="ERROR")
                cfg[item] = int(value)
            elif item in ("cacert", "clientcert", "clientkey", "ignorelocaltime", "negotiatetime", "enablesni"):
                cfg[item] = value
            else:
                return self._reply(final="ERROR")
            return self._reply()
        if name == "CCERTDOWN":
            # AT+CCERTDOWN="<filename>",<len>: '>' then exactly <len> bytes, then OK
            if len(vals) < 2 or not vals[1].isdigit() or not vals[0] or int(vals[1]) > 10240:
                return self._reply(final="ERROR")
            return self._prompt("certdown", vals[0], int(vals[1]))
        if name == "CCERTLIST":
            return self._reply(*[f'+CCERTLIST: "{n}"' for n in sorted(self.certs)])
        if name == "CCERTDELE":
            if not vals or vals[0] not in self.certs:
                return self._reply(final="ERROR")
            del self.certs[vals[0]]
            return self._reply()
        return self._reply(final="ERROR")

    def _mqtt_publish(self, idx: int, qos: int, retain: bool) -> None:
        c = self.mqtt_clients.get(idx, {})
        if not c.get("paho") or "data_drop" in self.faults:
            self._reply()
            return self._emit(f"+CMQTTPUB: {idx},11")
        info = c["paho"].publish(c.get("topic", ""), c.get("payload", b""), qos=qos, retain=retain)
        self._reply()
        try:
            info.wait_for_publish(10)
            ok = info.is_published()
        except (RuntimeError, ValueError):
            ok = False
        self._emit(f"+CMQTTPUB: {idx},{0 if ok else 11}")

    def _mqtt_rx(self, idx: int, topic: bytes, payload: bytes) -> None:
        # One write, no lock: this runs on paho's thread, which must stay free to finish the
        # PUBACK a publish on the pty thread is waiting for.
        if "hang" in self.faults:
            return
        out = f"\r\n+CMQTTRXSTART: {idx},{len(topic)},{len(payload)}\r\n".encode()
        out += f"+CMQTTRXTOPIC: {idx},{len(topic)}\r\n".encode() + topic + b"\r\n"
        # Long payloads arrive in several chunks, as the SIM7600 does; the host must join them.
        for i in range(0, max(1, len(payload)), 512):
            chunk = payload[i: i + 512]
            out += f"+CMQTTRXPAYLOAD: {idx},{len(chunk)}\r\n".encode() + chunk + b"\r\n"
        out += f"+CMQTTRXEND: {idx}\r\n".encode()
        self._write(out)

    # --- SIM800 TCP ---------------------------------------------------------------------------

    def _cip(self, ucmd: str, cmd: str) -> None:
        if self.model != "SIM800":
            return self._reply(final="ERROR")
        if ucmd == "+CIPSHUT":
            self._close_data()
            self.tcp_state = "IP INITIAL"
            return self._reply(final="SHUT OK")
        if ucmd.startswith("+CIPMUX") or ucmd.startswith("+CIPHEAD") or ucmd.startswith("+CIPQSEND"):
            return self._reply()
        if ucmd.startswith("+CSTT"):
            self.tcp_state = "IP START"
            return self._reply()
        if ucmd == "+CIICR":
            if "no_network" in self.faults:
                return self._reply(final="ERROR")
            self.tcp_state = "IP GPRSACT"
            return self._reply()
        if ucmd == "+CIFSR":
            self.tcp_state = "IP STATUS"
            return self._reply(final="10.64.12.7")
        if ucmd.startswith("+CIPSTART="):
            vals = [v for v, _q in parse.fields(cmd[10:]) or []]
            self._reply()
            if "data_drop" in self.faults or "no_network" in self.faults or vals[1] not in ("127.0.0.1", "localhost"):
                return self._emit("CONNECT FAIL")
            try:
                s = socket.create_connection(("127.0.0.1", int(vals[2])), timeout=5)
            except OSError:
                return self._emit("CONNECT FAIL")
            self.tcp = s
            self.tcp_state = "CONNECT OK"
            threading.Thread(target=self._tcp_reader, args=(s,), daemon=True).start()
            return self._emit("CONNECT OK")
        if ucmd.startswith("+CIPSEND="):
            if self.tcp is None:
                return self._reply(final="ERROR")
            return self._prompt("cipsend", None, int(cmd[9:]))
        if ucmd.startswith("+CIPCLOSE"):
            if self.tcp is None:
                return self._reply(final="ERROR")
            self._close_data()
            return self._reply(final="CLOSE OK")
        if ucmd == "+CIPSTATUS":
            return self._reply(f"STATE: {self.tcp_state}")
        return self._reply(final="ERROR")

    def _tcp_send(self, body: bytes) -> None:
        s = self.tcp
        if s is None or "data_drop" in self.faults:
            return self._emit("SEND FAIL")
        try:
            s.sendall(body)
        except OSError:
            return self._emit("SEND FAIL")
        self._emit("SEND OK")

    def _tcp_reader(self, s: socket.socket) -> None:
        s.settimeout(0.2)
        while not self._stop.is_set() and self.tcp is s:
            try:
                data = s.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            with self._lock:
                if self.tcp is not s:
                    return
                if not data:
                    self.tcp = None
                    self.tcp_state = "TCP CLOSED"
                    self._emit("CLOSED")
                    return
                if "hang" not in self.faults:
                    self._write(b"\r\n+IPD,%d:" % len(data) + data)

    # --- data drop ----------------------------------------------------------------------------

    def drop_data(self) -> None:
        """The data bearer fails (and stays down while the data_drop fault is set)."""
        with self._lock:
            self.faults.add("data_drop")
            lost = [i for i, c in self.mqtt_clients.items() if c.get("paho")]
            self._close_data()
            for i in lost:
                self._emit(f"+CMQTTCONNLOST: {i},3")

    def _close_data(self) -> None:
        for c in self.mqtt_clients.values():
            p = c.get("paho")
            if p is not None:
                c["paho"] = None
                try:
                    p.loop_stop()
                    p.disconnect()
                except Exception:
                    pass
        if self.tcp is not None:
            s, self.tcp = self.tcp, None
            try:
                s.close()
            except OSError:
                pass
            self._emit("CLOSED")
