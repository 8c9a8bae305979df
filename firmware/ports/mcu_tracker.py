# The vehicle tracker's board on a microcontroller port (esp32): McuBoard plus what a tracker has.
# Its own module, imported only when the tracker runs: a button's flash does not carry it.
import machine
from firmware.hal.tracker import TrackerBoard
from firmware.ports.mcu import FLASH_ROOT, ActiveInput, ActiveOutput, Battery, McuBoard


class McuTrackerBoard(McuBoard, TrackerBoard):
    """A vehicle tracker board (firmware/boards/esp32_tracker.py): the crew keys (key_<name> on
    the board, <name> to the app), the ignition sense, one LED, the GPS on its own UART."""

    def __init__(self, name, pins, read_uv_for, flash_root=FLASH_ROOT):
        McuBoard.__init__(self, name, pins, read_uv_for, flash_root)
        keys = {}
        for fn in self.keys:
            keys[fn[4:] if fn.startswith("key_") else fn] = self.keys[fn]
        self.keys = keys
        p = pins.PINS
        low = getattr(pins, "ACTIVE_LOW", set())
        self.leds = {"led": ActiveOutput(p["led"], "led" in low)} if "led" in p else {}
        self.ignition = ActiveInput(p["ignition"], "ignition" in low, False, False) if "ignition" in p else None
        adc = getattr(pins, "ADC", {}).get("supply_adc")
        self.battery = Battery(adc, read_uv_for(adc)) if adc else None
        gps = getattr(pins, "UARTS", {}).get("gps")
        # machine.UART.read(n) returns what is buffered now or None: what the tracker expects.
        self.gps = machine.UART(gps["id"], baudrate=gps["baud"], tx=gps["tx"], rx=gps["rx"], rxbuf=2048) \
            if gps else None
