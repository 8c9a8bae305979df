# AT-command modem driver (SIM800 / SIM7600 and 3GPP TS 27.005/27.007 modems), plain Python for both
# runtimes. It receives its UART (protocols.at.uart.Uart: any(), read(n), write(b), as machine.UART
# has them; on CPython fleet_server.sms.serial_uart wraps pyserial) and optional reset/power pins
# (value(v)).
#
# One thread of control: command() writes a line and reads until a final result code, handing every
# unsolicited line (+CMTI, +CREG, RING, +CMQTTRX..., +CUSD...) to its handler on the way; poll()
# does the same while idle. Async results (+CMQTTCONNECT: 0,0, CONNECT OK, +CUSD) are also kept
# as events that wait_event() collects, because modems send them before or after OK.
from protocols.at import parse
from protocols.sms import pdu as sms_pdu

try:
    from time import ticks_ms, ticks_diff, ticks_add, sleep_ms
except ImportError:  # CPython
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b

    def sleep_ms(ms):
        _t.sleep(ms / 1000)


CTRL_Z = b"\x1a"
ESC = b"\x1b"
ERROR_FINALS = ("ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER", "COMMAND NOT SUPPORT")
# Lines that are never the answer to the current command (unless the command asks for that prefix).
URC_PREFIXES = (
    "+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CREG:", "+CGREG:", "+CEREG:", "RING", "+CLIP:", "+CUSD:",
    "+CMQTTRXSTART:", "+CMQTTRXTOPIC:", "+CMQTTRXPAYLOAD:", "+CMQTTRXEND:", "+CMQTTCONNLOST:",
    "+CMQTTCONNECT:", "+CMQTTPUB:", "+CMQTTSUB:", "+CMQTTUNSUB:", "+CMQTTSTART:", "+CMQTTSTOP:",
    "+CMQTTDISC:", "+CMQTTREL:", "CONNECT OK", "CONNECT FAIL", "ALREADY CONNECT", "SEND OK",
    "SEND FAIL", "CLOSED", "+PDP: DEACT", "SMS Ready", "Call Ready", "RDY", "+CPIN: NOT READY",
    "NORMAL POWER DOWN", "UNDER-VOLTAGE", "OVER-VOLTAGE", "+CFUN:",
)
# URCs kept for wait_event(): the outcome of something the host started.
EVENT_PREFIXES = ("+CMQTTCONNECT:", "+CMQTTPUB:", "+CMQTTSUB:", "+CMQTTUNSUB:", "+CMQTTSTART:",
                  "+CMQTTSTOP:", "+CMQTTDISC:", "+CMQTTREL:", "CONNECT OK", "CONNECT FAIL",
                  "ALREADY CONNECT", "SEND OK", "SEND FAIL", "+CUSD:", "CLOSED")
MAX_LINE = 1024
MAX_EVENTS = 32


class AtError(Exception):
    """A command failed: kind is 'error', 'cme', 'cms', 'not_supported', 'no_carrier',
    'timeout' or 'bad_response'; code is the +CME/+CMS number when there is one."""

    def __init__(self, kind, command="", code=None, detail=""):
        super().__init__("%s %s%s%s" % (command, kind, "" if code is None else " %d" % code,
                                        (": " + detail) if detail else ""))
        self.kind = kind
        self.code = code
        self.command = command
        self.detail = detail


class Modem:
    # SIMCom PWRKEY timings (SIM800: >= 1 s low to switch; SIM7600: >= 0.5 s on, >= 2.5 s off).
    pwrkey_on_ms = 1200
    pwrkey_off_ms = 3000
    pwrkey_gap_ms = 2000

    def __init__(self, uart, reset_pin=None, power_pin=None, reset_active=0, log=None,
                 boot_ms=3000, pdu_mode=True):
        self.uart = uart
        self.reset_pin = reset_pin
        self.power_pin = power_pin
        self.reset_active = reset_active
        self.boot_ms = boot_ms
        self.pdu_mode = pdu_mode
        self.log = log
        self._buf = b""
        self._cr = False
        self._handlers = {}
        self._events = []
        self._want_prompt = False
        self._mqtt_rx = None
        self.mqtt_handler = None       # fn(topic: str, payload: bytes)
        self.mqtt_lost_handler = None  # fn(cause: int)
        self.tcp_handler = None        # fn(data: bytes) for SIM800 +IPD
        self.tcp_closed_handler = None
        self.resets = 0
        self.garbage = 0
        # fn() called while an exchange waits on the modem: the port feeds its watchdog here. One
        # AT exchange may take its whole timeout (AT+CMGS 60 s, AT+CIICR 30 s) against an 8 s
        # hardware watchdog, and every wait is bounded by that timeout, so a hang cannot hide.
        self.waiting = None

    # --- plumbing ---------------------------------------------------------------------------

    def on(self, prefix, handler):
        """Call handler(line) for every unsolicited line starting with prefix."""
        self._handlers[prefix] = handler

    def _say(self, msg):
        if self.log:
            self.log(msg)

    def _fill(self):
        n = self.uart.any()
        if n:
            data = self.uart.read(n)
            if data:
                self._buf += bytes(data)
                return True
        return False

    def _take_line(self):
        """One complete line from the buffer (str), '>' for the send prompt, or None."""
        buf = self._buf
        k = 0
        while k < len(buf) and buf[k] in (10, 13, 0):
            k += 1  # blank lines and the NUL some modems send after a reset
        if k:
            buf = self._buf = buf[k:]
        if not buf:
            return None
        if self._want_prompt and buf[0] == 62:  # '>'
            self._buf = buf[2:] if buf[1:2] == b" " else buf[1:]
            return ">"
        if buf[:5] == b"+IPD," and self.tcp_handler is not None:
            return self._take_ipd()
        i = -1
        for k in range(len(buf)):
            if buf[k] in (10, 13):
                i = k
                break
        if i < 0:
            if len(buf) > MAX_LINE:  # a line without end is noise; do not let it grow forever
                self.garbage += len(buf)
                self._buf = b""
            return None
        # A CR may be followed by an LF still in flight: remember, so raw bytes read next (the
        # +CMQTTRXTOPIC body) do not start with it.
        self._cr = buf[i] == 13 and i + 1 >= len(buf)
        self._buf = buf[i + 2:] if buf[i] == 13 and buf[i + 1: i + 2] == b"\n" else buf[i + 1:]
        return self._text(buf[:i])

    def _text(self, raw):
        try:
            s = raw.decode("utf-8")
        except Exception:
            s = "".join([chr(b) for b in raw])  # a GSM/latin-1 byte is still one character
        clean = "".join([ch for ch in s if ch >= " " or ch == "\t"])
        if len(clean) != len(s):
            self.garbage += len(s) - len(clean)
        return clean.strip() if clean.strip() else None

    def _take_ipd(self):
        buf = self._buf
        colon = buf.find(b":")
        if colon < 0:
            return None
        n = parse._int(bytes(buf[5:colon]).decode())
        if n is None:
            self._buf = buf[5:]
            return None
        if len(buf) < colon + 1 + n:
            return None
        data = buf[colon + 1: colon + 1 + n]
        self._buf = buf[colon + 1 + n:]
        try:
            self.tcp_handler(data)
        except Exception as e:
            self._say("tcp handler failed: %r" % e)
        return None

    def _read_line(self, deadline):
        while True:
            line = self._take_line()
            if line is not None:
                return line
            if self._fill():
                continue
            if ticks_diff(deadline, ticks_ms()) <= 0:
                return None
            if self.waiting is not None:
                self.waiting()
            sleep_ms(2)

    def _take_raw(self, n, deadline):
        if self._cr:
            while not self._buf and ticks_diff(deadline, ticks_ms()) > 0:
                if not self._fill():
                    sleep_ms(2)
            if self._buf[:1] == b"\n":
                self._buf = self._buf[1:]
            self._cr = False
        while len(self._buf) < n:
            if ticks_diff(deadline, ticks_ms()) <= 0:
                break
            if not self._fill():
                sleep_ms(2)
        data = self._buf[:n]
        self._buf = self._buf[n:]
        return data

    def _is_urc(self, line, expect):
        if expect and line.startswith(expect):
            return False
        for p in URC_PREFIXES:
            if line.startswith(p):
                return True
        return False

    def _dispatch(self, line, deadline):
        """Handle one unsolicited line (some carry raw bytes after them)."""
        for p in EVENT_PREFIXES:
            if line.startswith(p):
                self._events.append(line)
                if len(self._events) > MAX_EVENTS:
                    del self._events[0]
                break
        if line.startswith("+CMQTTRX"):
            self._mqtt_rx_line(line, deadline)
        elif line.startswith("+CMQTTCONNLOST:"):
            v = parse.numbers(line, "+CMQTTCONNLOST:")
            if self.mqtt_lost_handler:
                self.mqtt_lost_handler(v[1] if v and len(v) > 1 else -1)
        elif line.startswith("CLOSED") and self.tcp_closed_handler:
            self.tcp_closed_handler()
        elif line.startswith("+CMT:") or line.startswith("+CDS:"):
            pdu = self._read_line(ticks_add(ticks_ms(), 1000))  # +CMT/+CDS carry the message on the next line
            line = line + "\n" + (pdu or "")
        for p in self._handlers:
            if line.startswith(p):
                try:
                    self._handlers[p](line)
                except Exception as e:  # a handler's bug must not stop the modem
                    self._say("URC handler for %s failed: %r" % (p, e))
                return

    def _mqtt_rx_line(self, line, deadline):
        deadline = ticks_add(ticks_ms(), 2000)
        if line.startswith("+CMQTTRXSTART:"):
            self._mqtt_rx = [bytearray(), bytearray()]
        elif line.startswith("+CMQTTRXTOPIC:") or line.startswith("+CMQTTRXPAYLOAD:"):
            v = parse.numbers(line, line[: line.find(":") + 1])
            if not v or len(v) < 2:
                return
            data = self._take_raw(v[1], deadline)
            if self._mqtt_rx is not None:
                self._mqtt_rx[0 if "TOPIC" in line else 1].extend(data)
        elif line.startswith("+CMQTTRXEND:"):
            rx, self._mqtt_rx = self._mqtt_rx, None
            if rx is not None and self.mqtt_handler:
                self.mqtt_handler(bytes(rx[0]).decode(), bytes(rx[1]))

    def poll(self, ms=0):
        """Read and dispatch what the modem sent unprompted: waits up to ms milliseconds for the
        first line, returns once nothing more is buffered. -> number of lines dispatched."""
        deadline = ticks_add(ticks_ms(), ms)
        n = 0
        while True:
            line = self._read_line(deadline if n == 0 else ticks_ms())
            if line is None:
                return n
            if line in ("OK", "ERROR") or line == ">":
                continue  # a late answer to a command we already gave up on
            self._dispatch(line, deadline)
            n += 1

    def wait_event(self, prefix, timeout_ms=5000):
        """The first kept async result starting with prefix (removed), waiting up to timeout_ms."""
        deadline = ticks_add(ticks_ms(), timeout_ms)
        while True:
            for i in range(len(self._events)):
                if self._events[i].startswith(prefix):
                    return self._events.pop(i)
            line = self._read_line(deadline)
            if line is None:
                return None
            if line not in ("OK", "ERROR"):
                self._dispatch(line, deadline)

    def command(self, cmd, timeout_ms=5000, expect=None, data=None, done=None, settle_ms=300, busy_retries=3):
        """See _command. '+CME ERROR: 515' (device busy) and '14' (SIM busy) are retried a few times
        after a pause: modems say so while they boot or while the SIM is being read."""
        while True:
            try:
                return self._command(cmd, timeout_ms, expect, data, done, settle_ms)
            except AtError as e:
                if e.kind != "cme" or e.code not in (14, 515) or busy_retries <= 0:
                    raise
                busy_retries -= 1
                self._say("%s: busy (%d), retrying" % (cmd, e.code))
                sleep_ms(500)

    def _command(self, cmd, timeout_ms, expect, data, done, settle_ms):
        """Send one command; return its information lines. expect: the prefix of the answer line
        (so a +CREG answer is not taken for a +CREG URC; and a modem that omits the final OK still
        answers). data: bytes written after the '>' prompt. done(line): a line that ends the command
        without OK (AT+CIFSR, AT+CIPSHUT). Raises AtError."""
        self._fill()
        while self._take_line_if_urc(expect):
            pass
        self.uart.write(cmd.encode() + b"\r")
        deadline = ticks_add(ticks_ms(), timeout_ms)
        info = []
        got_expected = False
        self._want_prompt = data is not None
        try:
            while True:
                line = self._read_line(deadline)
                if line is None:
                    if got_expected:
                        self._say("%s: no final result code, answer kept" % cmd)
                        return info
                    raise AtError("timeout", cmd)
                if line == cmd or line == cmd.strip():
                    continue  # echo (ATE1, or a modem that just rebooted)
                if line == ">" and data is not None:
                    self._want_prompt = False
                    self.uart.write(data)
                    data = None
                    continue
                if line == "OK":
                    return info
                if line.startswith("+CME ERROR:"):
                    raise AtError("cme", cmd, parse._int(line[11:]), line[11:].strip())
                if line.startswith("+CMS ERROR:"):
                    raise AtError("cms", cmd, parse._int(line[11:]), line[11:].strip())
                if line in ERROR_FINALS:
                    kind = {"ERROR": "error", "COMMAND NOT SUPPORT": "not_supported"}.get(line, "no_carrier")
                    raise AtError(kind, cmd, None, line)
                if self._is_urc(line, expect):
                    self._dispatch(line, deadline)
                    continue
                info.append(line)
                if done is not None and done(line):
                    return info
                if expect and line.startswith(expect) and not got_expected:
                    got_expected = True
                    # Wavecom sends '+CPIN: READY' and no OK: wait a little, not the full timeout.
                    settle = ticks_add(ticks_ms(), settle_ms)
                    if ticks_diff(deadline, settle) > 0:
                        deadline = settle
        finally:
            self._want_prompt = False

    def _take_line_if_urc(self, expect):
        # Anything already buffered before we speak is unsolicited: deliver it first.
        line = self._take_line()
        if line is None:
            return False
        if line not in ("OK", "ERROR"):
            self._dispatch(line, ticks_add(ticks_ms(), 500))
        return True

    def query(self, cmd, prefix, timeout_ms=5000):
        """The first line starting with prefix in the answer to cmd, or None."""
        for line in self.command(cmd, timeout_ms, expect=prefix):
            if line.startswith(prefix):
                return line
        return None

    # --- life cycle -------------------------------------------------------------------------

    def sync(self, tries=3, timeout_ms=1000):
        """True when the modem answers AT. Clears any half-typed command first."""
        for _ in range(tries):
            try:
                self.uart.write(ESC)  # leaves a pending '>' prompt if the modem was stuck in one
                self.command("AT", timeout_ms)
                return True
            except AtError as e:
                if e.kind != "timeout":
                    return True  # it answered, even if with ERROR
        return False

    def init(self, pin=None, cnmi="AT+CNMI=2,1,0,1,0"):
        """Echo off, numeric errors, SIM PIN, SMS mode and new-SMS indications. -> SIM state."""
        if not self.sync():
            raise AtError("timeout", "AT", None, "modem does not answer")
        self.command("ATE0")
        self._optional("AT+CMEE=1")
        state = self.sim_state()
        if state == "SIM PIN":
            if pin is None:
                raise AtError("cme", "AT+CPIN", 11, "SIM PIN required and none configured")
            self.command('AT+CPIN="%s"' % pin, 10000)
            state = self.sim_state()
        self.command("AT+CMGF=%d" % (0 if self.pdu_mode else 1))
        if cnmi:
            self._optional(cnmi)
        return state

    def _optional(self, cmd):
        try:
            self.command(cmd)
            return True
        except AtError as e:
            self._say("%s not supported here (%s)" % (cmd, e.kind))
            return False

    def sim_state(self):
        line = self.query("AT+CPIN?", "+CPIN:", 5000)
        return line[6:].strip() if line else None

    def reset(self, pulse_ms=300):
        """Hardware reset: pulse RESET (active level reset_active), or without a reset line cycle
        the module with its power key (PWRKEY: one pulse switches a running SIM800/SIM7600 off,
        the next on). Waits boot_ms for it to boot. False when no pin is wired."""
        if self.reset_pin is not None:
            self._pulse(self.reset_pin, pulse_ms)
        elif self.power_pin is not None:
            self._pulse(self.power_pin, self.pwrkey_off_ms)   # off
            sleep_ms(self.pwrkey_gap_ms)
            self._pulse(self.power_pin, self.pwrkey_on_ms)    # on
        else:
            return False
        self.resets += 1
        self._buf = b""
        self._events = []
        sleep_ms(self.boot_ms)
        return True

    def power_on(self):
        """At boot: a module that does not answer AT is off; one PWRKEY pulse switches it on."""
        if self.sync(1, 300) or self.power_pin is None:
            return
        self._pulse(self.power_pin, self.pwrkey_on_ms)
        sleep_ms(self.boot_ms)

    def _pulse(self, pin, ms):
        pin.value(self.reset_active)
        sleep_ms(ms)
        pin.value(1 - self.reset_active)

    def recover(self, pin=None, tries=2):
        """A modem that stopped answering: reset pulse, then init again. True when it is back."""
        if self.sync(2, 500):
            return True
        for _ in range(tries):
            self._say("modem silent: reset %d" % (self.resets + 1))
            if not self.reset():
                return False
            try:
                self.init(pin)
                return True
            except AtError as e:
                self._say("re-init failed: %s" % e)
        return False

    # --- network ----------------------------------------------------------------------------

    def registration(self, kind="CREG"):
        line = self.query("AT+%s?" % kind, "+%s:" % kind)
        r = parse.registration(line) if line else None
        if r is None:
            raise AtError("bad_response", "AT+%s?" % kind, None, line or "no +%s line" % kind)
        return r

    def signal(self):
        line = self.query("AT+CSQ", "+CSQ:")
        r = parse.signal(line) if line else None
        if r is None:
            raise AtError("bad_response", "AT+CSQ", None, line or "no +CSQ line")
        return r

    def operator(self):
        line = self.query("AT+COPS?", "+COPS:")
        return parse.operator(line) if line else None

    def smsc(self):
        try:
            line = self.query("AT+CSCA?", "+CSCA:")
        except AtError as e:
            if e.kind == "cms":
                return None
            raise
        r = parse.smsc(line) if line else None
        return r[0] if r else None

    def model(self):
        lines = self.command("AT+CGMM")
        return lines[0].strip() if lines else None

    def wait_registered(self, timeout_ms=60000, every_ms=1000, kind="CREG"):
        """Poll registration until home/roaming; None on denied/not-searching or timeout."""
        deadline = ticks_add(ticks_ms(), timeout_ms)
        while ticks_diff(deadline, ticks_ms()) > 0:
            r = self.registration(kind)
            if r["registered"]:
                return r
            if r["stat"] in (0, 3):
                return None
            self.poll(every_ms)
        return None

    # --- SMS --------------------------------------------------------------------------------

    def send_sms(self, number, text, status_report=False, timeout_ms=60000):
        """-> list of message references, one per part. Raises AtError (+CMS ERROR from the
        network, or no +CMGS reference)."""
        refs = []
        if not self.pdu_mode and sms_pdu.gsm7_fits(text) and len(text) <= 160 and "\x1a" not in text:
            lines = self.command('AT+CMGS="%s"' % number, timeout_ms, expect="+CMGS:",
                                 data=text.encode() + CTRL_Z)
            refs.append(self._cmgs_ref(lines))
            return refs
        # Text mode cannot carry UCS-2 or concatenated parts: leave it for this message (as
        # python-gsmmodem does) and come back.
        if not self.pdu_mode:
            self.command("AT+CMGF=0")
        try:
            parts = sms_pdu.encode_submit(number, text, status_report=status_report,
                                          concat_ref=(ticks_ms() >> 4) & 0xFF)
            for pdu, n in parts:
                lines = self.command("AT+CMGS=%d" % n, timeout_ms, expect="+CMGS:", data=pdu.encode() + CTRL_Z)
                refs.append(self._cmgs_ref(lines))
        finally:
            if not self.pdu_mode:
                self.command("AT+CMGF=1")
        return refs

    def _cmgs_ref(self, lines):
        for line in lines:
            v = parse.numbers(line, "+CMGS:")
            if v:
                return v[0]
        raise AtError("bad_response", "AT+CMGS", None, "no +CMGS reference returned")

    def read_sms(self, index):
        """Stored message at index -> dict (see sms_pdu.decode / modem_parse.stored_message), None
        for an empty slot. Raises PduError for a PDU that cannot be decoded."""
        lines = self.command("AT+CMGR=%d" % index, 10000, expect="+CMGR:")
        for i in range(len(lines)):
            if lines[i].startswith("+CMGR:"):
                return parse.stored_message(lines[i], lines[i + 1:], self.pdu_mode, index)
        return None

    def list_sms(self, which=4):
        """All stored messages (which: 4 or "ALL" = all, 0 unread) -> list of (index, msg or
        PduError). A bad PDU is returned next to its index so the caller can log and delete it."""
        arg = ('"%s"' % ("ALL" if which == 4 else "REC UNREAD")) if not self.pdu_mode else str(which)
        lines = self.command("AT+CMGL=%s" % arg, 20000)
        out = []
        i = 0
        while i < len(lines):
            if lines[i].startswith("+CMGL:"):
                j = i + 1
                while j < len(lines) and not lines[j].startswith("+CMGL:"):
                    j += 1
                try:
                    msg = parse.stored_message(lines[i], lines[i + 1: j], self.pdu_mode)
                    out.append((msg["index"] if msg else None, msg))
                except ValueError as e:
                    f = parse.fields(lines[i][6:]) or [("", False)]
                    out.append((parse._int(f[0][0]), e))
                i = j
            else:
                i += 1
        return out

    def delete_sms(self, index, flag=0):
        self.command("AT+CMGD=%d,%d" % (index, flag), 10000)

    def ussd(self, code, timeout_ms=20000):
        """Run a USSD code; -> dict(m, text, session_active). Skips the extra release notices
        (+CUSD: 2/3) some modems send before the real answer."""
        for i in range(len(self._events) - 1, -1, -1):
            if self._events[i].startswith("+CUSD:"):
                del self._events[i]
        self.command('AT+CUSD=1,"%s",15' % code, timeout_ms)
        deadline = ticks_add(ticks_ms(), timeout_ms)
        last = None
        while True:
            left = ticks_diff(deadline, ticks_ms())
            if last is not None:
                left = min(left, 500)
            line = self.wait_event("+CUSD:", max(0, left))
            if line is None:
                if last is None:
                    raise AtError("timeout", "AT+CUSD", None, "no USSD answer")
                return last
            r = parse.ussd(line)
            if r is None:
                continue
            if r["m"] in (0, 1):
                return r
            last = r
