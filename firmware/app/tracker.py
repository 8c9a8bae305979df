# The vehicle tracker: GPS UART -> NMEA fixes -> adaptive position reports; crew status keys;
# dispatch orders with an accept key; a crew SOS key; the ignition input. One step() does a
# bounded amount of work and never blocks, like the panic button's loop.
#
# The board is a firmware.hal.tracker.TrackerBoard (a port builds it: board("tracker")).
#
# What goes out, and how it is kept until delivered:
#   alarm (crew SOS)   firmware.app.outbox until the fleet server's ack (never lost)
#   crew, cmdres       tracker_store critical lane until PUBACK (never dropped)
#   pos                tracker_store position lane until PUBACK (thinned when full offline)
#   health, status     sent when the link is up (a later one replaces a lost one)
import gc
import json
import time
from protocols import codec_json, topics
from protocols.messages import TS_MIN, CREW
from protocols.nmea import parse as nmea
from firmware.app import tracker_config as configuration, updates
from firmware.app.button import Key, SOS
from firmware.app.session import Session
from firmware.app.tracker_report import ReportPolicy
from firmware.app.tracker_store import Backlog, CRITICAL, POSITION
from firmware.hal import log

FW = "tracker-1.0.0"
GPS_READ = 512             # bytes taken from the UART per step: 9600 baud fills ~960 a second
EPOCH_IDLE_MS = 300        # a receiver sends an epoch in one burst: this much silence ends it
CREW_FILE = "crew.json"

# (on ms, off ms, buzzer on the "on" phase) per indicator state; docs/tracker.md lists them.
PATTERNS = {
    "selftest": (500, 0, True),
    "order": (150, 150, True),         # a dispatch order waits for the accept key
    "sos": (80, 80, False),            # crew SOS not yet acknowledged by the center
    "enroute": (1000, 0, False),       # order accepted: steady
    "no_connection": (100, 1900, False),
    "no_fix": (100, 400, False),
    "idle": (50, 2950, False),
}


class Indicator:
    """One LED and a buzzer playing one of PATTERNS; tick() advances it without blocking."""

    def __init__(self, led, buzzer):
        self.led = led
        self.buzzer = buzzer
        self.name = None
        self.on = False
        self.until = time.ticks_ms()
        self.shown = []

    def show(self, name):
        if name != self.name:
            self.name = name
            self.on = False
            self.until = time.ticks_ms()
            if len(self.shown) >= 32:
                self.shown.pop(0)
            self.shown.append(name)
        self.tick()

    def tick(self):
        now = time.ticks_ms()
        if self.name is None or time.ticks_diff(now, self.until) < 0:
            return
        on_ms, off_ms, beep = PATTERNS[self.name]
        self.on = not self.on or off_ms == 0
        self.until = time.ticks_add(now, on_ms if self.on else off_ms)
        if self.led is not None:
            self.led.value(1 if self.on else 0)
        if self.buzzer is not None:
            self.buzzer.value(1 if (self.on and beep) else 0)


class Tracker(Session):
    KIND = "tracker"
    FW = FW
    configuration = configuration

    def __init__(self, board):
        Session.__init__(self, board)
        self.ind = Indicator(board.leds.get("led"), board.buzzer)
        self.backlog = None
        self.reader = nmea.NmeaReader()
        self.asm = None
        self.policy = None
        self.fix = None            # the latest fix (any, reported or not)
        self.fix_ms = None         # ticks_ms when it arrived
        self.gps_ms = None         # ticks_ms of the last UART bytes, until the epoch is closed
        self.crew = None
        self.ign = None
        self.orders = []           # dispatch orders not yet accepted: [{"id", "inc", ..., "exp"}]
        self.active = None         # the accepted order
        self.inflight = {}         # packet id -> (lane, key) of a backlog record
        self.sos_key = None
        self.stats = {"fixes": 0, "reported": 0, "nmea_rejected": 0, "sent": 0, "alarms_sent": 0, "acks": 0,
                      "bad_input": 0, "orders": 0}

    # ---- boot ---------------------------------------------------------------------------------
    def start(self):
        self.ind.show("selftest")
        if self.cfg and self.cfg["link"] == "gsm" and self.b.modem is None:
            self.cfg_error = "link is gsm but this board has no modem"
        if self.cfg and not self.cfg_error and self.cfg["tls"]:
            ca = self.b.flash.read(self.cfg["ca_file"]) if self.cfg["ca_file"] else None
            if self.cfg["ca_file"] and ca is None:
                self.cfg_error = "ca_file %s is not on flash" % self.cfg["ca_file"]
            elif ca is None:
                log("warn", "tls_unverified", effect="the broker's certificate is not checked; provision ca_file")
            self.b.net.ca = ca
        if self.cfg_error:
            log("error", "config_bad", why=self.cfg_error, effect="not connecting")
            return
        c = self.cfg
        self.asm = nmea.EpochAssembler(c["uere_m"])
        self.policy = ReportPolicy(c["report_s"], c["turn_deg"], c["move_m"], c["parked_s"], c["moving_cms"])
        self._open_outbox()
        self.backlog = Backlog(self.b.flash, log, c["pos_max"])
        self.backlog.start()
        self.keys = []
        for name in self.b.keys:
            if name == "sos":
                hold = c["sos_hold_ms"]
            elif name == "accept" or name in CREW:
                hold = 0
            else:
                log("warn", "key_unknown", key=name, effect="ignored")
                continue
            self.keys.append((self.b.keys[name], Key(name, c["category"], hold, c["debounce_ms"], 1 << 29)))
        self.ign_key = Key("ignition", c["category"], 0, c["debounce_ms"] * 10, 1 << 29) \
            if getattr(self.b, "ignition", None) is not None else None
        self._load_crew()
        dev = c["dev"]
        self._open_link([(topics.subscription_down(dev), 1)], self._on_puback)
        self.ota = updates.Updates(self.b, self.link, dev, self.KIND, FW, log, c["link"] == "gsm")
        now = time.ticks_ms()
        for key in self.outbox.pending():
            self.due[key] = now
        self.next_health = time.ticks_add(now, c["heartbeat_s"] * 1000)
        log("info", "boot", dev=dev, boot=self.boot, fw=self.fw, port=self.b.name, alarms=len(self.outbox),
            backlog=len(self.backlog), crew=self.crew or "unknown")

    def _load_crew(self):
        text = self.b.flash.read(CREW_FILE)
        try:
            v = json.loads(text) if text else None
            self.crew = v if v in CREW else None
        except Exception:
            self.crew = None

    # ---- the loop (firmware/app/session.py runs it) ------------------------------------------
    def _show_error(self):
        self.ind.tick()

    def _work(self, now):
        self._gps(now)
        self._sample(now)
        self.link.step()
        self._expire_orders()
        self._send(now)
        if time.ticks_diff(now, self.next_health) >= 0:
            self._send_health(now)
        self.ota.step(now, self.stats["alarms_sent"])   # an update waits while an SOS does
        self._show(now)

    # ---- GPS ----------------------------------------------------------------------------------
    def _gps(self, now):
        data = self.b.gps.read(GPS_READ) if self.b.gps is not None else None
        if not data:
            # The assembler closes an epoch when the next one starts; closing it on the silence
            # after the burst reports the fix ~0.7 s sooner, and the last one at all.
            if self.gps_ms is not None and time.ticks_diff(now, self.gps_ms) >= EPOCH_IDLE_MS:
                self.gps_ms = None
                fix = self.asm.flush()
                if fix is not None:
                    self._on_fix(fix, now)
            return
        self.gps_ms = now
        for s in self.reader.feed(data):
            if type(s) is not dict:
                self.stats["nmea_rejected"] += 1
                continue
            fix = self.asm.feed(s)
            if fix is not None:
                self._on_fix(fix, now)

    def _on_fix(self, fix, now):
        self.fix = fix
        self.fix_ms = now
        self.stats["fixes"] += 1
        why = self.policy.decide(fix, now, self.ign)
        if why is None:
            return
        ts = fix["ts"] if fix["ts"] is not None and fix["ts"] >= TS_MIN else self._ts()
        msg = {"v": 1, "t": "pos", "dev": self.cfg["dev"], "boot": self.boot, "seq": self.outbox.next_seq(),
               "ts": ts, "lat": fix["lat"], "lon": fix["lon"], "acc": fix["acc"], "spd": fix["spd"],
               "hdg": fix["hdg"], "alt": fix["alt"], "fixq": fix["fixq"], "sats": fix["sats"],
               "hdop": fix["hdop"]}
        if self._queue(POSITION, msg):
            self.stats["reported"] += 1

    def _fresh_fix(self, now):
        """(fix, age s) if the last fix is fresh enough to vouch for an SOS, else (None, None)."""
        if self.fix is None:
            return None, None
        age = time.ticks_diff(now, self.fix_ms) // 1000
        if age > self.cfg["fix_fresh_s"]:
            return None, None
        return self.fix, age

    # ---- keys and ignition --------------------------------------------------------------------
    def _sample(self, now):
        for pin, key in self.keys:
            if key.update(pin.value(), now) != SOS:
                continue
            if key.name == "sos":
                self._sos(now)
            elif key.name == "accept":
                self._accept()
            else:
                self._set_crew(key.name, "key")
        if self.ign_key is not None:
            self.ign_key.update(self.b.ignition.value(), now)
            ign = self.ign_key.level == 1
            if ign != self.ign:
                first = self.ign is None
                self.ign = ign
                log("info", "ignition", on=ign)
                if not first and self.crew is not None:
                    self._crew_message()

    def _set_crew(self, status, by):
        self.crew = status
        self.b.flash.write(CREW_FILE, json.dumps(status).encode())
        log("info", "crew", status=status, by=by)
        self._crew_message()

    def _crew_message(self):
        msg = {"v": 1, "t": "crew", "dev": self.cfg["dev"], "boot": self.boot, "seq": self.outbox.next_seq(),
               "ts": self._ts(), "crew": self.crew, "ign": self.ign}
        self._queue(CRITICAL, msg)

    def _sos(self, now):
        fix, age = self._fresh_fix(now)
        c = self.cfg
        seq = self.outbox.next_seq()
        msg = {"v": 1, "t": "alarm", "dev": c["dev"], "boot": self.boot, "seq": seq, "ts": self._ts(),
               "cat": c["category"], "trig": "crew", "presses": 1,
               "lat": fix["lat"] if fix else None, "lon": fix["lon"] if fix else None,
               "src": "gps" if fix else "none", "acc": fix["acc"] if fix else None, "age": age}
        self.outbox.put(msg)      # on flash before the first send
        self.due[(self.boot, seq)] = now
        log("info", "crew_sos", seq=seq, src=msg["src"], acc=msg["acc"], age=age)

    def _accept(self):
        if not self.orders:
            log("info", "accept_without_order", effect="ignored")
            return
        order = self.orders.pop(0)
        self.active = order
        log("info", "order_accepted", id=order["id"], inc=order["inc"])
        self._cmdres(order["id"], "accepted")
        self._set_crew("enroute", "accept")

    # ---- uplink -------------------------------------------------------------------------------
    def _queue(self, lane, msg):
        try:
            data = codec_json.encode(msg)
        except ValueError as e:
            # e.g. a receiver reporting an altitude beyond the schema: that fix is not sent
            self.stats["bad_input"] += 1
            log("error", "message_invalid", t=msg["t"], why=str(e)[:80], effect="not sent")
            return False
        self.backlog.put(lane, msg["seq"], msg["t"], data)
        return True

    def _on_up(self):
        self.inflight = {}      # the old session's packet ids are gone: resend what they carried
        self.link.publish(self.topic_status, self._status("online"), 1, True)
        now = time.ticks_ms()
        for key in self.due:
            self.due[key] = now
        self._send_health(now)
        self.ota.on_up()

    def _on_puback(self, pid):
        rec = self.inflight.pop(pid, None)
        if rec is not None:
            self.backlog.done(rec[0], rec[1])

    def _send(self, now):
        if not self.link.is_up():
            return
        budget = self.cfg["publish_burst"]
        dev = self.cfg["dev"]
        for key in self.outbox.pending():
            if budget <= 0:
                return
            if time.ticks_diff(now, self.due.get(key, now)) < 0:
                continue
            data = self.outbox.read(key)
            if data is None:
                continue
            if self.link.publish(topics.up(dev, "alarm"), data, 1, False) is None:
                return
            self.due[key] = time.ticks_add(now, self.cfg["resend_s"] * 1000)
            self.stats["sent"] += 1
            self.stats["alarms_sent"] += 1
            budget -= 1
        busy = {}
        for pid in self.inflight:
            busy[self.inflight[pid]] = True
        for lane, key in self.backlog.pending():
            if budget <= 0:
                return
            if (lane, key) in busy:
                continue
            data = self.backlog.read(lane, key)
            if data is None:
                self.backlog.done(lane, key)
                continue
            pid = self.link.publish(topics.up(dev, key[1]), data, 1, False)
            if pid is None:
                return
            self.inflight[pid] = (lane, key)
            self.stats["sent"] += 1
            budget -= 1

    def _send_health(self, now):
        self.next_health = time.ticks_add(now, self.cfg["heartbeat_s"] * 1000)
        if self.link is None or not self.link.is_up():
            return
        up = time.ticks_diff(now, self.t0) // 1000
        msg = {"v": 1, "t": "health", "dev": self.cfg["dev"], "boot": self.boot, "seq": self.outbox.next_seq(),
               "ts": self._ts(), "tamper": False, "stuck": False, "uptime": up if up > 0 else 0, "fw": self.fw,
               "heap": gc.mem_free(), "outbox": len(self.outbox) + len(self.backlog),
               "sec": self.link.security()}
        self.link.publish(topics.up(self.cfg["dev"], "health"), codec_json.encode(msg), 1, False)

    def _send_cmdres(self, msg):
        self._queue(CRITICAL, msg)

    # ---- downlink -----------------------------------------------------------------------------
    def _on_ack(self, msg):
        if self.outbox.ack(msg["boot"], msg["seq"]):
            self.due.pop((msg["boot"], msg["seq"]), None)
            self.stats["acks"] += 1
            log("info", "sos_acked", boot=msg["boot"], seq=msg["seq"], inc=msg["inc"])

    def _op(self, cmd):
        if cmd["op"] == "dispatch":
            # No answer yet: the crew's accept key answers it, or its expiry does.
            self.orders.append({"id": cmd["id"], "inc": cmd["inc"], "lat": cmd["lat"], "lon": cmd["lon"],
                                "cat": cmd["cat"], "note": cmd.get("note"), "exp": cmd["exp"]})
            self.stats["orders"] += 1
            log("info", "order", id=cmd["id"], inc=cmd["inc"], cat=cmd["cat"], exp=cmd["exp"])
            return None
        return Session._op(self, cmd)

    def _configured(self, changes):
        self.policy.configure(changes.get("report_s"), changes.get("turn_deg"), changes.get("move_m"),
                              changes.get("parked_s"))

    def _expire_orders(self):
        if not self.orders:
            return
        now = int(self.b.clock.time())   # an unsynced clock expires nothing (exp is a real time)
        for order in list(self.orders):
            if now > order["exp"]:
                self.orders.remove(order)
                log("info", "order_expired", id=order["id"])
                self._cmdres(order["id"], "expired", "not accepted before it expired")

    # ---- indicator ----------------------------------------------------------------------------
    def _show(self, now):
        if time.ticks_diff(now, self.t0) < 500:
            return self.ind.show("selftest")
        if self.orders:
            return self.ind.show("order")
        if len(self.outbox):
            return self.ind.show("sos")
        if not self.link.is_up():
            return self.ind.show("no_connection")
        if self.active is not None and self.crew == "enroute":
            return self.ind.show("enroute")
        fix, _age = self._fresh_fix(now)
        if fix is None:
            return self.ind.show("no_fix")
        return self.ind.show("idle")

    def state(self):
        """What the simulation's control channel reports."""
        return {
            "pattern": self.ind.name, "shown": list(self.ind.shown),
            "led": self.ind.led.value() if self.ind.led is not None else None,
            "buzzer": self.ind.buzzer.value() if self.ind.buzzer is not None else None,
            "link": self.link.state if self.link is not None else "none",
            "boot": self.boot, "crew": self.crew, "ign": self.ign,
            "orders": [o["id"] for o in self.orders],
            "active": self.active["id"] if self.active else None,
            "fix": self.fix, "alarms": len(self.outbox) if self.outbox is not None else 0,
            "backlog": len(self.backlog) if self.backlog is not None else 0,
            "thinned": self.backlog.thinned if self.backlog is not None else 0,
            "stats": self.stats, "cfg_error": self.cfg_error,
        }
