# Simulation port: the real firmware under the MicroPython unix binary, for tests and simulators.
#   SIAGA_APP      "button" (default) or "tracker"; overrides config.json's "app" (firmware/main.py)
#   SIAGA_FLASH    directory that plays the device's flash (config.json, counters, outbox)
#   SIAGA_CONTROL  127.0.0.1:<port> of the control channel (loopback TCP, one line per request)
#   SIAGA_KEYS     comma-separated key names (default "sos"; the tracker's crew keys for a tracker);
#                  SIAGA_TAMPER=0 for no tamper switch
#   SIAGA_MODEM    the simulated modem's pty (simulators.modem): with config.json "link": "gsm" the
#                  board's network is GsmNet over it, and the SOS-by-SMS fallback sends through it
#   SIAGA_GPS      the tracker's GPS UART: a pty fed by simulators.gps; SIAGA_IGNITION=1 engine on
#   SIAGA_HEAP_SAMPLE_MS  if set, collect garbage and sample the live heap that often (benchmark)
#   SIAGA_RESET_ON_SWITCH=1  a switch of release ends the process (exit status 75) like a device's
#                  reset, instead of importing the other release into the same heap (benchmark)
# Control requests (reply: one JSON line):
#   press <key> | release <key> | tamper 0|1 | batt <mV> | net 0|1 | state | heap_reset (the peak)
#   tracker only: ign 0|1 (the ignition) | gps <path> (plug the GPS UART into another pty; "-" unplugs)
import gc
import json
import os
import select
import socket
import time
from firmware.hal import Board, log, provisioned, wants_modem
from firmware.hal.flash import FlashDir
from firmware.hal.tracker import TrackerBoard
from firmware.hal.tcp import TcpNet
from firmware.ports import unix

RESET_EXIT = 75          # SIAGA_RESET_ON_SWITCH: the exit status of a reset

# First, before this process opens or logs anything: a session leader hands the firmware to a
# child that cannot acquire a controlling terminal (firmware/ports/unix.py says why).
unix.lead_no_terminal()

GSM_CHECK_MS = 500          # the simulated network changes on a test's command, not over minutes
TRACKER_KEYS = ("sos", "accept", "available", "enroute", "onscene", "returning", "oos")


class Level:
    def __init__(self, v=0):
        self.v = v

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = 1 if v else 0


class Battery:
    def __init__(self):
        self.mv = 4000

    def read_mv(self):
        return self.mv


class Clock:
    def time(self):
        return int(time.time())


class Watchdog:
    def __init__(self):
        self.feeds = 0
        self.last = time.ticks_ms()

    def feed(self):
        self.feeds += 1
        self.last = time.ticks_ms()


class SimNet(TcpNet):
    """Loopback TCP to the test's broker, plus the control channel served while the loop waits."""

    def __init__(self, board, control):
        TcpNet.__init__(self)
        self.board = board
        self.link_up = True
        host, port = control.split(":")
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(socket.getaddrinfo(host, int(port))[0][-1])
        self.server.listen(4)
        self.server.setblocking(False)
        self.clients = {}   # socket -> bytearray of what it sent so far
        self.poller = select.poll()
        self.poller.register(self.server, select.POLLIN)
        self.polled = None
        self.heap_every = int(os.getenv("SIAGA_HEAP_SAMPLE_MS") or "0")
        self.heap_next = time.ticks_ms()
        self.heap_peak = 0

    def up(self):
        return self.link_up

    def wait(self, ms, sock=None):
        # One poll object for the process (a new one per tick is garbage on every loop step).
        p = self.poller
        if sock is not self.polled:
            if self.polled is not None:
                try:
                    p.unregister(self.polled)
                except Exception:
                    pass
            if sock is not None:
                p.register(sock, select.POLLIN)
            self.polled = sock
        for obj, ev in p.poll(ms):
            if obj is self.server:
                self._accept()
            elif obj in self.clients:
                self._serve(obj, ev)
        if self.heap_every and time.ticks_diff(time.ticks_ms(), self.heap_next) >= 0:
            self.heap_next = time.ticks_add(time.ticks_ms(), self.heap_every)
            self.heap_sample()

    def heap_sample(self):
        gc.collect()
        used = gc.mem_alloc()
        if used > self.heap_peak:
            self.heap_peak = used
        return used

    def _accept(self):
        try:
            c, _ = self.server.accept()
        except OSError:
            return
        c.setblocking(False)
        if len(self.clients) >= 8:
            c.close()  # a runaway test must not exhaust the device's descriptors
            return
        self.clients[c] = bytearray()
        self.poller.register(c, select.POLLIN)

    def _serve(self, c, ev):
        try:
            data = c.recv(256)
        except OSError:
            data = b""
        if data:
            self.clients[c].extend(data)
        if b"\n" not in self.clients[c] and data and len(self.clients[c]) < 256:
            return
        line = bytes(self.clients.pop(c)).decode().strip()
        self.poller.unregister(c)
        try:
            if line:
                c.setblocking(True)
                c.send(json.dumps(self.board.control(line)).encode() + b"\n")
        except Exception as e:
            try:
                c.send(json.dumps({"error": repr(e)}).encode() + b"\n")
            except Exception:
                pass
        c.close()


class GsmSimNet(SimNet):
    """The sim board's network carried by the modem: on a simulated SIM800 (GsmNet) MQTT goes
    through AT+CIPSEND on its pty, on a SIM7600 (CmqttNet) through the modem's own AT+CMQTT client;
    the control channel (key presses from a test) is still served while the loop waits."""

    def __init__(self, board, control, data):
        SimNet.__init__(self, board, control)
        self.data = data
        self.modem = data.modem
        if hasattr(data, "Link"):
            self.Link = data.Link   # a SIM7600: the modem is the MQTT client, TLS included

    def up(self):
        return self.link_up and self.data.up()

    def open(self, host, port):
        return self.data.open(host, port)

    def writable(self, sock):
        return self.data.writable(sock)

    def secure(self, sock, host):
        return self.data.secure(sock, host)

    def rssi(self):
        return self.data.rssi()

    def wait(self, ms, sock=None):
        SimNet.wait(self, min(5, ms), None)
        self.data.wait(max(0, ms - 5), sock)


class PtyUart:
    """machine.UART's any/read/write on a pty (the GPS's or the modem's). read(n) returns what is
    there now (at most n bytes) or None and never blocks. The line needs no termios here: the
    pty's other end (simulators.gps, simulators.modem) set it raw; on a device the port's UART
    driver owns the line settings. A pty that goes away (simulator stopped) is reopened on a later
    read."""

    def __init__(self, path, writable=False):
        self.path = path
        self.mode = "r+b" if writable else "rb"
        self.f = None
        self.poll = None
        self.errors = 0

    def plug(self, path):
        self.close()
        self.path = path

    def close(self):
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass
        self.f = None
        self.poll = None

    def _open(self):
        if self.f is None and self.path:
            try:
                self.f = open(self.path, self.mode)
            except OSError:
                self.errors += 1
                return False
            self.poll = select.poll()
            self.poll.register(self.f, select.POLLIN)
        return self.f is not None

    def any(self):
        try:
            return 1 if self._open() and self.poll.poll(0) else 0
        except OSError:
            self.errors += 1
            self.close()
            return 0

    def read(self, n=256):
        if not self._open():
            return None
        out = b""
        try:
            # read(k) waits for all k bytes, so take single bytes while the poll says more are there
            while len(out) < n and self.poll.poll(0):
                b = self.f.read(1)
                if not b:
                    # Ready yet empty: the other end hung up (the simulator's pty closed). Let it
                    # go; a later read opens the path again, or the one a `gps` request plugs.
                    self.errors += 1
                    self.close()
                    break
                out += b
        except OSError:
            self.errors += 1
            self.close()
        return out or None

    def write(self, data):
        if not self._open():
            return 0
        try:
            return self.f.write(data)
        except OSError:
            self.errors += 1
            self.close()
            return 0


class SimBoard(Board):
    name = "sim"

    def __init__(self):
        flash = os.getenv("SIAGA_FLASH") or "flash"
        control = os.getenv("SIAGA_CONTROL") or "127.0.0.1:7112"
        names = (os.getenv("SIAGA_KEYS") or "sos").split(",")
        self.keys = {}
        for n in names:
            self.keys[n] = Level()
        self.tamper = None if os.getenv("SIAGA_TAMPER") == "0" else Level()
        self.leds = {"red": Level(), "green": Level()}
        self.buzzer = Level()
        self.battery = Battery()
        self.clock = Clock()
        self.flash = FlashDir(flash)
        self.watchdog = Watchdog()
        raw = provisioned(self.flash)
        self.modem = self._modem(raw)
        if raw.get("link") == "gsm" and self.modem is not None:
            from firmware.ports import gsm
            self.net = GsmSimNet(self, control, gsm.data_link(raw, self.modem, GSM_CHECK_MS))
        else:
            self.net = SimNet(self, control)
        self.pattern = None

    def _modem(self, raw):
        if not wants_modem(raw):
            return None
        path = os.getenv("SIAGA_MODEM")
        if not path:
            log("error", "modem_missing", why="config.json wants the modem and SIAGA_MODEM names no pty",
                effect="no GSM link, no SOS by SMS")
            return None
        from firmware.ports import gsm
        return gsm.open_modem(PtyUart(path, writable=True), self.watchdog)

    def on_pattern(self, name):
        self.pattern = name

    def close(self):
        """Frees the control port (and modem pty) for the next release's board (ota_boot).
        SIAGA_RESET_ON_SWITCH=1: end the process instead (exit status RESET_EXIT), as a device
        resets into the other release with a clean heap; whoever runs the binary starts it again."""
        for c in list(self.net.clients):
            c.close()
        self.net.server.close()
        if os.getenv("SIAGA_RESET_ON_SWITCH") == "1":
            if self.net.heap_every:
                log("info", "heap_peak", bytes=self.net.heap_sample() and self.net.heap_peak)
            raise SystemExit(RESET_EXIT)

    def control(self, line):
        words = line.split()
        op = words[0]
        arg = words[1] if len(words) > 1 else ""
        if op in ("press", "release"):
            if arg not in self.keys:
                return {"error": "no key %s" % arg}
            self.keys[arg].value(op == "press")
        elif op == "tamper" and self.tamper is not None:
            self.tamper.value(arg == "1")
        elif op == "batt":
            self.battery.mv = int(arg)
        elif op == "net":
            self.net.link_up = arg == "1"
        elif op == "heap_reset":
            self.net.heap_peak = 0
        elif op != "state":
            return {"error": "unknown request %s" % op[:16]}
        return self.state()

    def state(self):
        app = self.app
        link = app.link if app is not None else None
        return {
            "feedback": self.pattern,
            "shown": list(app.fb.shown) if app is not None else [],
            "red": self.leds["red"].v, "green": self.leds["green"].v, "buzzer": self.buzzer.v,
            "link": link.state if link is not None else "none",
            "boot": app.boot if app is not None else 0,
            "pending": len(app.outbox) if app is not None and app.outbox is not None else 0,
            "stats": app.stats if app is not None else {},
            "press_to_publish_ms": list(app.latencies) if app is not None else [],
            "feeds": self.watchdog.feeds,
            "since_feed_ms": time.ticks_diff(time.ticks_ms(), self.watchdog.last),
            "heap": self.net.heap_sample(), "heap_peak": self.net.heap_peak,
        }


class TrackerSimBoard(SimBoard, TrackerBoard):
    """SimBoard plus what a tracker has: a GPS UART on a pty, the crew keys, the ignition, one
    LED and a buzzer (firmware/app/tracker.py lists what it reads)."""

    def __init__(self):
        SimBoard.__init__(self)
        names = os.getenv("SIAGA_KEYS")
        self.keys = {}
        for n in (names.split(",") if names else TRACKER_KEYS):
            self.keys[n] = Level()
        self.tamper = None
        self.leds = {"led": Level()}
        self.ignition = Level(1 if os.getenv("SIAGA_IGNITION") == "1" else 0)
        self.gps = PtyUart(os.getenv("SIAGA_GPS") or "")

    def control(self, line):
        words = line.split()
        op = words[0] if words else ""
        arg = words[1] if len(words) > 1 else ""
        if op == "ign":
            self.ignition.value(arg == "1")
            return self.state()
        if op == "gps":
            self.gps.plug("" if arg == "-" else arg)
            return self.state()
        return SimBoard.control(self, line)

    def state(self):
        app = self.app
        st = app.state() if app is not None else {}
        st["feeds"] = self.watchdog.feeds
        st["gps_errors"] = self.gps.errors
        st["heap"] = self.net.heap_sample()
        return st


def flash():
    return FlashDir(os.getenv("SIAGA_FLASH") or "flash")


def board(app="button"):
    return TrackerSimBoard() if app == "tracker" else SimBoard()
