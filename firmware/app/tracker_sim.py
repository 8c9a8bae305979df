# The tracker on the simulation port: firmware.ports.sim's board (flash directory, loopback
# network, control channel) plus what a tracker has — a GPS UART on a pty (simulators.gps),
# the crew keys, the ignition, one LED and a buzzer. Run it under the MicroPython binary:
#     SIAGA_FLASH=... SIAGA_CONTROL=127.0.0.1:<port> SIAGA_GPS=/dev/pts/N \
#         micropython -c "from firmware.app.tracker_sim import main; main()"
# Control requests, beyond the sim port's (press/release <key>, net 0|1, state):
#     ign 0|1        the ignition
#     gps <path>     plug the GPS UART into another pty ("gps -" unplugs it)
#
# This belongs with the ports (firmware/ports/sim.py); it lives beside the tracker until the
# port's owner takes it in. It needs no termios: the pty's writer (simulators.gps.GpsPty) sets
# the line raw, and on a device the port's UART driver owns the line settings.
import os
import select
from firmware.ports.sim import SimBoard, Level
from firmware.app import tracker

KEYS = ("sos", "accept", "available", "enroute", "onscene", "returning", "oos")


class PtyUart:
    """machine.UART's read(n) on a pty: returns what is there now (at most n bytes) or None."""

    def __init__(self, path):
        self.path = path
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

    def read(self, n=256):
        if not self.path:
            return None
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except OSError:
                self.errors += 1
                return None
            self.poll = select.poll()
            self.poll.register(self.f, select.POLLIN)
        out = b""
        try:
            # read(k) waits for all k bytes, so take single bytes while the poll says more are there
            while len(out) < n and self.poll.poll(0):
                b = self.f.read(1)
                if not b:
                    break
                out += b
        except OSError:
            self.errors += 1     # the pty went away (simulator stopped): reopen on a later read
            self.close()
        return out or None


class TrackerSimBoard(SimBoard):
    def __init__(self):
        SimBoard.__init__(self)
        names = os.getenv("SIAGA_KEYS")
        self.keys = {}
        for n in (names.split(",") if names else KEYS):
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


def board():
    return TrackerSimBoard()


def main():
    tracker.run(board())
