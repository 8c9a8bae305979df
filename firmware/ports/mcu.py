# Shared hardware for the microcontroller ports (esp32, rp2): pins from the generated board file
# (firmware/boards/<board>.py, built from hardware/schematics), Wi-Fi, ADC, watchdog, RTC.
# esp32.py and rp2.py only say which board file and which ADC reading their chip offers.
import time
import machine
import network
from firmware.hal import Board, log, provisioned, wants_modem
from firmware.hal.flash import FlashDir
from firmware.hal.tcp import TcpNet

FLASH_ROOT = "/data"

UNIX_2000 = 946684800      # some ports count time from 2000-01-01; the wire carries Unix seconds
WIFI_RETRY_MS = 15000
WDT_TIMEOUT_MS = 8000      # > the longest blocking call we make (TLS handshake steps, flash write)


class ActiveInput:
    """A key or switch as 1 = asserted, whatever the wiring (ACTIVE_LOW in the board file)."""

    def __init__(self, gpio, active_low, pull_up, pull_down):
        pull = machine.Pin.PULL_UP if pull_up else (machine.Pin.PULL_DOWN if pull_down else None)
        self.pin = machine.Pin(gpio, machine.Pin.IN, pull) if pull is not None else machine.Pin(gpio, machine.Pin.IN)
        self.invert = active_low

    def value(self):
        v = self.pin.value()
        return 1 - v if self.invert else v


class ActiveOutput:
    def __init__(self, gpio, active_low):
        self.pin = machine.Pin(gpio, machine.Pin.OUT)
        self.invert = active_low
        self.value(0)

    def value(self, v=None):
        if v is None:
            v = self.pin.value()
            return 1 - v if self.invert else v
        v = 1 if v else 0
        self.pin.value(1 - v if self.invert else v)


class Battery:
    def __init__(self, spec, read_uv):
        self.read_uv = read_uv
        self.scale = (spec["r_top"] + spec["r_bottom"]) / spec["r_bottom"]

    def read_mv(self):
        try:
            return int(self.read_uv() * self.scale / 1000)
        except Exception:
            return None


class Clock:
    def __init__(self):
        self.offset = UNIX_2000 if time.gmtime(0)[0] == 2000 else 0

    def time(self):
        return int(time.time()) + self.offset


class WlanNet(TcpNet):
    """Station Wi-Fi. wlan.connect() is asynchronous on both chips, so up() never blocks; it
    retries association every WIFI_RETRY_MS while the link is down."""

    def __init__(self, ssid, password):
        TcpNet.__init__(self)
        self.ssid = ssid
        self.password = password
        self.wlan = network.WLAN(network.STA_IF)
        self.wlan.active(True)
        self.next_try = time.ticks_ms()
        self.synced = False

    def up(self):
        if self.wlan.isconnected():
            if not self.synced:
                self._sync_clock()
            return True
        if self.ssid and time.ticks_diff(time.ticks_ms(), self.next_try) >= 0:
            self.next_try = time.ticks_add(time.ticks_ms(), WIFI_RETRY_MS)
            try:
                self.wlan.connect(self.ssid, self.password or "")
            except OSError as e:
                log("warn", "wifi_connect_failed", error=repr(e)[:60])
        return False

    def _sync_clock(self):
        # One SNTP exchange (ntptime's own 1 s timeout) at first association: alarms need Unix
        # time. It happens once per boot, before the first alarm can go out anyway.
        self.synced = True
        try:
            import ntptime
            ntptime.settime()
            log("info", "clock_synced")
        except Exception as e:
            log("warn", "clock_sync_failed", error=repr(e)[:60], effect="alarms carry the earliest valid time")

    def rssi(self):
        try:
            r = self.wlan.status("rssi")
            return r if -150 <= r <= 0 else None
        except Exception:
            return None


class Watchdog:
    def __init__(self):
        self.wdt = machine.WDT(timeout=WDT_TIMEOUT_MS)

    def feed(self):
        self.wdt.feed()


def flash():
    return FlashDir(FLASH_ROOT)


class McuBoard(Board):
    def __init__(self, name, pins, read_uv_for, flash_root=FLASH_ROOT):
        self.name = name
        self.flash = FlashDir(flash_root)
        raw = provisioned(self.flash)
        low = getattr(pins, "ACTIVE_LOW", set())
        keys = getattr(pins, "KEYS", set())
        up = getattr(pins, "PULL_UP", set())
        down = getattr(pins, "PULL_DOWN", set())
        p = pins.PINS
        self.keys = {}
        for fn in keys:
            self.keys[fn] = ActiveInput(p[fn], fn in low, fn in up, fn in down)
        self.tamper = ActiveInput(p["tamper"], "tamper" in low, "tamper" in up, "tamper" in down) if "tamper" in p else None
        self.leds = {}
        for colour in ("red", "green"):
            fn = "led_" + colour
            if fn in p:
                self.leds[colour] = ActiveOutput(p[fn], fn in low)
        self.buzzer = ActiveOutput(p["buzzer"], "buzzer" in low) if "buzzer" in p else None
        adc = getattr(pins, "ADC", {}).get("battery_adc")
        self.battery = Battery(adc, read_uv_for(adc)) if adc else None
        self.clock = Clock()
        self.watchdog = Watchdog()   # before the modem: its init may take seconds (it feeds this)
        self.net = None
        if wants_modem(raw):
            # Only then: a Wi-Fi button keeps the modem's code off its heap.
            from firmware.ports import gsm
            self.modem = gsm.mcu_modem(self.name, pins, self.watchdog)
            if raw.get("link") == "gsm" and self.modem is not None:
                self.net = gsm.data_link(raw, self.modem)
        if self.net is None:
            self.net = WlanNet(raw.get("wifi_ssid"), raw.get("wifi_password"))

    def reset(self):
        machine.reset()
