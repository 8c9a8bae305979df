# Raspberry Pi Pico W port. Pins come from firmware/boards/picow_button.py (generated from
# hardware/schematics/picow_button); DEFAULT_PINS is the documented fallback.
import machine
from firmware.ports.mcu import McuBoard, flash  # noqa: F401 (flash: firmware/main.py)

VREF_UV = 3300000   # the Pico's ADC reference is the 3V3 rail


class DefaultPins:
    PINS = {"sos": 16, "tamper": 17, "led_red": 18, "led_green": 19, "buzzer": 22, "battery_adc": 26}
    KEYS = {"sos"}
    ACTIVE_LOW = {"sos"}
    PULL_UP = {"sos", "tamper"}
    PULL_DOWN = set()
    ADC = {"battery_adc": {"gpio": 26, "atten_db": 0, "r_top": 100000, "r_bottom": 100000}}


def _read_uv_for(spec):
    adc = machine.ADC(spec["gpio"])
    return lambda: adc.read_u16() * VREF_UV // 65535


def board(app="button"):
    if app != "button":
        raise ValueError("the rp2 port has a button board only, not a %s" % app)
    try:
        from firmware.boards import picow_button as pins
    except ImportError:
        pins = DefaultPins
    return McuBoard("rp2", pins, _read_uv_for)
