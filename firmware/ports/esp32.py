# ESP32 port (ESP32-WROOM-32E button and tracker boards). Pins come from
# firmware/boards/esp32_button.py or esp32_tracker.py, which hardware/schematics/boardgen.py
# generates from the boards' pin maps; DefaultPins is the button's fallback documented in
# docs/firmware.md for a flash image built without the boards package (a tracker needs its file).
import machine
from firmware.ports.mcu import McuBoard, flash  # noqa: F401 (flash: firmware/main.py)


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


def board(app="button"):
    if app == "tracker":
        from firmware.boards import esp32_tracker as pins
        from firmware.ports.mcu_tracker import McuTrackerBoard
        return McuTrackerBoard("esp32", pins, _read_uv_for)
    try:
        from firmware.boards import esp32_button as pins
    except ImportError:
        pins = DefaultPins
    return McuBoard("esp32", pins, _read_uv_for)
