"""The center's SMS gateway: one modem on a serial port (pyserial, through the firmware's own AT
driver), read by one thread.

    +CMTI -> AT+CMGR -> classify -> sink -> reply -> AT+CMGD      (plus an AT+CMGL sweep on open
                                                                   and every sweep_s, for missed URCs)
Classification:
    SG1;A;...     our signed SOS: HMAC with the device key, replay window per device
    A"ML=...      Advanced Mobile Location from a phone -> location report
    anything else a citizen's text -> non-emergency report (Bogor's complaint channel)

Nothing is lost on a crash: an SMS is deleted from the modem only after the sink took it, and a
device's replay window advances (and is persisted) only then. A modem that vanishes (pty closed,
USB unplugged, serial error) or stops answering is closed and reopened with capped backoff.

The sink is the server's incident service (see SmsSink); the replay store is its database
(fleet_server.storage.sms_replay.DatabaseReplayStore)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

import serial

from fleet_server.logs import event, mask_phone
from fleet_server.sms import aml
from fleet_server.sms.serial_uart import SerialUart
from protocols.at import parse as modem_parse
from protocols.at.modem import AtError, Modem
from protocols.sms import pdu as sms_pdu
from protocols import codec_sms
from protocols.rejection import BAD_FORMAT, Rejection
from protocols.replay import ReplayWindow

log = logging.getLogger("siaga.sms.gateway")


class SmsSink(Protocol):
    """What the gateway hands over. Raising means "not stored": the SMS stays on the modem and is
    offered again on the next sweep."""

    def on_alarm(self, alarm: dict, via: str, sender_masked: str) -> None:
        """A verified SOS (the same dict codec_json.decode gives for an MQTT alarm): dedupe on
        (dev, boot, seq) folds it with its MQTT copy."""

    def on_aml(self, location: dict, sender: str, sender_masked: str, received_at: int) -> None:
        """A phone's AML location (fleet_server.sms.aml dict: lat/lon microdegrees or None,
        radius_m, method, time, confidence_pct, imsi/imei not for logs)."""

    def on_text_report(self, text: str, sender: str, sender_masked: str, received_at: int) -> str | None:
        """A free-text report; may return a short reference quoted in the confirmation SMS."""

    def on_rejected(self, rejection: Rejection, kind: str, sender_masked: str) -> None:
        """An SMS that was not accepted (kind: 'alarm', 'aml', 'sms'), with its reason."""


class ReplayStore(Protocol):
    """Where each device's replay window (protocols.replay.ReplayWindow.state()) survives restarts."""

    def load(self, device_id: str) -> tuple[int, int, int] | None: ...
    def save(self, device_id: str, state: tuple[int, int, int]) -> None: ...


class MemoryReplayStore:
    def __init__(self):
        self.states: dict[str, tuple[int, int, int]] = {}

    def load(self, device_id):
        return self.states.get(device_id)

    def save(self, device_id, state):
        self.states[device_id] = tuple(state)


class _Stopping(Exception):
    """stop() was asked while the modem was still inside an exchange: leave it now, not when the
    exchange's own timeout (up to 60 s for AT+CMGS) runs out."""


class SmsGateway:
    def __init__(self, port: str, sink: SmsSink, key_for: Callable[[str], bytes | None], replay: ReplayStore,
                 baudrate: int = 115200, reply: bool = True, sweep_s: float = 30.0, backoff_min_s: float = 0.5,
                 backoff_max_s: float = 30.0, clock: Callable[[], float] = time.time, pin: str | None = None,
                 replies_per_hour: int = 10):
        self.port = port
        self.sink = sink
        self.key_for = key_for
        self.replay = replay
        self.baudrate = baudrate
        self.reply = reply
        self.sweep_s = sweep_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.pin = pin
        self.replies_per_hour = replies_per_hour
        self._replied: dict[str, list[float]] = {}
        self.modem: Modem | None = None
        self.uart: SerialUart | None = None
        self.windows: dict[str, ReplayWindow] = {}
        self.parts = sms_pdu.Reassembly(max_groups=64, max_age_s=24 * 3600)
        self._new: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.stats = {"received": 0, "alarms": 0, "aml": 0, "texts": 0, "rejected": 0, "replies": 0,
                      "opens": 0, "lost": 0, "sink_errors": 0, "status_reports": 0,
                      "replies_skipped": 0, "replay_save_errors": 0}

    # --- thread ---------------------------------------------------------------------------------

    def start(self) -> "SmsGateway":
        self._thread = threading.Thread(target=self.run, name="sms-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        self._close()

    def run(self) -> None:
        delay = self.backoff_min_s
        while not self._stop.is_set():
            try:
                if self.modem is None:
                    self._open()
                    delay = self.backoff_min_s
                self.step()
            except _Stopping:
                break
            except (serial.SerialException, OSError, AtError) as e:
                self.stats["lost"] += 1
                event(log, logging.WARNING, "gateway modem lost", reason=str(e)[:120], retry_s=round(delay, 2))
                self._close()
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
            except Exception:  # a bug must not end the gateway: log it and go on
                log.exception("gateway step failed")
                self._stop.wait(self.backoff_min_s)

    def _open(self) -> None:
        self.uart = SerialUart(self.port, self.baudrate)
        m = Modem(self.uart, log=lambda s: log.info(s))
        m.waiting = self._leave_if_stopping
        m.init(self.pin)
        m.on("+CMTI:", self._on_cmti)
        self.modem = m
        self.stats["opens"] += 1
        self._last_sweep = 0.0
        self.connected.set()
        event(log, logging.INFO, "gateway modem ready", port=self.port, opens=self.stats["opens"])

    def _leave_if_stopping(self) -> None:
        if self._stop.is_set():
            raise _Stopping()

    def _close(self) -> None:
        self.connected.clear()
        self.modem = None
        if self.uart is not None:
            self.uart.close()
            self.uart = None

    def _on_cmti(self, line: str) -> None:
        r = modem_parse.cmti(line)
        if r is not None and r[1] not in self._new:
            self._new.append(r[1])

    def step(self, poll_ms: int = 200) -> None:
        m = self.modem
        m.poll(poll_ms)
        if not m.sync(2, 2000):
            raise AtError("timeout", "AT", None, "modem stopped answering")
        now = time.monotonic()
        if now - self._last_sweep >= self.sweep_s:
            self._last_sweep = now
            self._new.clear()
            for index, msg in m.list_sms(4):
                self._take(index, msg)
        while self._new:
            index = self._new.pop(0)
            try:
                msg = m.read_sms(index)
            except ValueError as e:
                msg = e
            if msg is None:
                continue
            self._take(index, msg)

    # --- one stored message ---------------------------------------------------------------------

    def _take(self, index: int | None, msg) -> None:
        self.stats["received"] += 1
        if isinstance(msg, Exception) or msg is None:
            self._reject(Rejection(BAD_FORMAT, "stored SMS could not be decoded (%s)" % msg), "sms", "?")
            self._delete(index)
            return
        if msg.get("type") == sms_pdu.STATUS_REPORT:
            self.stats["status_reports"] += 1
            event(log, logging.INFO, "delivery report", reference=msg.get("reference"), delivered=msg.get("delivered"))
            self._delete(index)
            return
        if msg.get("type") != sms_pdu.DELIVER:
            return  # a message this modem stored to send (STO SENT/UNSENT): not an incoming one
        msg["index"] = index
        try:
            whole = self.parts.add(msg, int(self.clock()))
        except ValueError as e:
            self._reject(Rejection(BAD_FORMAT, str(e)), "sms", mask_phone(msg.get("number") or "?"))
            self._delete(index)
            return
        if whole is None:
            return  # a part; it stays on the modem until its message is whole
        indices = whole.get("indices") or [index]
        if self.handle(whole):
            for i in indices:
                self._delete(i)

    def _delete(self, index: int | None) -> None:
        if index is None:
            return
        try:
            self.modem.delete_sms(index)
        except AtError as e:
            event(log, logging.WARNING, "could not delete SMS", index=index, reason=str(e)[:80])

    def handle(self, msg: dict) -> bool:
        """Classify one whole SMS and hand it on. True when it may be deleted."""
        sender = msg.get("number") or ""
        masked = mask_phone(sender) if sender else "?"
        now = int(self.clock())
        text = msg.get("text") or ""
        if msg.get("encoding") == "8bit" and msg.get("data") is not None:
            # Android sends AML as a data SMS (the text GSM-7 packed); any other binary SMS (WAP
            # push, SIM toolkit) is not for us.
            data = msg["data"]
            head = sms_pdu.gsm7_decode(sms_pdu.unpack_septets(data[:8], 8))
            if not aml.is_aml(head):
                self._reject(Rejection(BAD_FORMAT, "binary SMS (%d octets, ports %s) is not AML" % (len(data), msg.get("ports"))), "sms", masked)
                return True
            loc = aml.parse_data_sms(data)
            if isinstance(loc, Rejection):
                self._reject(loc, "aml", masked)
                return True
            return self._aml(loc, sender, masked, now)
        if codec_sms.is_siaga_sms(text):
            return self._alarm(text, sender, masked, now)
        if aml.is_aml(text):
            loc = aml.parse(text)
            if isinstance(loc, Rejection):
                self._reject(loc, "aml", masked)
                return True
            return self._aml(loc, sender, masked, now)
        if not text.strip():
            self._reject(Rejection(BAD_FORMAT, "empty SMS"), "sms", masked)
            return True
        try:
            ref = self.sink.on_text_report(text, sender, masked, now)
        except Exception as e:
            return self._sink_failed("text report", e)
        self.stats["texts"] += 1
        event(log, logging.INFO, "text report", sender=masked, chars=len(text), reference=ref)
        self._reply_to(sender, "SIAGA 112: laporan Anda diterima%s. Darurat? Telepon 112." % (" (no. %s)" % ref if ref else ""))
        return True

    def _alarm(self, text: str, sender: str, masked: str, now: int) -> bool:
        alarm = codec_sms.decode_alarm(text, self.key_for, None, now)
        if isinstance(alarm, Rejection):
            self._reject(alarm, "alarm", masked)
            return True
        window = self._window(alarm["dev"])
        r = window.check(alarm["boot"], alarm["seq"])
        if r is not None:
            self._reject(r, "alarm", masked)
            return True
        try:
            self.sink.on_alarm(alarm, via="sms", sender_masked=masked)
        except Exception as e:
            return self._sink_failed("alarm", e)
        window.accept(alarm["boot"], alarm["seq"])
        self._save_window(alarm["dev"], window)
        self.stats["alarms"] += 1
        event(log, logging.INFO, "SOS by SMS", dev=alarm["dev"], boot=alarm["boot"], seq=alarm["seq"], sender=masked)
        self._reply_to(sender, "SIAGA112 OK %s %d %d" % (alarm["dev"], alarm["boot"], alarm["seq"]))
        return True

    def _aml(self, loc: dict, sender: str, masked: str, now: int) -> bool:
        try:
            self.sink.on_aml(loc, sender, masked, now)
        except Exception as e:
            return self._sink_failed("AML", e)
        self.stats["aml"] += 1
        event(log, logging.INFO, "AML location", sender=masked, **aml.log_fields(loc))
        return True  # AML is machine-sent by the handset during a 112 call: no reply

    def _window(self, dev: str) -> ReplayWindow:
        w = self.windows.get(dev)
        if w is None:
            st = self.replay.load(dev)
            w = ReplayWindow(*st) if st else ReplayWindow()
            self.windows[dev] = w
        return w

    def _save_window(self, dev: str, window: ReplayWindow) -> None:
        # The alarm is stored already and the window holds in memory; a store that failed only
        # lets this seq pass once more after a restart, where the alarm's dedupe key folds it.
        try:
            self.replay.save(dev, window.state())
        except Exception as e:
            self.stats["replay_save_errors"] += 1
            event(log, logging.ERROR, "replay window not saved", dev=dev, reason=repr(e)[:160])

    def _reject(self, r: Rejection, kind: str, masked: str) -> None:
        self.stats["rejected"] += 1
        event(log, logging.WARNING, "SMS rejected", kind=kind, code=r.code, reason=r.reason, sender=masked)
        try:
            self.sink.on_rejected(r, kind, masked)
        except Exception:
            log.exception("sink.on_rejected failed")

    def _sink_failed(self, what: str, e: Exception) -> bool:
        self.stats["sink_errors"] += 1
        event(log, logging.ERROR, "sink refused the %s (%s); kept on the modem for the next sweep" % (what, repr(e)[:160]))
        return False

    def _reply_to(self, number: str, text: str) -> None:
        if not self.reply or not number or not number.lstrip("+").isdigit():
            return  # alphanumeric senders cannot be answered
        # A flood from one number (a prank, a looping device) must not become a flood of replies
        # paid by the center: at most replies_per_hour per sender.
        now = time.monotonic()
        sent = [t for t in self._replied.get(number, []) if now - t < 3600]
        if len(sent) >= self.replies_per_hour:
            self.stats["replies_skipped"] += 1
            return
        self._replied[number] = sent + [now]
        if len(self._replied) > 10000:
            self._replied.clear()
        try:
            self.modem.send_sms(number, text, timeout_ms=30000)
            self.stats["replies"] += 1
        except AtError as e:
            event(log, logging.WARNING, "confirmation SMS failed", to=mask_phone(number), reason=str(e)[:80])
