# ESP32 port (ESP32-WROOM-32E button board). Pins come from firmware/boards/esp32_button.py, which
# hardware/schematics/boardgen.py generates from the board's pin map; DEFAULT_PINS is the fallback
# documented in docs/firmware.md for a flash image built without the boards package.
import machine
from firmware.ports.mcu import McuBoard


class DefaultPins:
    PINS = {"sos": 27, "tamper": 35, "led_red": 23, "led_green": 22, "buzzer": 25, "battery_adc": 34}
    KEYS = {"sos"}
    ACTIVE_LOW = {"sos"}
    PULL_UP = {"sos"}
    PULL_DOWN = set()
    ADC = {"battery_adc": {"gpio": 34, "atten_db": 11, "r_top": 100000, "r_bottom": 100000}}


def _read_uv_for(spec):
    adc = machine.ADC(machine.Pin(spec["gpio"]))
    adc.atten(machine.ADC.ATTN_11DB)
    return adc.read_uv  # factory-calibrated microvolts at the pin


def board():
    try:
        from firmware.boards import esp32_button as pins
    except ImportError:
        pins = DefaultPins
    return McuBoard("esp32", pins, _read_uv_for)
