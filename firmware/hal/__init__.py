# Hardware boundary: the board interface. A port (firmware.ports.<esp32|rp2|rpi|sim>) builds one
# Board (board(app)) and the application (firmware.app) receives it and touches hardware only
# through it. A bare annotation is a part every port must provide (tests/firmware/
# test_board_conformance.py checks each port against this file); an assignment is an optional
# part's default. log() is the console every part and the app write to; flash.py and tcp.py beside
# this file are parts the ports share. Only firmware/ports/*.py import machine, network or termios.
import json
import time

CONFIG_FILE = "config.json"
_t0 = None


def log(level, event, **kv):
    """One line per event, "siaga <level> <event> t=<ms since the first line> key=value ...", on the
    console (the UART on a device, the log file in the simulator). Reasons are words a technician
    can act on. The clock starts at the first line, not at import: the fleet server imports this
    package on CPython (provisioning checks config.json with the firmware's own parser)."""
    global _t0
    now = time.ticks_ms()
    if _t0 is None:
        _t0 = now
    parts = ["siaga", level, event, "t=%d" % time.ticks_diff(now, _t0)]
    for k in kv:
        v = kv[k]
        if type(v) is str and (" " in v or not v):
            v = '"' + v.replace('"', "'") + '"'
        parts.append("%s=%s" % (k, v))
    print(" ".join(parts))


class Reboot(BaseException):
    """Raised by reset() where a process cannot reset the machine (the sim, the Pi's unix process):
    the restart loop (firmware.main.run) starts a new boot in the same process. No Exception, so
    that no handler guarding against a bug (`except Exception`) stops a commanded reboot."""


class Board:
    name: str          # port name, logged at boot
    keys: dict         # {key name: input}; input.value() -> 1 while pressed (raw, not debounced)
    leds: dict         # {"red": out, "green": out}; out.value(0|1)
    net: object        # network link: up(), open(host, port), writable(sock), secure(sock, host),
    #                    wait(ms, sock) (sleep until sock readable or ms elapsed); rssi() -> dBm
    #                    or None where the link can tell
    clock: object      # time() -> Unix seconds (int; < 2020 means never synced)
    flash: object      # firmware.hal.flash.FlashDir over the device's file system
    watchdog: object   # feed()
    tamper = None      # input: value() -> 1 while the enclosure is open
    buzzer = None      # out
    battery = None     # read_mv() -> millivolts (int) or None
    modem = None       # protocols.at.modem.Modem, opened by the port when config.json wants it
    #                    ("link": "gsm" makes net a GsmNet over it; SOS by SMS sends through it)
    app = None         # the app running on the board (the sim's control channel reports it)

    def reset(self):
        """Reboot the device; never returns on hardware. A process restarts the app instead."""
        raise Reboot()

    def on_pattern(self, name):
        """Told the feedback pattern now shown: hardware ignores it, the sim reports it."""


def provisioned(flash):
    """config.json as a plain dict, for what is read before an app runs (firmware/main.py: the
    app; the ports: link, apn, wifi_*). {} when it is missing or bad: the app's parser reports why,
    and the port must still come up to show it."""
    try:
        raw = json.loads(flash.read(CONFIG_FILE) or b"{}")
    except Exception:
        return {}
    return raw if type(raw) is dict else {}


def wants_modem(raw):
    """Whether the port must open the modem: its data carries MQTT, or SOS goes by SMS."""
    return raw.get("link") == "gsm" or raw.get("sms_after_s") is not None
