# The public SOS button: keys -> alarms in the durable outbox -> MQTT until the fleet server acks;
# acks and commands -> what the LED and buzzer tell the citizen. One step() does a bounded amount
# of work and never blocks, so the keys are sampled every tick_ms even during an outage.
import gc
import time
from protocols import codec_json, topics
from protocols.messages import FEEDBACK
from firmware.app import config as configuration, updates
from firmware.app.button import Key, SOS, STUCK
from firmware.app.feedback import Feedback
from firmware.app.session import Session
from firmware.hal import log

FW = "button-1.0.0"


def _unhex(text):
    # binascii is optional on small builds; the config parser has checked the digits already
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


class PanicButton(Session):
    KIND = "button"
    FW = FW
    configuration = configuration

    def __init__(self, board):
        Session.__init__(self, board)
        self.fb = Feedback(board.leds, board.buzzer, time.ticks_ms, board.on_pattern)
        self.current = None      # the alarm the LED speaks about: {"key","acked","state","inc","at"}
        self.folds = {}          # (trig, cat) -> {"key", "last", "presses"}: presses fold into it
        self.resend_at = None    # earliest due time; None: scan on the next step
        self.tamper_open = False
        self.stats = {"alarms": 0, "sent": 0, "acks": 0, "bad_input": 0, "sms": 0}
        self.timing = None       # ticks when the last hold reached hold_ms, until its alarm left
        self.latencies = []      # press-to-publish, ms: hold reached -> bytes handed to the socket
        self.sms = None          # SmsUplink when config.json arms SOS by SMS (sms_after_s)
        self.sms_due = {}        # outbox key -> ticks when it goes by SMS if still not acked

    # ---- boot ---------------------------------------------------------------------------------
    def start(self):
        # Collect before the heap is full, not when an allocation fails: a fragmented heap is what
        # runs a small device out of memory (MicroPython's recommended gc.threshold setting).
        gc.collect()
        gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
        self.fb.show("selftest")
        if self.cfg_error:
            log("error", "config_bad", why=self.cfg_error, effect="showing config_error; not connecting")
            return
        c = self.cfg
        self._open_outbox()
        self.keys = []
        for name in self.b.keys:
            cat = configuration.key_category(c, name)
            if cat is None:
                log("warn", "key_unassigned", key=name, effect="ignored")
                continue
            self.keys.append((self.b.keys[name], Key(name, cat, c["hold_ms"], c["debounce_ms"], c["stuck_s"] * 1000)))
        self.tamper_key = Key("tamper", c["tamper_category"], c["debounce_ms"], c["debounce_ms"], 1 << 29) \
            if self.b.tamper is not None else None
        dev = c["dev"]
        self.topic_alarm = topics.up(dev, "alarm")
        if c["tls"]:
            ca = self.b.flash.read(c["ca_file"]) if c["ca_file"] else None
            if c["ca_file"] and ca is None:
                self.cfg_error = "ca_file %s is not on flash" % c["ca_file"]
                log("error", "config_bad", why=self.cfg_error, effect="not connecting: an unverified broker could forge acks")
                return
            if ca is None:
                log("warn", "tls_unverified", effect="the broker's certificate is not checked; provision ca_file")
            self.b.net.ca = ca
        if c["sms_after_s"] is not None or c["link"] == "gsm":
            if self.b.modem is None:
                # The port fell back to its own network or to none: say so rather than run half-armed.
                self.cfg_error = "%s but this board has no modem" % (
                    "sms_after_s is set" if c["sms_after_s"] is not None else "link is gsm")
                log("error", "config_bad", why=self.cfg_error, effect="showing config_error; not connecting")
                return
        if c["sms_after_s"] is not None:
            from firmware.app.modem_sos import SmsUplink
            self.sms = SmsUplink(self.b.modem, c["center_number"], _unhex(c["sms_key"]), log=log)
        self._open_link([(topics.subscription_down(dev), 1), (topics.SERVER_STATUS, 1)])
        self.ota = updates.Updates(self.b, self.link, dev, self.KIND, FW, log, c["link"] == "gsm")
        now = time.ticks_ms()
        for key in self.outbox.pending():
            self.due[key] = now
            self._arm_sms(key, now)   # an alarm from before a reboot still deserves its fallback
        self.next_health = time.ticks_add(now, c["heartbeat_s"] * 1000)
        log("info", "boot", dev=dev, boot=self.boot, fw=self.fw, port=self.b.name, pending=len(self.outbox),
            site=c["site"])

    # ---- the loop (firmware/app/session.py runs it) ------------------------------------------
    def _show_error(self):
        self._show(time.ticks_ms())
        self.fb.tick()

    def _work(self, now):
        self._sample(now)
        self.link.step()
        if self.timing is not None:
            self._note_latency()
        self._resend(now)
        self._sms_fallback(now)
        self._heartbeat(now)
        self.ota.step(now, self.stats["sent"])
        self._show(now)
        self.fb.tick()

    def _note_latency(self):
        # Counted only when the alarm left in the same step it was raised (link up, socket took
        # it); an alarm raised during an outage waits for the link, which is not press latency.
        if not self.link.out:
            if len(self.latencies) >= 100:
                self.latencies.pop(0)
            self.latencies.append(time.ticks_diff(time.ticks_ms(), self.timing))
        self.timing = None

    # ---- keys and tamper ----------------------------------------------------------------------
    def _sample(self, now):
        stuck_before = self._any_stuck()
        for pin, key in self.keys:
            ev = key.update(pin.value(), now)
            if ev == SOS:
                self._raise("button", key.category, now, time.ticks_add(key.pressed_at, key.hold_ms))
            elif ev == STUCK:
                # The hold already raised this episode's one alarm; a jammed or taped-down key adds
                # no second one (one alarm and a health flag, not a flood). The flag goes
                # out at once below, so the technician's list shows it before the next heartbeat.
                log("warn", "key_stuck", key=key.name, held_s=self.cfg["stuck_s"])
            elif ev == "short":
                log("info", "press_too_short", key=key.name, hold_ms=key.hold_ms)
        if self._any_stuck() != stuck_before:
            self._send_health(now)  # the stuck flag changed: tell the server now, not at the heartbeat
        if self.tamper_key is not None:
            ev = self.tamper_key.update(self.b.tamper.value(), now)
            was = self.tamper_open
            self.tamper_open = self.tamper_key.level == 1
            if ev == SOS:
                self._raise("tamper", self.tamper_key.category, now)
            if was != self.tamper_open:
                self._send_health(now)

    def _any_stuck(self):
        for _pin, key in self.keys:
            if key.stuck:
                return True
        return False

    def _raise(self, trig, cat, now, since=None):
        c = self.cfg
        fold = self.folds.get((trig, cat))
        if fold is not None and c["active_s"] > 0:
            unacked = fold["key"] in self.outbox.records
            recent = time.ticks_diff(now, fold["last"]) < c["active_s"] * 1000
            if unacked or recent:
                fold["presses"] += 1
                fold["last"] = now
                if unacked:
                    msg = self.outbox.message(fold["key"])
                    if msg is not None:
                        msg["presses"] = min(fold["presses"], 100000)
                        self.outbox.put(msg)
                        self.due[fold["key"]] = now
                        self.resend_at = None
                log("info", "alarm_folded", boot=fold["key"][0], seq=fold["key"][1], presses=fold["presses"])
                return
        seq = self.outbox.next_seq()
        msg = {"v": 1, "t": "alarm", "dev": c["dev"], "boot": self.boot, "seq": seq, "ts": self._ts(),
               "cat": cat, "trig": trig, "presses": 1, "lat": c["lat"], "lon": c["lon"], "src": "fixed",
               "acc": c["acc_m"], "age": None}
        self.outbox.put(msg)   # on flash before the first send: a power cut now loses nothing
        key = (self.boot, seq)
        self.due[key] = now
        self.resend_at = None
        self.folds[(trig, cat)] = {"key": key, "last": now, "presses": 1}
        self.current = {"key": key, "acked": False, "state": "waiting", "inc": None, "at": now}
        self.stats["alarms"] += 1
        log("info", "alarm_raised", boot=self.boot, seq=seq, trig=trig, cat=cat)
        self._arm_sms(key, now)
        self._resend(now)
        if since is not None and self.link.is_up():
            self.timing = since

    # ---- uplink -------------------------------------------------------------------------------
    def _on_up(self):
        self.link.publish(self.topic_status, self._status("online"), 1, True)
        now = time.ticks_ms()
        for key in self.due:
            self.due[key] = now
        self.resend_at = None
        self._send_health(now)
        self.ota.on_up()

    def _resend(self, now):
        if self.link is None or not self.link.is_up():
            return
        # Most steps have nothing due: skip the scan, which would allocate a sorted list of every
        # pending key each tick (garbage that fragments a small heap during a storm).
        if self.resend_at is not None and time.ticks_diff(now, self.resend_at) < 0:
            return
        budget = self.cfg["publish_burst"]
        period = self.cfg["resend_s"] * 1000
        self.resend_at = None
        for key in self.outbox.pending():   # oldest first
            due = self.due.get(key, now)
            if budget > 0 and time.ticks_diff(now, due) >= 0:
                data = self.outbox.read(key)
                if data is None:
                    continue
                if self.link.publish(self.topic_alarm, data, 1, False) is None:
                    budget = 0  # socket queue full: the rest waits for a later step
                    due = now
                else:
                    due = time.ticks_add(now, period)
                    self.due[key] = due
                    self.stats["sent"] += 1
                    budget -= 1
            if self.resend_at is None or time.ticks_diff(due, self.resend_at) < 0:
                self.resend_at = due

    # ---- SOS by SMS ---------------------------------------------------------------------------
    def _arm_sms(self, key, now):
        if self.sms is not None:
            self.sms_due[key] = time.ticks_add(now, self.cfg["sms_after_s"] * 1000)

    def _sms_fallback(self, now):
        """An alarm MQTT could not get acked within sms_after_s goes once as the signed SMS. It
        stays in the outbox and keeps going over MQTT until the server's ack: the server dedupes
        the two copies by (dev, boot, seq). One SMS per step at most: a send blocks the loop for
        the modem's AT exchange (seconds), and the keys must be sampled between sends."""
        if not self.sms_due:
            return
        for key in self.sms_due:
            if key not in self.outbox.records:
                del self.sms_due[key]          # acked over MQTT in time: no SMS
                return
            if time.ticks_diff(now, self.sms_due[key]) < 0:
                continue
            msg = self.outbox.message(key)
            if msg is None:
                del self.sms_due[key]
                return
            log("info", "sos_sms_due", boot=key[0], seq=key[1], after_s=self.cfg["sms_after_s"],
                mqtt="up" if self.link.is_up() else "down")
            if self.sms.send_alarm(msg) is not None:
                del self.sms_due[key]          # once per alarm
                self.stats["sms"] += 1
            else:
                # No network for SMS either: the modem's own retries are spent; try again later.
                self.sms_due[key] = time.ticks_add(time.ticks_ms(), self.cfg["resend_s"] * 1000)
            return

    def _heartbeat(self, now):
        if time.ticks_diff(now, self.next_health) >= 0:
            self._send_health(now)

    def _send_health(self, now):
        self.next_health = time.ticks_add(now, self.cfg["heartbeat_s"] * 1000)
        if self.link is None or not self.link.is_up():
            return
        mv = self.b.battery.read_mv() if self.b.battery is not None else None
        pct = None
        if mv is not None:
            # a Li-ion cell under load: 3,300 mV is 0 %, 4,200 mV is 100 % (literals: the compiler
            # folds them, where named constants would cost the image their names)
            pct = max(0, min(100, (mv - 3300) * 100 // (4200 - 3300)))
            mv = max(0, min(30000, mv))
        rssi = self.b.net.rssi() if hasattr(self.b.net, "rssi") else None
        msg = {"v": 1, "t": "health", "dev": self.cfg["dev"], "boot": self.boot, "seq": self.outbox.next_seq(),
               "ts": self._ts(), "batt": mv, "pct": pct, "rssi": rssi, "tamper": self.tamper_open,
               "stuck": self._any_stuck(), "uptime": max(0, time.ticks_diff(now, self.t0)) // 1000,
               "fw": self.fw, "heap": gc.mem_free(), "outbox": len(self.outbox), "sec": self.link.security()}
        self.link.publish(topics.up(self.cfg["dev"], "health"), codec_json.encode(msg), 1, False)

    def _send_cmdres(self, msg):
        self.link.publish(topics.up(self.cfg["dev"], "cmdres"), codec_json.encode(msg), 1, False)

    # ---- downlink -----------------------------------------------------------------------------
    def _on_ack(self, msg):
        key = (msg["boot"], msg["seq"])
        if not self.outbox.ack(msg["boot"], msg["seq"]):
            log("info", "ack_unknown", boot=key[0], seq=key[1], effect="nothing pending under it; ignored")
            return
        self.due.pop(key, None)
        self.sms_due.pop(key, None)
        self.stats["acks"] += 1
        now = time.ticks_ms()
        for fk in self.folds:
            if self.folds[fk]["key"] == key:
                self.folds[fk]["last"] = now
        if self.current is None:
            # An alarm from before a reboot: the citizen still deserves to see it was received.
            self.current = {"key": key, "acked": False, "state": "waiting", "inc": None, "at": now}
        if self.current["key"] == key:
            self.current["acked"] = True
            self.current["inc"] = msg["inc"]
            if self.current["state"] == "waiting":
                self.current["state"] = "received"
        log("info", "alarm_acked", boot=key[0], seq=key[1], inc=msg["inc"], pending=len(self.outbox))

    def _op(self, cmd):
        if cmd["op"] == "feedback":
            state = cmd["state"]
            if state == "idle":
                self.current = None
                self.folds = {}
                return ("ok", None)
            if self.current is None:
                self.current = {"key": None, "acked": True, "state": state, "inc": cmd.get("inc"),
                                "at": time.ticks_ms()}
            self.current["state"] = state
            self.current["at"] = time.ticks_ms()
            if state == "closed":
                self.folds = {}  # a press after "closed" is a new emergency
            return ("ok", None)
        return Session._op(self, cmd)

    def _configured(self, changes):
        for _pin, key in self.keys:
            key.hold_ms = self.cfg["hold_ms"]
        self.next_health = time.ticks_add(time.ticks_ms(), self.cfg["heartbeat_s"] * 1000)

    # ---- feedback -----------------------------------------------------------------------------
    def _show(self, now):
        c = self.cfg
        if time.ticks_diff(now, self.t0) < (c["selftest_ms"] if c else 1500):
            return self.fb.show("selftest")
        if self.cfg_error:
            return self.fb.show("config_error")
        cur = self.current
        if cur is not None:
            st = cur["state"]
            if st == "closed":
                if time.ticks_diff(now, cur["at"]) < c["closed_show_s"] * 1000:
                    return self.fb.show("closed")
                self.current = None
            elif st in FEEDBACK and st != "idle":
                return self.fb.show(st)
        if not self.link.is_up():
            return self.fb.show("no_connection")
        if len(self.outbox):
            return self.fb.show("waiting")
        return self.fb.show("idle")
