# The device session the button (panic_button.py) and the tracker (tracker.py) both run: the loop,
# the MQTT link to the fleet server, the downlink (acks, commands, the server's status), the commands
# every device understands (dedupe, expiry, config, reboot); firmware/main.py runs it, restarting it
# after a reboot or a failure.
#
# The loop: step, feed the watchdog only after a healthy step, then wait on the network up to a
# tick. A step that raises is logged and counted; after FAILED_STEPS_BEFORE_RESET failures in a row
# the watchdog is starved, so a device stuck in a bug resets instead of pretending to be alive. A
# commanded reboot waits for reboot_at (the command's result leaves first).
#
# An app subclasses Session and sets KIND, FW and `configuration` (its config module: load,
# SCHEMA, COMMAND_KEYS); it may set self.ota (firmware/app/updates.py), which then receives the
# downlink's ota topic; it provides _work(now), _show_error(), _on_ack(msg) (a decoded ack),
# _send_cmdres(msg), _configured(changes) and, for commands of its own, _op(cmd).
import sys
import time
from protocols import codec_json, topics
from protocols.messages import TS_MIN
from protocols.rejection import Rejection
from firmware.app import config, ota_boot
from firmware.app.mqtt_link import MqttLink
from firmware.app.outbox import Outbox
from firmware.hal import log

FAILED_STEPS_BEFORE_RESET = 20
RECENT_COMMANDS = 8        # QoS 1 may redeliver a command; its id is answered, not re-run


class Session:

    def __init__(self, board):
        self.b = board
        self.cfg, self.cfg_error = self.configuration.load(board.flash)
        self.t0 = time.ticks_ms()
        self.link = None
        self.outbox = None
        self.boot = 0
        self.due = {}              # alarm outbox key -> ticks of its next (re)send
        self.commands = []         # [(id, result or None while the crew decides)] most recent last
        self.server_epoch = None
        self.reboot_at = None
        self.failed_steps = 0
        self.fw = self.KIND + "-" + ota_boot.version(board.flash, self.FW)   # the release it runs
        self.ota = None            # firmware.app.updates.Updates where the app takes updates

    # ---- boot ---------------------------------------------------------------------------------
    def _open_outbox(self):
        self.outbox = Outbox(self.b.flash, log)
        self.boot = self.outbox.start()

    def _open_link(self, subscriptions, on_puback=None):
        c = self.cfg
        dev = c["dev"]
        self.topic_ack = topics.down(dev, "ack").encode()   # as the link hands topics over
        self.topic_cmd = topics.down(dev, "cmd").encode()
        self.topic_status = topics.up(dev, "status")
        # A net that carries its own MQTT client (a SIM7600: protocols.at.data.CmqttNet) names the
        # link class to use; every other net carries this firmware's MqttLink.
        self.link = getattr(self.b.net, "Link", MqttLink)(self.b.net, {
            "client_id": dev, "user": c["user"], "password": c["password"], "host": c["host"],
            "port": c["port"], "tls": c["tls"], "keepalive_s": c["keepalive_s"],
            "will_topic": self.topic_status, "will_payload": self._status("offline"),
            "subscriptions": subscriptions,
            "backoff_min_ms": c["backoff_min_ms"], "backoff_max_ms": c["backoff_max_ms"],
            "connect_timeout_ms": c["connect_timeout_ms"],
        }, log, self._rand, on_message=self._on_message, on_up=self._on_up, on_puback=on_puback)

    # ---- the loop -----------------------------------------------------------------------------
    def run(self):
        tick = self.cfg["tick_ms"] if self.cfg else 50
        while True:
            if self.step():
                self.b.watchdog.feed()
            self.b.net.wait(tick, self.link.sock if self.link else None)

    def step(self):
        """One pass of the loop. True when it was healthy (the watchdog may be fed)."""
        try:
            if self.cfg_error:
                self._show_error()
                return True
            now = time.ticks_ms()
            self._work(now)
            if self.reboot_at is not None and time.ticks_diff(now, self.reboot_at) >= 0:
                self.link.close()
                log("info", "reboot", why="commanded")
                self.b.reset()
            self.failed_steps = 0
            return True
        except Exception as e:
            # A bug must not freeze the keys; but a loop that keeps failing must let the watchdog
            # reset the device, so it is fed only after healthy steps.
            self.failed_steps += 1
            log("error", "step_failed", error=repr(e)[:120], consecutive=self.failed_steps)
            sys.print_exception(e)
            return self.failed_steps < FAILED_STEPS_BEFORE_RESET

    def _rand(self, n):
        # Jitter for the link's reconnect backoff.
        if n <= 0:
            return 0
        try:
            import random
            return random.getrandbits(30) % n
        except Exception:
            return time.ticks_ms() % n

    # ---- uplink -------------------------------------------------------------------------------
    def _ts(self):
        t = int(self.b.clock.time())
        if t < TS_MIN:
            # The wire needs a real time; an unsynced clock still must not hold back an SOS.
            log("warn", "clock_unsynced", effect="sending the earliest valid time")
            return TS_MIN
        return t

    def _status(self, state):
        return codec_json.encode({"v": 1, "t": "status", "dev": self.cfg["dev"], "boot": self.boot, "seq": 0,
                                  "state": state, "kind": self.KIND, "fw": self.fw})

    def _cmdres(self, cmd_id, res, why=None):
        msg = {"v": 1, "t": "cmdres", "dev": self.cfg["dev"], "boot": self.boot, "seq": self.outbox.next_seq(),
               "ts": self._ts(), "id": cmd_id, "res": res}
        if why:
            msg["why"] = why[:80]
        self._send_cmdres(msg)

    # ---- downlink -----------------------------------------------------------------------------
    def _on_message(self, topic, payload):
        try:
            if topic == self.topic_ack:
                msg = self._decode(topic, payload, "ack", "ack_rejected")
                if msg is not None:
                    self._on_ack(msg)
            elif topic == self.topic_cmd:
                msg = self._decode(topic, payload, "cmd", "command_rejected")
                if msg is not None:
                    self._on_command(msg)
            elif topic == topics.SERVER_STATUS.encode():
                self._on_server_status(payload)
            elif self.ota is not None and topic == self.ota.topic:
                self.ota.on_message(payload)
            else:
                self._bad("foreign_topic", "not a topic this device reads", topic)
        except Exception as e:
            # Whatever arrives, the keys keep working.
            self._bad("handler_error", repr(e)[:80], topic)

    def _decode(self, topic, payload, t, event):
        """The downlink message of type t, or None once `event` is logged with the reason."""
        msg = codec_json.decode(payload, topic)
        if isinstance(msg, Rejection):
            self._bad(event, msg.code + ": " + msg.reason, topic, payload)
            return None
        if msg["t"] != t:
            self._bad(event, "not a %s message" % t, topic)
            return None
        return msg

    def _bad(self, event, why, topic=b"", payload=b""):
        self.stats["bad_input"] += 1
        try:
            t = bytes(topic).decode()[:80]
        except Exception:
            t = "?"
        # The first bytes, escaped, so the technician sees what arrived without a flood.
        log("warn", event, why=why, topic=t, head=repr(bytes(payload[:32])), size=len(payload), effect="ignored")

    def _on_server_status(self, payload):
        st = codec_json.decode_server_status(payload)
        if isinstance(st, Rejection):
            self._bad("server_status_rejected", st.reason, topics.SERVER_STATUS)
            return
        if st["state"] != "online":
            return
        if self.server_epoch is not None and st["epoch"] != self.server_epoch:
            # A restarted fleet server lost its view of who is online: tell it again.
            log("info", "server_restarted", epoch=st["epoch"][:24], effect="re-announcing")
            self._on_up()
        self.server_epoch = st["epoch"]

    # ---- commands -----------------------------------------------------------------------------
    def _on_command(self, cmd):
        for cid, res in self.commands:
            if cid == cmd["id"]:
                if res is not None:          # QoS 1 redelivery: answer again, do not act again
                    self._cmdres(cid, res[0], res[1])
                return
        res = self._execute(cmd)
        log("info", "command", id=cmd["id"], op=cmd["op"], res=res[0] if res else "pending",
            why=res[1] or "" if res else "")
        self.commands.append((cmd["id"], res))
        if len(self.commands) > RECENT_COMMANDS:
            self.commands.pop(0)
        if res is not None:
            self._cmdres(cmd["id"], res[0], res[1])

    def _execute(self, cmd):
        """The command's (result, why), or None when the app answers it later (a dispatch order
        the crew accepts)."""
        if self._ts() > cmd["exp"]:
            return ("expired", "arrived after it expired")
        op = cmd["op"]
        if op == "config":
            conf = self.configuration
            changes = {}
            new = cmd["cfg"]
            for k in new:
                name = conf.COMMAND_KEYS.get(k)
                if name is None:
                    return ("rejected", "%s is not a %s setting" % (k, self.KIND))
                d, kind, lo, hi = conf.SCHEMA[name]
                why = config._check(name, kind, lo, hi, new[k])
                if why:
                    return ("rejected", why)
                changes[name] = new[k]
            config.save_overrides(self.b.flash, changes)
            self.cfg.update(changes)
            self._configured(changes)
            return ("ok", None)
        if op == "reboot":
            self.reboot_at = time.ticks_add(time.ticks_ms(), 300)  # let the answer leave first
            return ("accepted", None)
        return self._op(cmd)

    def _op(self, cmd):
        return ("rejected", "a %s has no %s" % (self.KIND, cmd["op"]))

